// libFuzzer entry points for every parser of user input (see Tools/checks/fuzz.sh and docs/reliability.md).
// One binary; FUZZ_TARGET picks the parser. Each input must end in a value or a ScalpelError:
// a trap, an out-of-bounds access (address sanitizer), a leak of time (libFuzzer's -timeout) or of
// memory (-rss_limit_mb) is a finding.
import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

enum Target: String, CaseIterable {
    case safetensors, gguf, config, tokenizer, data, image
}

/// Per-process scratch: a folder in /dev/shm (or /tmp) holding the input as a file, since the
/// parsers read files (memory-mapped) as they do for users.
final class Scratch: @unchecked Sendable {
    static let shared = Scratch()
    let target: Target
    let folder: String
    let fixtures: String
    let tokenizer: Tokenizer?

    init() {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let t = Target(rawValue: name) else {
            FileHandle.standardError.write(Data("set FUZZ_TARGET to one of \(Target.allCases.map(\.rawValue))\n".utf8))
            exit(2)
        }
        target = t
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        folder = base + "/scalpel-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: folder + "/model", withIntermediateDirectories: true)
        fixtures = ProcessInfo.processInfo.environment["FUZZ_FIXTURES"] ?? "Tests/Fixtures"
        // the config target loads configs against a real fixture checkpoint's tensors
        let opt = fixtures + "/models/opt-prenorm"
        for name in ["model.safetensors", "tokenizer.json"] {
            try? FileManager.default.removeItem(atPath: folder + "/model/" + name)
            try? FileManager.default.copyItem(atPath: opt + "/" + name, toPath: folder + "/model/" + name)
        }
        tokenizer = try? Tokenizer(path: opt + "/tokenizer.json")
        atexit { try? FileManager.default.removeItem(atPath: Scratch.shared.folder) }
    }

    func write(_ data: Data, _ name: String) -> String {
        let path = folder + "/" + name
        FileManager.default.createFile(atPath: path, contents: data)
        return path
    }
}

/// Texts every fuzzed tokenizer encodes, besides the input's own bytes.
let sampleTexts = ["Hello world", "  def f(x):\n\treturn x ** 2  # é ü 中文 🙂\r\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", ""]

func run(_ data: Data) {
    let s = Scratch.shared
    switch s.target {
    case .safetensors:
        let path = s.write(data, "input.safetensors")
        guard let file = try? SafetensorsFile(path: path) else { return }
        for name in file.tensors.keys {
            _ = try? file.floatTensor(name)
            _ = try? file.intValues(name)
        }
        _ = try? Statistics(path: path)
    case .gguf:
        let path = s.write(data, "input.gguf")
        guard let file = try? GGUFFile(path: path) else { return }
        for name in file.tensors.keys { _ = try? file.floatTensor(name) }
        if let loaded = try? GGUFCheckpoint.load(path), let tok = loaded.tokenizer {
            for t in sampleTexts { _ = try? tok.encode(t) }
        }
    case .config:
        _ = s.write(data, "model/config.json")
        if let loaded = try? ModelRegistry.load(s.folder + "/model"), let lm = loaded.network as? LanguageModel {
            let V = lm.shape.vocabularySize
            _ = lm.logits([[0, 1 % V, 2 % V]])
        }
    case .tokenizer:
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let tok = try? Tokenizer(json: json, path: "fuzz")
        else { return }
        for t in sampleTexts + [String(decoding: data.prefix(512), as: UTF8.self)] {
            _ = try? tok.encode(t)
            try? tok.encode(t, chunk: 8) { _ in true }
            if let ids = try? tok.encode(t, addSpecialTokens: false) { _ = tok.decode(ids) }
        }
    case .image:
        // the magic bytes pick the decoder (PNG or JPEG), whatever the extension
        if let image = try? RGBImage(path: s.write(data, "input.png")) {
            _ = image.pixels.count
        }
    case .data:
        guard let tok = s.tokenizer else { return }
        for name in ["input.jsonl", "input.txt"] {
            let path = s.write(data, name)
            _ = try? WindowSelection.select(
                DataSet(name: "fuzz", path: path), tokenizer: tok, context: 8, skip: 3, count: 20,
                vocabularySize: 1001)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    run(Data(bytes: bytes, count: size))
    return 0
}

// SwiftPM links an executable target's entry point as `<module>_main`; libFuzzer's driver is
// started from there (its own `main` is not used).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("scalpel_fuzz_main")
public func scalpelFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { bytes, size in fuzzOne(bytes, size) }
}
