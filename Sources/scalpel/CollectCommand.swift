import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels

struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Collect neuron statistics on a data set, or merge statistics shards.",
        discussion: """
            Writes one F64 tensor per sum and kind: ff.{count,sum,sum_abs,sum_sqrt,sum_sq,count_pos} ([L] / [L, d_ff]) \
            and attn.* ([L] / [L, heads, d_head]). Shards collected on different machines add exactly: \
            scalpel collect --merge A.safetensors B.safetensors --out C.safetensors
            """)

    @Option(help: ArgumentHelp(modelHelp))
    var model: String?

    @Option(help: "A run's masks.safetensors: collect on the model with that run's pruning applied.")
    var masks: String?

    @Option(help: "The data set: a file, a .jsonl or a folder.")
    var data: String?
    @Option(parsing: .unconditional, help: "Predictions whose input positions are collected.")
    var tokens: Int?
    @Option(parsing: .unconditional, help: "Predictions to skip first.")
    var skip: Int = 0
    @Option(parsing: .unconditional, help: "Window length in tokens (default: min(1024, the model's position limit)).")
    var context: Int?
    @OptionGroup var textData: TextDataOptions
    @Option(name: .customLong("batch-tokens"), parsing: .unconditional, help: "Tokens per forward batch.")
    var batchTokens: Int = 4096
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var threading: ThreadOptions
    @Option(parsing: .upToNextOption, help: "Statistics files to add together instead of collecting.")
    var merge: [String] = []
    @Option(help: "Output statistics file (.safetensors).")
    var out: String

    func run() throws {
        try threading.apply()
        guard batchTokens >= 1 else { throw ScalpelError.invalidArgument("--batch-tokens must be at least 1 (got \(batchTokens))") }
        try OutputPath.check(out, option: "--out", inputs: merge + [model, data].compactMap { $0 })
        if !merge.isEmpty {
            guard model == nil, data == nil else { throw ValidationError("--merge takes no --model or --data") }
            var total = try Statistics(path: merge[0])
            try total.validate(merge[0])
            for path in merge.dropFirst() {
                do {
                    let part = try Statistics(path: path)
                    try part.validate(path)
                    try total.merge(part)
                } catch let e as ScalpelError {
                    throw ScalpelError.invalidFile(path: path, reason: e.description)
                }
            }
            try total.write(to: out, metadata: ["format": "scalpel-statistics"])
            print("merged \(merge.count) files into \(out): \(Int(total.ff.count.first ?? 0)) positions")
            return
        }
        guard let model, let data else { throw ValidationError("give --model and --data (or --merge FILES)") }
        var appliedMask: Mask?
        let loaded = try loadModel(model, dtype: precision.dtype)
        if let masks {
            // the statistics of a run's pruned model, as its next step collects them (pruned neurons at their replacement value)
            let mask = try Mask(path: masks, shape: loaded.network.shape)
            Pruner.replay(mask, onto: loaded.network)
            appliedMask = mask
        }
        _ = try loaded.requireLanguageModel()
        let context = try ContextLength.resolve(self.context, shape: loaded.model.shape)
        let tokenizer = try loaded.requireTokenizer()
        let selection = try WindowSelection.select(
            textData.dataSet(data), tokenizer: tokenizer,
            context: context, skip: skip, count: tokens,
            vocabularySize: loaded.model.shape.vocabularySize, masking: .forModel(loaded.model, tokenizer: tokenizer))
        let bar = ProgressBar(label: "collect", total: selection.tokenCount)
        let start = Date()
        var stats = StatisticsCollector.collect(loaded.model, selection, batchTokens: max(batchTokens, context)) { bar.advance($0) }
        if let appliedMask { stats.setPruned(appliedMask) }
        bar.finish()
        try stats.validate("\(data) statistics")
        let seconds = Date().timeIntervalSince(start)
        try stats.write(
            to: out,
            metadata: [
                "format": "scalpel-statistics", "model": model, "data": data,
                "skip": String(skip), "context": String(context), "dtype": precision.dtype.rawValue,
            ])
        FileHandle.standardError.write(
            Data(
                String(
                    format: "collected %d positions (%d tokens run) in %.2f s (%.0f tokens/s)\n",
                    selection.count, selection.tokenCount, seconds, Double(selection.tokenCount) / seconds
                ).utf8))
        print("wrote \(out)")
        Profile.report()
    }
}
