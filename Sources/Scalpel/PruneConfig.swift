import Foundation
import ScalpelCore

/// What a pruned neuron's activation is replaced by (METHOD.md §5).
public enum PruningOffset: String, Codable, Sendable, CaseIterable {
    /// 0: the output projection's column is zeroed.
    case zero
    /// The neuron's mean on the retain set, folded into the projection's bias.
    case mean

    /// Parses a command-line value, or throws naming the option.
    public init(argument: String, option: String = "--offset") throws {
        guard let v = PruningOffset(rawValue: argument) else {
            throw ScalpelError.invalidArgument("\(option) must be zero or mean (got '\(argument)')")
        }
        self = v
    }
}

/// Everything that determines a pruning run; stored in `run.json` so `--resume` continues it.
public struct PruneConfig: Codable, Sendable, Equatable {
    public var model: String
    public var forget: String
    public var retain: String
    public var textField = "text"
    public var extensions: [String]? = nil
    /// Fraction of all FF neurons pruned per step.
    public var ffFrac = 0.02
    /// Fraction of all attention neurons (or heads, in head mode) pruned per step.
    public var attnFrac = 0.0
    public var ffMetric = ImportanceMetric.abs
    public var attnMetric = ImportanceMetric.abs
    public var ffEps = 1e-3
    public var attnEps = 1e-4
    public var attnSelection = AttentionSelection.neuron
    /// What a pruned neuron's activation becomes (METHOD.md §5).
    public var offset = PruningOffset.zero
    public var steps = 10
    public var collectTokens = 100_000
    public var evalTokens = 100_000
    public var context: Int? = nil
    /// Re-collect statistics every step (iterative, the default) or once (one-shot ranking).
    public var recollect = true
    public var seed: UInt64 = 0
    /// Stop once forget top-1 has dropped by at least this many percent.
    public var stopForgetDrop: Double? = nil
    /// Stop (and undo the step) when retain top-1 would drop by more than this many percent.
    public var maxRetainDrop: Double? = nil
    public var batchTokens = 4096
    /// Image classifiers: the classes (sub-folders) to forget, and to retain (default: all others).
    public var forgetClasses: [String]? = nil
    public var retainClasses: [String]? = nil
    /// Image classifiers: evaluate on this ImageFolder (e.g. the test split; the same class
    /// selection) instead of on the images after the collection portion. Needs `forgetClasses`.
    public var evalFolder: String? = nil
    /// What the model's matrices are held and multiplied in (`--dtype`); runs written before
    /// the option existed have none and ran in Float32.
    public var dtype: DType? = nil
    /// Prompts per data set whose greedy completions are written before pruning and after the
    /// last step (`completions.json`, shown in the report); nil: 3 (0: none).
    public var completions: Int? = nil
    /// New tokens per completion; nil: 40.
    public var completionTokens: Int? = nil
    /// Multiple-choice sets (`NAME=FILE.jsonl`) scored after every step, as lm-evaluation-harness scores them.
    public var mc: [String]? = nil
    /// What `stopForgetDrop` and `maxRetainDrop` measure: "top1" (the default: next-token top-1 of
    /// the forget/retain evaluation portions) or "mc:NAME" (the acc of a multiple-choice set).
    public var forgetMeasure: String? = nil
    public var retainMeasure: String? = nil
    /// Tokens per shard of collection and evaluation (`Shards`); nil: `Shards.defaultTokens`.
    public var shardTokens: Int? = nil

    /// `dtype`, or Float32 when the run predates it.
    public var precision: DType { dtype ?? .f32 }
    /// `completions` and `completionTokens` with their defaults.
    public var completionPrompts: Int { completions ?? 3 }
    public var completionLength: Int { completionTokens ?? 40 }
    /// `shardTokens` with its default.
    public var shardSize: Int { shardTokens ?? Shards.defaultTokens }
    /// Every file or folder the run reads (model, data sets, evaluation folder, multiple-choice
    /// files): the run folder must be none of them and lie inside none of them.
    public var inputPaths: [String] {
        [model, forget, retain] + [evalFolder].compactMap { $0 } + (mc ?? []).map { DataSet(argument: $0).path }
    }

    enum CodingKeys: String, CodingKey {
        case model, forget, retain, textField = "text_field", extensions, ffFrac = "ff_frac", attnFrac = "attn_frac"
        case ffMetric = "ff_metric", attnMetric = "attn_metric", ffEps = "ff_eps", attnEps = "attn_eps"
        case attnSelection = "attn_selection", offset, steps, collectTokens = "collect_tokens", evalTokens = "eval_tokens"
        case context, recollect, seed, stopForgetDrop = "stop_forget_drop", maxRetainDrop = "max_retain_drop"
        case batchTokens = "batch_tokens", forgetClasses = "forget_classes", retainClasses = "retain_classes", dtype
        case completions, completionTokens = "completion_tokens", mc, forgetMeasure = "forget_measure"
        case retainMeasure = "retain_measure", shardTokens = "shard_tokens", evalFolder = "eval_folder"
    }

    /// The per-step fraction, metric and eps of one kind of neuron (METHOD.md §3–§4).
    public func settings(_ kind: NeuronKind) -> (fraction: Double, metric: ImportanceMetric, eps: Double) {
        switch kind {
        case .ff: return (ffFrac, ffMetric, ffEps)
        case .attn: return (attnFrac, attnMetric, attnEps)
        }
    }

    public init(model: String, forget: String, retain: String) {
        self.model = model; self.forget = forget; self.retain = retain
    }

    /// Checks ranges and consistency; throws a one-line error.
    public func validate() throws {
        for (name, v) in [
            ("--ff-frac", ffFrac), ("--attn-frac", attnFrac), ("--ff-eps", ffEps), ("--attn-eps", attnEps),
            ("--stop-forget-drop", stopForgetDrop ?? 0), ("--max-retain-drop", maxRetainDrop ?? 0),
        ] where !v.isFinite {
            throw ScalpelError.invalidArgument("\(name) must be a finite number (got \(v))")
        }
        if let v = stopForgetDrop, !(v > 0 && v <= 100) {
            throw ScalpelError.invalidArgument("--stop-forget-drop is a drop in percent and must be in (0, 100] (got \(v))")
        }
        if let v = maxRetainDrop, !(v >= 0 && v <= 100) {
            throw ScalpelError.invalidArgument("--max-retain-drop is a drop in percent and must be in [0, 100] (got \(v))")
        }
        guard batchTokens >= 1 else { throw ScalpelError.invalidArgument("--batch-tokens must be at least 1 (got \(batchTokens))") }
        if let context, context < 2 { throw ScalpelError.invalidArgument("--context must be at least 2 (got \(context))") }
        guard steps <= 1_000_000 else { throw ScalpelError.invalidArgument("--steps must be at most 1000000 (got \(steps))") }
        if collectTokens.addingReportingOverflow(evalTokens).overflow {
            throw ScalpelError.invalidArgument("--collect-tokens plus --eval-tokens is larger than any data set can hold")
        }
        for (name, v) in [("--ff-frac", ffFrac), ("--attn-frac", attnFrac)] where !(0...1).contains(v) {
            throw ScalpelError.invalidArgument("\(name) must be in [0, 1] (got \(v))")
        }
        if ffFrac == 0 && attnFrac == 0 { throw ScalpelError.invalidArgument("--ff-frac and --attn-frac are both 0: nothing to prune") }
        let mcNames = (mc ?? []).map { DataSet(argument: $0).name }
        guard Set(mcNames).count == mcNames.count else {
            throw ScalpelError.invalidArgument("two --mc sets share a name (\(mcNames.joined(separator: ", "))); name them with NAME=FILE")
        }
        for (option, measure) in [("--forget-measure", forgetMeasure), ("--retain-measure", retainMeasure)] {
            guard let measure, measure != "top1" else { continue }
            guard measure.hasPrefix("mc:"), mcNames.contains(String(measure.dropFirst(3))) else {
                throw ScalpelError.invalidArgument(
                    "\(option) must be top1 or mc:NAME for a --mc set (got '\(measure)'; --mc sets: \(mcNames.joined(separator: ", ")))")
            }
        }
        guard shardSize >= 1 else { throw ScalpelError.invalidArgument("--shard-tokens must be at least 1 (got \(shardSize))") }
        guard (0...100).contains(completionPrompts) else {
            throw ScalpelError.invalidArgument("--completions must be between 0 and 100 (got \(completionPrompts))")
        }
        guard (1...4096).contains(completionLength) else {
            throw ScalpelError.invalidArgument("--completion-tokens must be between 1 and 4096 (got \(completionLength))")
        }
        guard steps >= 1 else { throw ScalpelError.invalidArgument("--steps must be at least 1 (got \(steps))") }
        guard collectTokens >= 1, evalTokens >= 1 else {
            throw ScalpelError.invalidArgument("--collect-tokens and --eval-tokens must be positive")
        }
        for (name, v) in [("--ff-eps", ffEps), ("--attn-eps", attnEps)] where !(v >= 0) {
            throw ScalpelError.invalidArgument("\(name) must be non-negative (got \(v))")
        }
        let f = URL(fileURLWithPath: forget).standardizedFileURL.resolvingSymlinksInPath().path
        let r = URL(fileURLWithPath: retain).standardizedFileURL.resolvingSymlinksInPath().path
        if f == r && forgetClasses == nil {
            throw ScalpelError.invalidArgument("--forget and --retain are the same data set (\(forget)): nothing would be selective")
        }
        if let fc = forgetClasses, let rc = retainClasses, !Set(fc).isDisjoint(with: rc) {
            throw ScalpelError.invalidArgument(
                "--forget-classes and --retain-classes share \(Set(fc).intersection(rc).sorted().joined(separator: ", "))")
        }
    }
}
