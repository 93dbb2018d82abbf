import Foundation
import ScalpelCore
import ScalpelTokenizers

/// A loaded checkpoint: the model, its tokenizer (when the folder has `tokenizer.json`), its
/// image preprocessor (when it has `preprocessor_config.json`) and where it came from.
public struct LoadedModel {
    public let network: PrunableModel
    public let tokenizer: Tokenizer?
    public let preprocessor: ImagePreprocessor?
    public let folder: String
    public let modelType: String
    /// tokenizer.json contents to export when the source has no tokenizer.json file (GGUF).
    public var tokenizerJSON: [String: Any]? = nil

    /// The model as a language model; only for language-model checkpoints (check with `requireLanguageModel`).
    public var model: LanguageModel {
        guard let m = network as? LanguageModel else {
            preconditionFailure("\(folder) is an image classifier; check with requireLanguageModel() before using it as a language model")
        }
        return m
    }
    /// The model as an image classifier, if it is one.
    public var imageClassifier: ImageClassifier? { network as? ImageClassifier }

    /// Throws, naming the folder, unless the checkpoint is a language model.
    public func requireLanguageModel() throws -> LanguageModel {
        guard let m = network as? LanguageModel else {
            throw ScalpelError.invalidArgument("\(folder) is an image classifier (\(modelType)); this command needs a language model")
        }
        return m
    }
}

/// Maps `config.json`'s `model_type` to the architecture that reads it.
/// Adding an architecture is one file plus one line here (see docs/adding-a-model.md).
public enum ModelRegistry {
    typealias Builder = (_ json: [String: Any], _ store: TensorSource, _ configPath: String, _ tokenizer: Tokenizer?) throws ->
        PrunableModel

    static let builders: [String: Builder] = [
        "opt": { json, store, path, _ in try OPT(json: json, store: store, configPath: path) },
        "gpt_neox": { json, store, path, _ in try GPTNeoX(json: json, store: store, configPath: path) },
        "gpt2": { json, store, path, _ in try GPT2(json: json, store: store, configPath: path) },
        "llama": { json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "llama") },
        "mistral": { json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "mistral") },
        "qwen2": { json, store, path, _ in try Llama(json: json, store: store, configPath: path, modelType: "qwen2") },
        "bert": { json, store, path, tok in
            try BERT(json: json, store: store, configPath: path, flavor: .bert, maskToken: tok?.id(of: "[MASK]"))
        },
        "vit": { json, store, path, _ in try ViT(json: json, store: store, configPath: path) },
        "roberta": { json, store, path, tok in
            try BERT(json: json, store: store, configPath: path, flavor: .roberta, maskToken: tok?.id(of: "<mask>"))
        },
    ]

    /// The `model_type` values Scalpel can load, sorted.
    public static var supportedTypes: [String] { builders.keys.sorted() }

    /// Loads the Hugging Face checkpoint folder at `folder`, or a `.gguf` file.
    public static func load(_ folder: String) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw ScalpelError.fileNotFound(path: folder)
        }
        if !isDir.boolValue && folder.lowercased().hasSuffix(".gguf") { return try GGUFCheckpoint.load(folder) }
        guard isDir.boolValue else {
            throw ScalpelError.invalidFile(path: folder, reason: "expected a checkpoint folder (config.json, model.safetensors)")
        }
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ScalpelError.invalidFile(path: folder, reason: "no config.json: not a Hugging Face checkpoint folder")
        }
        let json = try InputFile.jsonObject(configPath, limit: 1 << 24)
        guard let type = json["model_type"] as? String else {
            throw ScalpelError.invalidFile(path: configPath, reason: "no \"model_type\" field")
        }
        guard let build = builders[type] else {
            throw ScalpelError.unsupported(path: configPath, field: "model_type", value: type, supported: supportedTypes)
        }
        let store = try TensorStore(folder: folder)
        let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath) ? try Tokenizer(path: tokenizerPath) : nil
        let model = try build(json, store, configPath, tokenizer)
        let preprocessorPath = (folder as NSString).appendingPathComponent("preprocessor_config.json")
        let preprocessor = FileManager.default.fileExists(atPath: preprocessorPath) ? try ImagePreprocessor(path: preprocessorPath) : nil
        if model is ImageClassifier && preprocessor == nil {
            throw ScalpelError.invalidFile(path: folder, reason: "an image classifier needs preprocessor_config.json")
        }
        return LoadedModel(
            network: model, tokenizer: tokenizer, preprocessor: preprocessor, folder: folder, modelType: type, tokenizerJSON: nil)
    }
}
