import Foundation
import ScalpelCore
import ScalpelModels

/// Writes a model as a complete Hugging Face checkpoint folder: `config.json` (dtype set to what
/// the model ran in), the tokenizer files of the source folder, and `model.safetensors`: Float32,
/// or for a model run with `--dtype bf16` its matrices in BF16 (the values that were evaluated)
/// and its vectors (norms, biases, positions) in Float32.
/// The folder is written beside its destination and renamed into place.
public enum CheckpointExport {
    static let companionFiles = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.json", "merges.txt", "generation_config.json", "preprocessor_config.json",
    ]

    public static func write(_ loaded: LoadedModel, to folder: String) throws {
        loaded.network.compact(nil)
        let fm = FileManager.default
        let tmp = folder + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        do { try fill(loaded, tmp) } catch {
            // a full disk or any other failure leaves nothing behind; the run can be resumed
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        let old = folder + ".old-\(getpid())"
        if fm.fileExists(atPath: folder) { try fm.moveItem(atPath: folder, toPath: old) }
        try fm.moveItem(atPath: tmp, toPath: folder)
        try? fm.removeItem(atPath: old)
    }

    /// Writes the checkpoint's files into `tmp`.
    static func fill(_ loaded: LoadedModel, _ tmp: String) throws {
        let fm = FileManager.default
        var config = loaded.network.configJSON
        let tensors = loaded.network.stateDict()
        let dtype = tensors.contains { $0.tensor.dtype == .bf16 } ? "bfloat16" : "float32"
        if config["torch_dtype"] != nil { config["torch_dtype"] = dtype }
        config["dtype"] = dtype
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data, to: tmp + "/config.json")
        for name in companionFiles {
            let src = (loaded.folder as NSString).appendingPathComponent(name)
            if InputFile.isRegular(src) { try writeAtomically(try InputFile.read(src), to: tmp + "/" + name) }
        }
        if let json = loaded.tokenizerJSON, !fm.fileExists(atPath: tmp + "/tokenizer.json") {
            // a GGUF source: the tokenizer built from its metadata
            try writeAtomically(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), to: tmp + "/tokenizer.json")
        }
        try SafetensorsWriter.write(
            floatTensors: tensors, metadata: ["format": "pt", "producer": "scalpel"],
            to: tmp + "/model.safetensors")
    }
}
