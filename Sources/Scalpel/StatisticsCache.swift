import Foundation
import ScalpelCore
import ScalpelModels

/// A folder of collected statistics, each file named by the SHA-256 of everything it depends on:
/// the checkpoint's files, the exact token windows and predictions (so the data files, tokenizer,
/// context and token range), the pruned neurons with their replacement values, and whether pruned
/// neurons were compacted out. A hit returns exactly the sums a new collection would give.
public struct StatisticsCache: Sendable {
    public let folder: String
    /// Digest of the checkpoint (all its files), computed once per run.
    public let checkpoint: String
    /// What the model's matrices are held in: BF16 statistics differ from Float32 ones.
    public let dtype: DType

    public init(folder: String, checkpoint: String, dtype: DType = .f32) throws {
        self.folder = folder
        self.checkpoint = checkpoint
        self.dtype = dtype
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw ScalpelError.invalidFile(path: folder, reason: "cannot create the statistics cache folder")
        }
        // temporary files of writers that were killed
        AtomicFile.removeStale(in: folder)
    }

    /// The cache key of statistics of `selection` on the checkpoint with `mask` applied.
    public func key(_ selection: WindowSelection, mask: Mask, compacted: Bool) -> String {
        var h = SHA256()
        func add(_ s: String) { Array(s.utf8).withUnsafeBytes { h.update($0) } }
        func add(_ values: [Int]) { values.map { Int64($0) }.withUnsafeBytes { h.update($0) } }
        add("scalpel-statistics-v1|\(checkpoint)|compacted=\(compacted)|windows=\(selection.windows.count)|")
        if dtype != .f32 { add("dtype=\(dtype.rawValue)|") }  // Float32 keys stay those written before BF16 existed
        for w in selection.windows {
            add([w.tokens.count, w.predictions.lowerBound, w.predictions.upperBound])
            add(w.tokens)
            if let m = w.maskedPositions { add("masked"); add(m) }
        }
        for kind in NeuronKind.allCases {
            add("|\(kind.rawValue)|")
            let steps = mask.steps(kind), offsets = mask.offsets(kind)
            let pruned = steps.indices.filter { steps[$0] != 0 }
            add(pruned)
            pruned.map { offsets[$0] }.withUnsafeBytes { h.update($0) }
        }
        return h.finalize()
    }

    private func path(_ key: String) -> String { folder + "/" + key + ".safetensors" }

    /// What a lookup found.
    public enum Lookup {
        case hit(Statistics)
        case miss
        /// An entry exists but is not trusted (why): it is recollected and overwritten.
        case rejected(String)
    }

    /// The stored statistics under `key`. An entry is trusted only when its metadata names this
    /// key and checkpoint, the SHA-256 of its tensor bytes matches the one stored with it, its
    /// shapes fit the model and its sums are finite and consistent (`Statistics.validate`).
    public func load(_ key: String, shape: ModelShape) -> Lookup {
        let file = path(key)
        guard FileManager.default.fileExists(atPath: file) else { return .miss }
        do {
            let st = try SafetensorsFile(path: file)
            guard st.metadata["key"] == key, st.metadata["checkpoint"] == checkpoint else { return .rejected("stored under another key") }
            guard st.metadata["content_sha256"] == SHA256.hash(st.dataSection) else {
                return .rejected("content does not match its digest")
            }
            let s = try Statistics(file: st)
            guard s.ff.shape == [shape.layers, shape.ffWidth], s.attn.shape == [shape.layers, shape.heads, shape.headWidth] else {
                return .rejected("shapes do not fit the model")
            }
            try s.validate(file)
            return .hit(s)
        } catch {
            return .rejected("\(error)")
        }
    }

    /// Stores `statistics` under `key` (atomically), with the key, the checkpoint and the SHA-256 of the tensor bytes.
    public func store(_ statistics: Statistics, key: String) throws {
        let records = statistics.records()
        let body = SafetensorsWriter.encode(records)
        let start = 8 + Int(body.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let content = body.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        try SafetensorsWriter.write(
            records,
            metadata: [
                "format": "scalpel-statistics", "checkpoint": checkpoint, "key": key,
                "content_sha256": content,
            ], to: path(key))
    }

    /// SHA-256 over a checkpoint: each of its files (sorted by name) with its name and digest.
    /// A folder contributes its `.json`, `.safetensors`, `.gguf`, `.txt` and `.model` files.
    /// `known`: digests already computed, by file name, which are not computed again.
    public static func checkpointDigest(_ path: String, known: [String: String] = [:]) throws -> (digest: String, files: [String: String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ScalpelError.invalidFile(path: path, reason: "does not exist")
        }
        var files: [String: String] = [:]
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names.sorted() where [".json", ".safetensors", ".gguf", ".txt", ".model"].contains(where: { name.hasSuffix($0) }) {
                files[name] = try known[name] ?? SHA256.file(path + "/" + name)
            }
        } else {
            files[(path as NSString).lastPathComponent] = try SHA256.file(path)
        }
        var h = SHA256()
        for (name, digest) in files.sorted(by: { $0.key < $1.key }) { Array("\(name)=\(digest)\n".utf8).withUnsafeBytes { h.update($0) } }
        return (h.finalize(), files)
    }
}
