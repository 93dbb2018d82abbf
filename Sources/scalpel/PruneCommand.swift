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

    @Option(help: ArgumentHelp(modelHelp)) var model: String?
    @Option(help: "The data set whose capability is removed.") var forget: String?
    @Option(help: "The data set whose capability is kept.") var retain: String?
    @OptionGroup var method: MethodOptions
    @Option(
        name: .customLong("stats-cache"),
        help:
            "A folder where collected statistics are kept and reused when checkpoint, data windows and mask are the same (e.g. retain statistics across runs)."
    ) var statsCache: String?
    @Flag(
        name: .customLong("no-compact"),
        help:
            "Run the full-size model every step instead of taking pruned FF neurons and heads out of the matmuls (same results up to float summation order; slower)."
    ) var noCompact = false
    @Option(
        help: ArgumentHelp(
            "Compute each step's collection and evaluation shards with this command (called as COMMAND PLAN.json; "
                + "`scalpel shard PLAN.json` computes them); results are identical to computing them here."))
    var executor: String?
    @OptionGroup var precision: PrecisionOptions
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
            // a Hub id is recorded as its snapshot folder (commit included), so --resume needs no network
            var c = PruneConfig(model: try modelPath(model), forget: forget, retain: retain)
            method.configure(&c)
            c.dtype = precision.dtype
            run = try PruningRun(config: c, folder: out, command: CommandLine.arguments)
        }
        run.compaction = !noCompact
        run.executor = executor
        if let statsCache {
            run.statisticsCache = try StatisticsCache(folder: statsCache, checkpoint: run.checkpointDigest(), dtype: run.config.precision)
        }
        try run.run()
        if let d = run.history.top1MaxDelta {
            print(String(format: "Top1 Max Δ = %.2f (step %d)", d.value, d.step))
        }
        print("run folder: \(run.folder)")
    }
}
