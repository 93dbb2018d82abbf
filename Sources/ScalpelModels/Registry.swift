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
    /// How the checkpoint stores its weights: BF16 when all of them are BF16, else Float32.
    public var storedDType: DType = .f32
    /// Elements of all the checkpoint's tensors.
    public var elementCount = 0

    /// What a user should know about the checkpoint: tensors the architecture does not read, which
    /// are not part of the model as Scalpel runs it and are left out of exports.
    public var warnings: [String] {
        let unused = network.unusedTensorNames
        guard !unused.isEmpty else { return [] }
        let shown = unused.prefix(4).joined(separator: ", ") + (unused.count > 4 ? ", … (\(unused.count - 4) more)" : "")
        return [
            "warning: \(folder): \(unused.count) checkpoint tensor(s) not read by the \(modelType) architecture "
                + "(not used, not exported): \(shown)"
        ]
    }

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

/// What an architecture is built from: its `config.json` (or a GGUF file's metadata as one), the
/// tensors by Hugging Face name, and the tokenizer when there is one (encoders need the mask token).
public struct ArchitectureInputs {
    public let json: [String: Any]
    public let store: TensorSource
    /// Where the configuration came from, for errors.
    public let configPath: String
    public let modelType: String
    public let tokenizer: Tokenizer?
    /// What the matrices (linear weights, embeddings, LM head) are held in; everything else is Float32.
    public let dtype: DType

    public init(json: [String: Any], store: TensorSource, configPath: String, modelType: String, tokenizer: Tokenizer?, dtype: DType) {
        self.json = json; self.store = store; self.configPath = configPath
        self.modelType = modelType; self.tokenizer = tokenizer; self.dtype = dtype
    }
}

/// Maps `config.json`'s `model_type` to the architecture that reads it. Safetensors folders and
/// GGUF files both go through `build`. Adding an architecture is one file plus one row here (see
/// docs/adding-a-model.md).
public enum ModelRegistry {
    typealias Builder = (ArchitectureInputs) throws -> PrunableModel

    static let builders: [String: Builder] = [
        "opt": OPT.init,
        "gpt_neox": GPTNeoX.init,
        "gpt2": GPT2.init,
        "llama": Llama.init, "mistral": Llama.init, "qwen2": Llama.init,
        "bert": { try BERT($0, flavor: .bert, maskToken: $0.tokenizer?.id(of: "[MASK]")) },
        "roberta": { try BERT($0, flavor: .roberta, maskToken: $0.tokenizer?.id(of: "<mask>")) },
        "vit": ViT.init,
    ]

    /// The architecture of `inputs.modelType`, built from `inputs`.
    public static func build(_ inputs: ArchitectureInputs) throws -> PrunableModel {
        guard let build = builders[inputs.modelType] else {
            throw ScalpelError.unsupported(path: inputs.configPath, field: "model_type", value: inputs.modelType, supported: supportedTypes)
        }
        return try build(inputs)
    }

    /// Refuses, before anything is read, a model whose weights in `dtype` would not fit in this
    /// machine's memory (90% of it), saying what it needs and whether `--dtype bf16` would fit.
    static func checkMemory(elements: Int, dtype: DType, path: String, physical: Int = ModelRegistry.physicalMemory) throws {
        let needed = Double(elements) * Double(dtype.size), limit = 0.9 * Double(physical)
        guard needed > limit else { return }
        func gb(_ bytes: Double) -> String { String(format: "%.1f GB", bytes / 1e9) }
        let hint =
            dtype == .f32 && needed / 2 <= limit
            ? "; with --dtype bf16 it needs \(gb(needed / 2)) and fits" : ""
        throw ScalpelError.invalidArgument(
            "\(path): its weights need about \(gb(needed)) in \(dtype == .f32 ? "Float32" : "BF16"), more than this machine's "
                + "\(gb(Double(physical))) of memory allows\(hint)")
    }

    /// This machine's physical memory in bytes.
    public static var physicalMemory: Int { Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// The `model_type` values Scalpel can load, sorted.
    public static var supportedTypes: [String] { builders.keys.sorted() }

    /// Loads the Hugging Face checkpoint folder at `folder`, or a `.gguf` file, with its matrices
    /// (linear weights, embeddings, LM head) in `dtype`.
    public static func load(_ folder: String, dtype: DType = .f32) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw ScalpelError.fileNotFound(path: folder)
        }
        if !isDir.boolValue && folder.lowercased().hasSuffix(".gguf") { return try GGUFCheckpoint.load(folder, dtype: dtype) }
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
        guard builders[type] != nil else {
            throw ScalpelError.unsupported(path: configPath, field: "model_type", value: type, supported: supportedTypes)
        }
        let store = try TensorStore(folder: folder)
        try checkMemory(elements: store.elementCount, dtype: dtype, path: folder)
        let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath) ? try Tokenizer(path: tokenizerPath) : nil
        let model = try build(
            ArchitectureInputs(json: json, store: store, configPath: configPath, modelType: type, tokenizer: tokenizer, dtype: dtype))
        let preprocessorPath = (folder as NSString).appendingPathComponent("preprocessor_config.json")
        let preprocessor = FileManager.default.fileExists(atPath: preprocessorPath) ? try ImagePreprocessor(path: preprocessorPath) : nil
        if model is ImageClassifier && preprocessor == nil {
            throw ScalpelError.invalidFile(path: folder, reason: "an image classifier needs preprocessor_config.json")
        }
        var loaded = LoadedModel(
            network: model, tokenizer: tokenizer, preprocessor: preprocessor, folder: folder, modelType: type, tokenizerJSON: nil)
        loaded.storedDType = store.storedDType
        loaded.elementCount = store.elementCount
        return loaded
    }
}
