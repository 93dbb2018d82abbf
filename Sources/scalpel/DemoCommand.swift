import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune SmolLM2-135M to forget Python code and keep English prose, then write the report.",
        discussion: """
            Needs the data and the model that `bash Tools/setup/setup.sh --demo` fetches: demo-data/code (the Python \\
            standard library), demo-data/prose (the King James Bible and The Devil's Dictionary) and \\
            .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf. Runs the paper's method scaled to fit a small machine: \\
            2% of FF neurons per step, statistics from --collect-tokens predictions, evaluation on the next \\
            --eval-tokens. An interrupted demo continues where it stopped when run again.
            """)

    @Option(help: "The model (a GGUF file, a checkpoint folder or a Hub id ORG/NAME[@REVISION]).")
    var model: String = ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "The folder holding code/ and prose/.")
    var data: String = "demo-data"
    @Option(parsing: .unconditional, help: "Pruning steps.") var steps: Int = 4
    @Option(name: .customLong("collect-tokens"), parsing: .unconditional, help: "Predictions per data set for statistics.")
    var collectTokens: Int = 8192
    @Option(name: .customLong("eval-tokens"), parsing: .unconditional, help: "Predictions per data set for evaluation.") var evalTokens:
        Int = 4096
    @Option(parsing: .unconditional, help: "Window length in tokens.") var context: Int = 512
    @Option(help: "The run folder.") var out: String = "runs/demo"
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        let model = FileManager.default.fileExists(atPath: self.model) ? self.model : try modelPath(self.model)
        for path in [model, data + "/code", data + "/prose"] where !FileManager.default.fileExists(atPath: path) {
            throw ScalpelError.invalidArgument("\(path) is missing: run `bash Tools/setup/setup.sh --demo` first")
        }
        var c = PruneConfig(model: model, forget: data + "/code", retain: data + "/prose")
        c.dtype = precision.dtype
        c.ffFrac = 0.02; c.steps = steps; c.collectTokens = collectTokens; c.evalTokens = evalTokens; c.context = context
        let resume = FileManager.default.fileExists(atPath: out + "/history.json")
        if !resume {
            try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        print("Scalpel demo: forget Python code, retain English prose, on \(model)")
        print("\(steps) steps of 2% of FF neurons; \(collectTokens) predictions collected and \(evalTokens) evaluated per data set")
        let start = Date()
        let run = resume ? try PruningRun.resume(out) : try PruningRun(config: c, folder: out, command: CommandLine.arguments)
        try run.run()
        try RunReport.write(run: out, to: out + "/report.html")
        if let d = run.history.top1MaxDelta, let s = run.history.steps.first(where: { $0.step == d.step }),
            let f = s.drops["forget"], let r = s.drops["retain"]
        {
            print(
                String(
                    format: "after %d steps: code top-1 fell %.1f%%, prose top-1 fell %.1f%% (Top1 Max Δ %.1f)", d.step, f.top1, r.top1,
                    d.value))
        }
        print(String(format: "finished in %.1f minutes", Date().timeIntervalSince(start) / 60))
        print("report: \(out)/report.html   pruned model: \(out)/model/")
    }
}
