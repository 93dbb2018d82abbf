import Foundation

/// Where an architecture reads its tensors from, by Hugging Face name: a checkpoint folder's
/// safetensors, or a GGUF file mapped to the same names.
public protocol TensorSource: AnyObject {
    /// All tensor names, sorted.
    var names: [String] { get }
    /// Elements in all tensors together (what the model will hold, before any conversion).
    var elementCount: Int { get }
    /// BF16 when every floating-point tensor is stored as BF16, else Float32 (F32, F16, quantized).
    var storedDType: DType { get }
    func contains(_ name: String) -> Bool
    /// A Float32 tensor, checked against `shape` when given.
    func tensor(_ name: String, shape: [Int]?) throws -> Tensor
    /// A tensor held in `dtype`, checked against `shape` when given: borrowed from the file when
    /// it is stored so, else converted (Float32 → BF16 rounds to nearest even).
    func tensor(_ name: String, shape: [Int]?, dtype: DType) throws -> Tensor
    /// Gives back the memory behind tensor `name`'s stored bytes, once a copy of it is all that is
    /// used (the parts of a fused matrix). A no-op where tensors are not mapped from a file.
    func release(_ name: String)
}

extension TensorSource {
    public func tensor(_ name: String) throws -> Tensor { try tensor(name, shape: nil) }

    public func tensor(_ name: String, shape: [Int]?, dtype: DType) throws -> Tensor {
        try tensor(name, shape: shape).converted(to: dtype)
    }

    public func release(_ name: String) {}

    public var storedDType: DType { .f32 }
}

/// The tensors of a checkpoint folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json`. Tensors are looked up by name across shards.
public final class TensorStore: TensorSource, @unchecked Sendable {
    public let folder: String
    private var files: [SafetensorsFile] = []
    private var location: [String: Int] = [:]

    public init(folder: String) throws {
        self.folder = folder
        let fm = FileManager.default
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        let index = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single) {
            try add(SafetensorsFile(path: single))
        } else if fm.fileExists(atPath: index) {
            guard let map = try InputFile.jsonObject(index, limit: 1 << 28)["weight_map"] as? [String: String] else {
                throw ScalpelError.invalidFile(
                    path: index, reason: "expected a JSON object with a \"weight_map\" of tensor name to shard file")
            }
            for shard in Set(map.values).sorted() {
                // shards are files of the checkpoint folder itself: no paths out of it
                guard !shard.isEmpty, !shard.contains("/"), !shard.hasPrefix(".") else {
                    throw ScalpelError.invalidFile(path: index, reason: "shard '\(shard)' is not a file name in the checkpoint folder")
                }
                let shardPath = (folder as NSString).appendingPathComponent(shard)
                guard fm.fileExists(atPath: shardPath) else {
                    throw ScalpelError.invalidFile(path: index, reason: "lists shard '\(shard)', which is not in the folder")
                }
                try add(SafetensorsFile(path: shardPath))
            }
            for (name, shard) in map where location[name] == nil {
                throw ScalpelError.invalidFile(path: index, reason: "maps tensor '\(name)' to '\(shard)', which does not contain it")
            }
        } else if fm.fileExists(atPath: (folder as NSString).appendingPathComponent("pytorch_model.bin")) {
            throw ScalpelError.invalidFile(
                path: folder,
                reason:
                    "has only pytorch_model.bin (a pickle); Scalpel reads safetensors: convert with transformers' save_pretrained(..., safe_serialization=True)"
            )
        } else {
            throw ScalpelError.invalidFile(
                path: folder, reason: "no model.safetensors or model.safetensors.index.json in the checkpoint folder")
        }
    }

    private func add(_ file: SafetensorsFile) throws {
        for name in file.tensors.keys {
            if let other = location[name] {
                throw ScalpelError.invalidFile(path: file.path, reason: "tensor '\(name)' is also in \(files[other].path)")
            }
            location[name] = files.count
        }
        files.append(file)
    }

    /// All tensor names, sorted.
    public var names: [String] { location.keys.sorted() }

    public var elementCount: Int { files.reduce(0) { $0 + $1.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) } } }

    public var storedDType: DType {
        let floating: Set<StoredType> = [.f32, .f16, .bf16, .f64]
        let types = files.flatMap { $0.tensors.values.map(\.dtype) }.filter { floating.contains($0) }
        return !types.isEmpty && types.allSatisfy { $0 == .bf16 } ? .bf16 : .f32
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// A Float32 tensor, checked against `shape` when given.
    public func tensor(_ name: String, shape expected: [Int]?) throws -> Tensor {
        guard let i = location[name], let info = files[i].tensors[name] else {
            throw ScalpelError.missingTensor(path: files.count == 1 ? files[0].path : folder, name: name)
        }
        let file = files[i]
        if let expected, info.shape != expected {
            throw ScalpelError.wrongShape(path: file.path, name: name, expected: expected, found: info.shape)
        }
        return try file.floatTensor(name)
    }

    public func tensor(_ name: String, shape expected: [Int]?, dtype: DType) throws -> Tensor {
        if dtype == .bf16, let i = location[name], let t = files[i].borrowedBF16(name) {
            if let expected, t.shape != expected {
                throw ScalpelError.wrongShape(path: files[i].path, name: name, expected: expected, found: t.shape)
            }
            return t
        }
        let stored = try tensor(name, shape: expected)
        let converted = stored.converted(to: dtype)
        // the Float32 bytes of a converted tensor are not needed again: give their pages back
        if converted !== stored { release(name) }
        return converted
    }

    public func release(_ name: String) {
        if let i = location[name] { files[i].release(name) }
    }
}
