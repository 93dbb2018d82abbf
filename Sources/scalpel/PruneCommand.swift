import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Selective pruning: prune the neurons that matter much more to --forget than to --retain, step by step.",
        discussion: """
        Before step 1 and after every step, forget and retain are evaluated on their evaluation portions \
        (predictions [collect-tokens, collect-tokens + eval-tokens)); statistics come from the first \
        collect-tokens predictions. For image classifiers (ViT) the data sets are ImageFolders, a prediction is \
        an image, and --forget-classes/--retain-classes pick classes. RUN_DIR receives history.json, history.csv, masks.safetensors, run.json \
        and, at the end, model/ (a complete Hugging Face checkpoint).
        """)

    @Option(help: "A Hugging Face checkpoint folder.") var model: String?
    @Option(help: "The data set whose capability is removed.") var forget: String?
    @Option(help: "The data set whose capability is kept.") var retain: String?
    @Option(name: .customLong("ff-frac"), parsing: .unconditional, help: "Fraction of all FF neurons pruned per step.") var ffFrac: Double = 0.02
    @Option(name: .customLong("attn-frac"), parsing: .unconditional, help: "Fraction of all attention neurons (heads with --attn-heads) pruned per step.") var attnFrac: Double = 0
    @Option(name: .customLong("ff-metric"), help: "FF importance: freq, abs, sqrt, rms, std, mean or random.") var ffMetric: String = "abs"
    @Option(name: .customLong("attn-metric"), help: "Attention importance (same choices).") var attnMetric: String = "abs"
    @Option(name: .customLong("ff-eps"), parsing: .unconditional, help: "eps in I_F / (I_R + eps) for FF neurons.") var ffEps: Double = 1e-3
    @Option(name: .customLong("attn-eps"), parsing: .unconditional, help: "eps for attention neurons.") var attnEps: Double = 1e-4
    @Option(name: .customLong("attn-heads"), help: "Prune whole heads ranked by the mean or median of their neurons' scores.") var attnHeads: String?
    @Option(help: "Replace pruned activations by zero or by their retain-set mean.") var offset: String = "zero"
    @Option(parsing: .unconditional, help: "Number of pruning steps.") var steps: Int = 10
    @Option(name: .customLong("collect-tokens"), parsing: .unconditional, help: "Predictions per data set for statistics.") var collectTokens: Int = 100_000
    @Option(name: .customLong("eval-tokens"), parsing: .unconditional, help: "Predictions per data set for evaluation.") var evalTokens: Int = 100_000
    @Option(parsing: .unconditional, help: "Window length in tokens (default: min(1024, the model's position limit)).") var context: Int?
    @Flag(name: .customLong("no-recollect"), help: "Collect statistics once and prune down that ranking (one-shot).") var noRecollect = false
    @Option(parsing: .unconditional, help: "Seed for the random metric.") var seed: UInt64 = 0
    @Option(name: .customLong("stop-forget-drop"), parsing: .unconditional, help: "Stop once forget top-1 has dropped by this many percent.") var stopForgetDrop: Double?
    @Option(name: .customLong("max-retain-drop"), parsing: .unconditional, help: "Stop before retain top-1 drops by more than this many percent (the step is undone).") var maxRetainDrop: Double?
    @OptionGroup var textData: TextDataOptions
    @Option(name: .customLong("batch-tokens"), parsing: .unconditional, help: "Tokens per forward batch.") var batchTokens: Int = 4096
    @Option(name: .customLong("forget-classes"), help: "Image classifiers: the classes (sub-folders) to forget, comma-separated. With one folder for --forget and --retain, retain is the other classes.") var forgetClasses: String?
    @Option(name: .customLong("retain-classes"), help: "Image classifiers: the classes to retain, comma-separated.") var retainClasses: String?
    @Option(name: .customLong("stats-cache"), help: "A folder where collected statistics are kept and reused when checkpoint, data windows and mask are the same (e.g. retain statistics across runs).") var statsCache: String?
    @Flag(name: .customLong("no-compact"), help: "Run the full-size model every step instead of taking pruned FF neurons and heads out of the matmuls (same results up to float summation order; slower).") var noCompact = false
    @OptionGroup var threading: ThreadOptions
    @Option(help: "The run folder to create.") var out: String?
    @Option(help: "Continue the interrupted run in this folder (its stored settings are used).") var resume: String?

    func run() throws {
        try threading.apply()
        let run: PruningRun
        if let resume {
            guard out == nil || out == resume else { throw ValidationError("--resume continues a run in place; drop --out") }
            run = try PruningRun.resume(resume)
        } else {
            guard let model, let forget, let retain, let out else {
                throw ValidationError("give --model, --forget, --retain and --out (or --resume RUN_DIR)")
            }
            var c = PruneConfig(model: model, forget: forget, retain: retain)
            c.ffFrac = ffFrac; c.attnFrac = attnFrac
            c.ffMetric = try ImportanceMetric(argument: ffMetric, option: "--ff-metric")
            c.attnMetric = try ImportanceMetric(argument: attnMetric, option: "--attn-metric")
            c.ffEps = ffEps; c.attnEps = attnEps
            if let attnHeads {
                guard let mode = AttentionSelection(rawValue: attnHeads), mode != .neuron else {
                    throw ScalpelError.invalidArgument("--attn-heads must be mean or median (got '\(attnHeads)')")
                }
                c.attnSelection = mode
            }
            c.offset = try PruningOffset(argument: offset); c.steps = steps
            c.collectTokens = collectTokens; c.evalTokens = evalTokens; c.context = context
            c.recollect = !noRecollect; c.seed = seed
            c.stopForgetDrop = stopForgetDrop; c.maxRetainDrop = maxRetainDrop
            c.textField = textData.textField
            c.extensions = textData.extensions
            c.batchTokens = batchTokens
            c.forgetClasses = forgetClasses.map { $0.split(separator: ",").map(String.init) }
            c.retainClasses = retainClasses.map { $0.split(separator: ",").map(String.init) }
            try c.validate()
            run = try PruningRun(config: c, folder: out, command: CommandLine.arguments)
        }
        run.compaction = !noCompact
        if let statsCache {
            run.statisticsCache = try StatisticsCache(folder: statsCache, checkpoint: run.checkpointDigest())
        }
        try run.run()
        if let d = run.history.top1MaxDelta {
            print(String(format: "Top1 Max Δ = %.2f (step %d)", d.value, d.step))
        }
        print("run folder: \(run.folder)")
    }
}
