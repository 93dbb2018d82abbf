import Foundation
import Testing
import TestSupport
@testable import ScalpelCore
@testable import Scalpel

/// Faults a user's machine can produce, each class of docs/reliability.md kept fixed: corrupt
/// files, kills at any moment, concurrent runs, a full disk, a tampered cache, changed inputs.
/// Every failure must be exit status 1 with one line on stderr naming the file — never a crash
/// (a signal), a hang (the watchdog), a silent wrong answer or a modified input.
@Suite("Fault injection", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct FaultInjectionTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    static let model = TestSupport.fixture("models/opt-prenorm")
    static let forget = TestSupport.fixture("data/code/docs.jsonl")
    static let retain = TestSupport.fixture("data/prose")

    func pruneArguments(model: String = Self.model, forget: String = Self.forget, out: String, extra: [String] = []) -> [String] {
        [
            "prune", "--model", model, "--forget", forget, "--retain", Self.retain, "--collect-tokens", "100", "--eval-tokens", "80",
            "--context", "32", "--steps", "6", "--ff-frac", "0.03", "--attn-frac", "0.02", "--out", out,
        ] + extra
    }

    func run(_ arguments: [String], timeout: TimeInterval = 120) throws -> TestSupport.Output {
        try TestSupport.run(exe, arguments, timeout: timeout)
    }

    /// A failure as the user must see it: status 1, no signal, no hang, one line naming `fragment`.
    func expectCleanError(
        _ r: TestSupport.Output, _ fragment: String, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!r.crashed && !r.timedOut, "crashed or hung: \(comment) \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.status == 1, "status \(r.status): \(comment) \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].hasPrefix("error: "), "not one error line: \(comment) \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(fragment), "\(comment): expected '\(fragment)' in \(r.stderr)", sourceLocation: sourceLocation)
    }

    func copyModel(_ name: String = "opt-prenorm") throws -> String {
        let dir = TestSupport.temporaryFolder() + "/" + name
        try FileManager.default.copyItem(atPath: TestSupport.fixture("models/" + name), toPath: dir)
        return dir
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func evalArguments(_ model: String, data: String = Self.forget) -> [String] {
        ["eval", "--model", model, "--data", data, "--tokens", "20", "--context", "16"]
    }

    // MARK: corrupt checkpoints

    /// A safetensors file rebuilt with an edited header (data section unchanged).
    func rewriteHeader(_ path: String, _ edit: (String) -> String) throws {
        let d = try bytes(path)
        let n = Int(d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = edit(String(decoding: d[8..<(8 + n)], as: UTF8.self))
        var h = Data(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var length = UInt64(h.count).littleEndian
        var out = Data(bytes: &length, count: 8)
        out.append(h); out.append(d[(8 + n)...])
        try out.write(to: URL(fileURLWithPath: path))
    }

    @Test("corrupt safetensors: one-line errors, no crash")
    func corruptSafetensors() throws {
        let original = try bytes(Self.model + "/model.safetensors")
        let header = try SafetensorsFile(path: Self.model + "/model.safetensors")
        let names = header.tensors.keys.sorted()
        let first = header.tensors[names[0]]!, second = header.tensors[names[1]]!
        func entry(_ t: TensorInfo) -> String {
            "\"\(t.name)\":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":\(t.shape),\"data_offsets\":[\(t.start),\(t.end)]}"
                .replacingOccurrences(of: " ", with: "")
        }
        var cases: [(String, (String) throws -> Void, String)] = [
            ("empty", { try Data().write(to: URL(fileURLWithPath: $0)) }, "too short"),
            ("7 bytes", { try original.prefix(7).write(to: URL(fileURLWithPath: $0)) }, "too short"),
            ("half", { try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: $0)) }, "model.safetensors"),
            ("one byte short", { try original.dropLast().write(to: URL(fileURLWithPath: $0)) }, "model.safetensors"),
            ("trailing bytes", { try (original + Data([1, 2, 3])).write(to: URL(fileURLWithPath: $0)) }, "trailing"),
            (
                "header length 2^63",
                { p in
                    var d = original; d.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x80]); try d.write(to: URL(fileURLWithPath: p))
                }, "header length"
            ),
            (
                "header length 2^64-1",
                { p in
                    var d = original; d.replaceSubrange(0..<8, with: [UInt8](repeating: 0xFF, count: 8));
                    try d.write(to: URL(fileURLWithPath: p))
                }, "header length"
            ),
            (
                "shape 2^32 x 2^32",
                {
                    try self.rewriteHeader($0) {
                        $0.replacingOccurrences(
                            of: "\"shape\":\(first.shape)".replacingOccurrences(of: " ", with: ""),
                            with: "\"shape\":[4294967296,4294967296]")
                    }
                }, "impossible shape"
            ),
            (
                "negative shape",
                {
                    try self.rewriteHeader($0) {
                        $0.replacingOccurrences(
                            of: "\"shape\":\(first.shape)".replacingOccurrences(of: " ", with: ""), with: "\"shape\":[-1]")
                    }
                }, "non-negative"
            ),
            ("duplicate key", { try self.rewriteHeader($0) { "{" + entry(first) + "," + $0.dropFirst() } }, "listed twice"),
            (
                "overlap",
                {
                    try self.rewriteHeader($0) {
                        $0.replacingOccurrences(
                            of: entry(second),
                            with: entry(
                                TensorInfo(
                                    name: second.name, dtype: second.dtype, shape: second.shape, start: first.start,
                                    end: first.start + (second.end - second.start))))
                    }
                }, "overlap"
            ),
            (
                "dtype relabelled",
                {
                    try self.rewriteHeader($0) {
                        $0.replacingOccurrences(of: entry(first), with: entry(first).replacingOccurrences(of: "\"F32\"", with: "\"F16\""))
                    }
                }, "needs"
            ),
            ("not JSON", { try self.rewriteHeader($0) { _ in "{\"a\":" } }, "not a JSON object"),
        ]
        cases.append(
            (
                "a folder",
                { p in
                    try FileManager.default.removeItem(atPath: p);
                    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false)
                }, "folder"
            ))
        for (label, corrupt, fragment) in cases {
            let dir = try copyModel()
            try corrupt(dir + "/model.safetensors")
            expectCleanError(try run(evalArguments(dir)), fragment, label)
        }
        #expect(try bytes(Self.model + "/model.safetensors") == original)
    }

    @Test("corrupt config.json fields: one-line errors naming the field, no crash")
    func corruptConfig() throws {
        let values: [(String, Any, String)] = [
            ("num_hidden_layers", -1, "num_hidden_layers"), ("num_hidden_layers", 0, "num_hidden_layers"),
            ("num_hidden_layers", 1 << 62, "num_hidden_layers"), ("num_hidden_layers", 1e30, "num_hidden_layers"),
            ("num_hidden_layers", "2", "num_hidden_layers"), ("hidden_size", 0, "hidden_size"),
            ("num_attention_heads", 0, "num_attention_heads"), ("num_attention_heads", 3, "num_attention_heads"),
            ("vocab_size", 1 << 62, "vocab_size"), ("vocab_size", 5, "embed_tokens"), ("ffn_dim", -7, "ffn_dim"),
            ("max_position_embeddings", -1, "max_position_embeddings"), ("model_type", "gpt5", "model_type"),
            ("word_embed_proj_dim", 1 << 40, "word_embed_proj_dim"),
        ]
        for (key, value, fragment) in values {
            let dir = try copyModel()
            var json = try JSONSerialization.jsonObject(with: bytes(dir + "/config.json")) as! [String: Any]
            json[key] = value
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
            expectCleanError(try run(evalArguments(dir)), fragment, "\(key) = \(value)")
        }
        for text in ["", "[1, 2]", "{\"model_type\": ", "null"] {
            let dir = try copyModel()
            try text.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            expectCleanError(try run(evalArguments(dir)), "config.json", text)
        }
    }

    @Test("a sharded index may not point outside the checkpoint folder, nor list a tensor twice")
    func shardIndex() throws {
        let dir = try copyModel()
        try FileManager.default.moveItem(atPath: dir + "/model.safetensors", toPath: dir + "/part.safetensors")
        let names = try SafetensorsFile(path: dir + "/part.safetensors").tensors.keys
        var map = Dictionary(uniqueKeysWithValues: names.map { ($0, "part.safetensors") })
        map[names.first!] = "../../../../etc/passwd"
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(
            to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        expectCleanError(try run(evalArguments(dir)), "not a file name in the checkpoint folder")
        // the same tensors in two shards
        try FileManager.default.copyItem(atPath: dir + "/part.safetensors", toPath: dir + "/copy.safetensors")
        map = Dictionary(uniqueKeysWithValues: names.map { ($0, "part.safetensors") })
        map[names.first!] = "copy.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(
            to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        expectCleanError(try run(evalArguments(dir)), "is also in")
    }

    @Test("corrupt GGUF headers: counts, lengths and dimensions near 2^63 are errors, not traps")
    func corruptGGUF() throws {
        let original = try bytes(TestSupport.fixture("gguf/types.gguf"))
        func put(_ value: UInt64, at offset: Int) -> Data {
            var d = original
            withUnsafeBytes(of: value.littleEndian) { d.replaceSubrange(offset..<(offset + 8), with: $0) }
            return d
        }
        let cases: [(String, Data)] = [
            ("tensor count 2^63-1", put(UInt64(Int64.max), at: 8)), ("tensor count 2^64-1", put(UInt64.max, at: 8)),
            ("kv count 2^63", put(1 << 63, at: 16)), ("key length 2^63", put(1 << 63, at: 24)),
            ("key length 2^40", put(1 << 40, at: 24)), ("truncated", original.prefix(original.count / 3)),
            ("no magic", Data("GGUX".utf8) + original.dropFirst(4)),
        ]
        for (label, data) in cases {
            let path = TestSupport.temporaryFolder() + "/m.gguf"
            try data.write(to: URL(fileURLWithPath: path))
            expectCleanError(try run(evalArguments(path)), "m.gguf", label)
        }
    }

    // MARK: numbers that must not be scored

    @Test("a NaN weight is an error naming the data set, not 100% top-1")
    func nanWeight() throws {
        let dir = try copyModel()
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        // a layer norm of the first layer: every later activation, statistic and logit becomes NaN
        let name = file.tensors.keys.sorted().first { $0.contains("layers.0.") && $0.hasSuffix("layer_norm.weight") }!
        let t = file.tensors[name]!
        let headerLength = Int(try bytes(dir + "/model.safetensors").prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/model.safetensors"))
        try handle.seek(toOffset: UInt64(8 + headerLength + t.start))
        try handle.write(contentsOf: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try handle.close()
        expectCleanError(try run(evalArguments(dir)), "non-finite")
        let prune = try run(pruneArguments(model: dir, out: TestSupport.temporaryFolder() + "/run"))
        expectCleanError(prune, "non-finite logits")
        let collect = try run([
            "collect", "--model", dir, "--data", Self.forget, "--tokens", "20", "--context", "16",
            "--out", TestSupport.temporaryFolder() + "/s.safetensors",
        ])
        expectCleanError(collect, "not finite")
    }

    @Test("a tokenizer with ids beyond the model's vocabulary is refused before any read")
    func idsBeyondVocabulary() throws {
        let dir = try copyModel()
        var json = try JSONSerialization.jsonObject(with: bytes(dir + "/tokenizer.json")) as! [String: Any]
        var added = json["added_tokens"] as? [[String: Any]] ?? []
        added.append([
            "id": 5000, "content": "def", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false,
        ])
        json["added_tokens"] = added
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        expectCleanError(try run(evalArguments(dir)), "token id 5000")
    }

    @Test("a catastrophically backtracking Split regex stops at once with an error")
    func catastrophicRegex() throws {
        let dir = try copyModel()
        var json = try JSONSerialization.jsonObject(with: bytes(dir + "/tokenizer.json")) as! [String: Any]
        json["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(a+)+$"], "behavior": "Isolated", "invert": false]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        let data = TestSupport.temporaryFolder() + "/a.txt"
        try (String(repeating: "a", count: 5000) + "b").write(toFile: data, atomically: true, encoding: .utf8)
        let start = Date()
        let r = try run(evalArguments(dir, data: data), timeout: 60)
        expectCleanError(r, "backtracking limit")
        #expect(Date().timeIntervalSince(start) < 30)
    }

    // MARK: inputs that are not files

    @Test("a FIFO as model file or data set is refused, not waited on")
    func fifo() throws {
        let dir = try copyModel()
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        #expect(mkfifo(dir + "/model.safetensors", 0o644) == 0)
        expectCleanError(try run(evalArguments(dir), timeout: 60), "not a regular file")
        let pipe = TestSupport.temporaryFolder() + "/data.txt"
        #expect(mkfifo(pipe, 0o644) == 0)
        expectCleanError(try run(evalArguments(Self.model, data: pipe), timeout: 60), "not a regular file")
    }

    // MARK: outputs

    @Test("outputs that are inputs are refused before any work, and the inputs stay as they were")
    func outputIsInput() throws {
        let dir = try copyModel()
        let weights = try bytes(dir + "/model.safetensors"), data = try bytes(Self.forget)
        expectCleanError(
            try run([
                "collect", "--model", dir, "--data", Self.forget, "--tokens", "10", "--context", "16",
                "--out", dir + "/model.safetensors",
            ]), "would overwrite the input")
        let dataCopy = TestSupport.temporaryFolder() + "/docs.jsonl"
        try data.write(to: URL(fileURLWithPath: dataCopy))
        expectCleanError(try run(evalArguments(dir, data: dataCopy) + ["--json", dataCopy]), "would overwrite the input")
        expectCleanError(try run(["logits", "--model", dir, "--ids", "1,2", "--out", dir + "/config.json"]), "would overwrite the input")
        expectCleanError(try run(pruneArguments(model: dir, out: dir + "/run")), "lies inside the input")
        // the evaluation folder of an image run is an input too: no run folder may appear among its classes
        let images = TestSupport.temporaryFolder() + "/images"
        try FileManager.default.copyItem(atPath: TestSupport.fixture("images"), toPath: images)
        expectCleanError(
            try run([
                "prune", "--model", TestSupport.fixture("models/vit"), "--forget", TestSupport.fixture("images"), "--retain",
                TestSupport.fixture("images"), "--forget-classes", "bird", "--eval-folder", images, "--collect-tokens", "1",
                "--eval-tokens", "1", "--steps", "1",
                "--out", images + "/run",
            ]), "lies inside the input \(images)")
        #expect(!FileManager.default.fileExists(atPath: images + "/run"))
        #expect(try bytes(dir + "/model.safetensors") == weights && (try bytes(dataCopy)) == data)
        expectCleanError(try run(evalArguments(dir) + ["--json", "/nonexistent-folder/m.json"]), "does not exist")
        // a folder where nothing can be created (even by root): refused before the evaluation, not after
        let r = try run(evalArguments(dir) + ["--json", "/proc/scalpel-test.json"])
        expectCleanError(r, "cannot create files in the folder /proc")
        #expect(r.stdout.isEmpty, "the evaluation ran before the output was checked: \(r.stdout)")
    }

    @Test("bad arguments are one-line errors before any work")
    func badArguments() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let cases: [([String], String)] = [
            (["--max-retain-drop", "-5"], "--max-retain-drop"), (["--stop-forget-drop", "nan"], "--stop-forget-drop"),
            (["--batch-tokens", "0"], "--batch-tokens"), (["--ff-eps", "-1"], "--ff-eps"), (["--context", "1"], "--context"),
            (["--collect-tokens", "9223372036854775807", "--eval-tokens", "9"], "--collect-tokens"),
        ]
        for (extra, fragment) in cases {
            expectCleanError(try run(pruneArguments(out: out, extra: extra)), fragment, "\(extra)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        expectCleanError(
            try run(["eval", "--model", Self.model, "--data", Self.forget, "--skip", "9223372036854775807", "--tokens", "5"]), "--skip")
        expectCleanError(try run(["eval", "--model", Self.model, "--data", Self.forget, "--skip", "-3"]), "--skip")
    }

    // MARK: data

    @Test("CRLF .jsonl reads as the same documents as LF")
    func crlf() throws {
        let lf = TestSupport.temporaryFolder() + "/lf.jsonl", crlf = TestSupport.temporaryFolder() + "/crlf.jsonl"
        let text = try String(contentsOfFile: Self.forget, encoding: .utf8)
        try text.write(toFile: lf, atomically: true, encoding: .utf8)
        try text.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: crlf, atomically: true, encoding: .utf8)
        var a: [String] = [], b: [String] = []
        try DataSet(name: "a", path: lf).forEachDocument { t, _ in
            a.append(t); return true
        }
        try DataSet(name: "b", path: crlf).forEachDocument { t, _ in
            b.append(t); return true
        }
        #expect(a.count > 1 && a == b)
    }
}
