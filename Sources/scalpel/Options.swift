import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelHub
import ScalpelModels

/// `--threads`, declared once for every command.
struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for BLAS and Scalpel's own loops, 1 to 1024 (default: all cores).")
    var threads: Int?

    /// Sets the thread count: `--threads N`, or all cores.
    func apply() throws {
        if let threads, !(1...1024).contains(threads) {
            throw ScalpelError.invalidArgument("--threads must be between 1 and 1024 (got \(threads))")
        }
        Parallel.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    }
}

extension DType: ExpressibleByArgument {}

/// `--dtype`, declared once for every command that runs a model.
struct PrecisionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "What matrices (linear weights, embeddings, LM head) are held and multiplied in: f32, or bf16 (half the memory; "
                + "BF16 matmuls with Float32 accumulation, on the CPU's BF16 instructions where it has them)."))
    var dtype: DType = .f32
}

/// Options every command that runs a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(modelHelp))
    var model: String

    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var threading: ThreadOptions

    func apply() throws { try threading.apply() }

    /// The model, its matrices in `--dtype`.
    func load() throws -> LoadedModel { try loadModel(model, dtype: precision.dtype) }
}

/// What `--model` takes, for every command's help.
let modelHelp =
    "A Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json), a .gguf file, or a Hub id "
    + "ORG/NAME[@REVISION] (from the huggingface_hub cache, fetched into it when missing; HF_HUB_OFFLINE=1: never fetched)."

/// The local path of a `--model` argument: the path itself, or a Hub id's cached snapshot
/// (fetched when missing), with a line on standard error saying which snapshot.
func modelPath(_ argument: String) throws -> String {
    let path = try Hub.resolve(argument)
    if path != argument { FileHandle.standardError.write(Data("\(argument): \(path)\n".utf8)) }
    return path
}

/// Loads a model for a command (a path or a Hub id), with its warnings (unread checkpoint tensors) on standard error.
func loadModel(_ argument: String, dtype: DType) throws -> LoadedModel {
    let loaded = try ModelRegistry.load(try modelPath(argument), dtype: dtype)
    for line in loaded.warnings { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    return loaded
}

/// How text data sets are read (METHOD.md §6), the same for every command that reads them.
struct TextDataOptions: ParsableArguments {
    @Option(name: .customLong("text-field"), help: "The field of .jsonl lines that holds the text.")
    var textField: String = "text"

    @Option(name: .customLong("ext"), help: "Only read files with these extensions in folders, comma-separated (e.g. py,txt).")
    var ext: String?

    /// `--ext` as a list, dots and spaces trimmed, in the order given.
    var extensions: [String]? {
        ext.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: ". ")) } }
    }

    /// The data set named by a `[NAME=]PATH` argument.
    func dataSet(_ argument: String) -> DataSet {
        DataSet(argument: argument, textField: textField, extensions: extensions.map(Set.init))
    }
}

/// The method's settings (METHOD.md §3–§6), one option per `PruneConfig` field, typed by the
/// argument parser: `configure` copies them onto a configuration.
struct MethodOptions: ParsableArguments {
    @Option(name: .customLong("ff-frac"), parsing: .unconditional, help: "Fraction of all FF neurons pruned per step.")
    var ffFrac: Double = 0.02
    @Option(
        name: .customLong("attn-frac"), parsing: .unconditional,
        help: "Fraction of all attention neurons (heads with --attn-heads) pruned per step.")
    var attnFrac: Double = 0
    @Option(
        name: .customLong("ff-metric"), help: "FF importance: freq, abs, sqrt, rms, std, mean or random.",
        transform: { try ImportanceMetric(argument: $0, option: "--ff-metric") })
    var ffMetric: ImportanceMetric = .abs
    @Option(
        name: .customLong("attn-metric"), help: "Attention importance (same choices).",
        transform: { try ImportanceMetric(argument: $0, option: "--attn-metric") })
    var attnMetric: ImportanceMetric = .abs
    @Option(name: .customLong("ff-eps"), parsing: .unconditional, help: "eps in I_F / (I_R + eps) for FF neurons.")
    var ffEps: Double = 1e-3
    @Option(name: .customLong("attn-eps"), parsing: .unconditional, help: "eps for attention neurons.")
    var attnEps: Double = 1e-4
    @Option(
        name: .customLong("attn-heads"), help: "Prune whole heads ranked by the mean or median of their neurons' scores.",
        transform: { try AttentionSelection(headArgument: $0) })
    var attnHeads: AttentionSelection?
    @Option(help: "Replace pruned activations by zero or by their retain-set mean.", transform: { try PruningOffset(argument: $0) })
    var offset: PruningOffset = .zero
    @Option(parsing: .unconditional, help: "Number of pruning steps.")
    var steps: Int = 10
    @Option(name: .customLong("collect-tokens"), parsing: .unconditional, help: "Predictions per data set for statistics.")
    var collectTokens: Int = 100_000
    @Option(name: .customLong("eval-tokens"), parsing: .unconditional, help: "Predictions per data set for evaluation.")
    var evalTokens: Int = 100_000
    @Option(parsing: .unconditional, help: "Window length in tokens (default: min(1024, the model's position limit)).")
    var context: Int?
    @Flag(name: .customLong("no-recollect"), help: "Collect statistics once and prune down that ranking (one-shot).")
    var noRecollect = false
    @Option(parsing: .unconditional, help: "Seed for the random metric.")
    var seed: UInt64 = 0
    @Option(
        name: .customLong("stop-forget-drop"), parsing: .unconditional, help: "Stop once forget top-1 has dropped by this many percent.")
    var stopForgetDrop: Double?
    @Option(
        name: .customLong("max-retain-drop"), parsing: .unconditional,
        help: "Stop before retain top-1 drops by more than this many percent (the step is undone).")
    var maxRetainDrop: Double?
    @Option(name: .customLong("batch-tokens"), parsing: .unconditional, help: "Tokens per forward batch.")
    var batchTokens: Int = 4096
    @Option(
        name: .customLong("shard-tokens"), parsing: .unconditional,
        help: "Tokens per shard: collection and evaluation are summed shard by shard (the unit an --executor distributes).")
    var shardTokens: Int = Shards.defaultTokens
    @Option(
        name: .customLong("forget-classes"),
        help:
            "Image classifiers: the classes (sub-folders) to forget, comma-separated. With one folder for --forget and --retain, retain is the other classes."
    )
    var forgetClasses: String?
    @Option(name: .customLong("retain-classes"), help: "Image classifiers: the classes to retain, comma-separated.")
    var retainClasses: String?
    @Option(
        name: .customLong("eval-folder"),
        help:
            "Image classifiers: evaluate on this ImageFolder (e.g. the test split), the same classes, instead of after the collection images."
    )
    var evalFolder: String?
    @Option(
        parsing: .unconditional,
        help: "Prompts per data set (from the evaluation portions) whose greedy completions are written before and after pruning (0: none)."
    )
    var completions: Int = 3
    @Option(name: .customLong("completion-tokens"), parsing: .unconditional, help: "New tokens per completion.")
    var completionTokens: Int = 40
    @Option(
        help: ArgumentHelp(
            "A multiple-choice set NAME=FILE.jsonl ({\"context\", \"choices\", \"answer\"} per line) scored after every step, "
                + "as lm-evaluation-harness scores it (acc, acc_norm). Repeat for several."))
    var mc: [String] = []
    @Option(
        name: .customLong("forget-measure"),
        help: "What --stop-forget-drop measures: top1 (forget top-1) or mc:NAME (the acc of a --mc set).")
    var forgetMeasure: String?
    @Option(
        name: .customLong("retain-measure"),
        help: "What --max-retain-drop measures: top1 (retain top-1) or mc:NAME (the acc of a --mc set).")
    var retainMeasure: String?
    @OptionGroup var textData: TextDataOptions

    /// Copies every setting onto `c`.
    func configure(_ c: inout PruneConfig) {
        c.ffFrac = ffFrac; c.attnFrac = attnFrac; c.ffMetric = ffMetric; c.attnMetric = attnMetric
        c.ffEps = ffEps; c.attnEps = attnEps; c.attnSelection = attnHeads ?? .neuron; c.offset = offset
        c.steps = steps; c.collectTokens = collectTokens; c.evalTokens = evalTokens; c.context = context
        c.recollect = !noRecollect; c.seed = seed; c.stopForgetDrop = stopForgetDrop; c.maxRetainDrop = maxRetainDrop
        c.batchTokens = batchTokens; c.shardTokens = shardTokens; c.textField = textData.textField; c.extensions = textData.extensions
        c.forgetClasses = forgetClasses.map { $0.split(separator: ",").map(String.init) }
        c.retainClasses = retainClasses.map { $0.split(separator: ",").map(String.init) }
        c.evalFolder = evalFolder
        c.completions = completions; c.completionTokens = completionTokens
        c.mc = mc.isEmpty ? nil : mc; c.forgetMeasure = forgetMeasure; c.retainMeasure = retainMeasure
    }
}
