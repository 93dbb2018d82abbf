import Foundation
import ScalpelCore
import ScalpelTokenizers

/// A loaded checkpoint: the model, its tokenizer (when the folder has `tokenizer.json`) and where it came from.
public struct LoadedModel {
    public let model: LanguageModel
    public let tokenizer: Tokenizer?
    public let folder: String
    public let modelType: String
}

/// Maps `config.json`'s `model_type` to the architecture that reads it.
/// Adding an architecture is one file plus one line here (see docs/adding-a-model.md).
public enum ModelRegistry {
    typealias Builder = (_ data: Data, _ json: [String: Any], _ store: TensorStore, _ configPath: String, _ tokenizer: Tokenizer?) throws -> LanguageModel

    static let builders: [String: Builder] = [
        "opt": { data, json, store, path, _ in
            try OPT(config: ConfigFile.decode(OPT.Configuration.self, from: data, path: path), json: json, store: store, configPath: path)
        },
        "gpt_neox": { _, json, store, path, _ in try GPTNeoX(json: json, store: store, configPath: path) },
        "gpt2": { _, json, store, path, _ in try GPT2(json: json, store: store, configPath: path) },
        "llama": { _, json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "llama") },
        "mistral": { _, json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "mistral") },
        "qwen2": { _, json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "qwen2") },
        "bert": { _, json, store, path, tok in
            try BERT(json: json, store: store, configPath: path, flavor: .bert, maskToken: tok?.id(of: "[MASK]"))
        },
        "roberta": { _, json, store, path, tok in
            try BERT(json: json, store: store, configPath: path, flavor: .roberta, maskToken: tok?.id(of: "<mask>"))
        },
    ]

    /// The `model_type` values Scalpel can load, sorted.
    public static var supportedTypes: [String] { builders.keys.sorted() }

    /// Loads the Hugging Face checkpoint folder at `folder`.
    public static func load(_ folder: String) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw ScalpelError.fileNotFound(path: folder)
        }
        guard isDir.boolValue else {
            throw ScalpelError.invalidFile(path: folder, reason: "expected a checkpoint folder (config.json, model.safetensors)")
        }
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw ScalpelError.invalidFile(path: folder, reason: "no config.json: not a Hugging Face checkpoint folder")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ScalpelError.invalidFile(path: configPath, reason: "not a JSON object")
        }
        guard let type = json["model_type"] as? String else {
            throw ScalpelError.invalidFile(path: configPath, reason: "no \"model_type\" field")
        }
        guard let build = builders[type] else {
            throw ScalpelError.unsupported(path: configPath, field: "model_type", value: type, supported: supportedTypes)
        }
        let store = try TensorStore(folder: folder)
        let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath) ? try Tokenizer(path: tokenizerPath) : nil
        let model = try build(data, json, store, configPath, tokenizer)
        return LoadedModel(model: model, tokenizer: tokenizer, folder: folder, modelType: type)
    }
}
