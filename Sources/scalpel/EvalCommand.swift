import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Next-token loss, perplexity, top-1, top-10 and top1_skip50 of a model on data sets.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("data"), help: "A data set: [NAME=]PATH, a file, a .jsonl or a folder. Repeat for several.")
    var data: [String] = []

    @Option(
        help: ArgumentHelp(
            "A multiple-choice set NAME=FILE.jsonl ({\"context\", \"choices\", \"answer\"} per line), scored as "
                + "lm-evaluation-harness scores it: acc and acc_norm. Repeat for several."))
    var mc: [String] = []

    @Option(parsing: .unconditional, help: "Predictions to evaluate per data set (default: all after --skip).")
    var tokens: Int?

    @Option(parsing: .unconditional, help: "Predictions to skip first (they are the 'collection portion' for top1_skip50).")
    var skip: Int = 0

    @Option(parsing: .unconditional, help: "Window length in tokens (default: min(1024, the model's position limit)).")
    var context: Int?

    @OptionGroup var textData: TextDataOptions

    @Option(name: .customLong("batch-tokens"), parsing: .unconditional, help: "Tokens per forward batch.")
    var batchTokens: Int = 4096

    @Option(help: "Also write the metrics as JSON to this file.")
    var json: String?

    @Option(help: "Image classifiers: only these classes (sub-folders), comma-separated.")
    var classes: String?

    /// ViT: each --data is an ImageFolder; reports loss, top-1 and top-5 over images.
    func evaluateImages(_ classifier: ImageClassifier, _ loaded: LoadedModel) throws {
        guard let preprocessor = loaded.preprocessor else {
            throw ScalpelError.invalidFile(path: modelOptions.model, reason: "an image classifier needs preprocessor_config.json")
        }
        let evaluator = ImageEvaluator(model: classifier, preprocessor: preprocessor)
        var results: [(String, Metrics)] = []
        for argument in data {
            let set = DataSet(argument: argument)
            let folder = ImageFolder(path: set.path, classes: classes.map { Set($0.split(separator: ",").map(String.init)) })
            let examples = try folder.select(labels: classifier.labels, skip: skip, count: tokens)
            let bar = ProgressBar(label: set.name, total: examples.count)
            results.append((set.name, try evaluator.evaluate(examples) { bar.advance($0) }))
            bar.finish()
        }
        print(MetricsTable.render(results))
        if let json { try MetricsJSON.write(results, extra: ["model": modelOptions.model, "skip": skip], to: json) }
    }

    func run() throws {
        try modelOptions.apply()
        guard !data.isEmpty || !mc.isEmpty else { throw ValidationError("give at least one --data or --mc") }
        guard batchTokens >= 1 else { throw ScalpelError.invalidArgument("--batch-tokens must be at least 1 (got \(batchTokens))") }
        if let json {
            try OutputPath.check(
                json, option: "--json", inputs: [modelOptions.model] + (data + mc).map { DataSet(argument: $0).path })
        }
        // the multiple-choice files are read before the model: a bad one fails before any work
        let choiceSets = try mc.map { try MultipleChoiceSet(argument: $0) }
        guard Set(choiceSets.map(\.name)).count == choiceSets.count else {
            throw ScalpelError.invalidArgument("two --mc sets share a name; name them with NAME=FILE")
        }
        let loaded = try modelOptions.load()
        if let classifier = loaded.imageClassifier {
            guard mc.isEmpty else { throw ScalpelError.invalidArgument("--mc needs a causal language model, not an image classifier") }
            return try evaluateImages(classifier, loaded)
        }
        try loaded.requireHead()
        if !choiceSets.isEmpty && loaded.model.task != .causal {
            throw ScalpelError.invalidArgument("--mc scores continuations: it needs a causal language model")
        }
        let tokenizer = try loaded.requireTokenizer()
        let context = try ContextLength.resolve(self.context, shape: loaded.model.shape)
        let sets = data.map(textData.dataSet)
        let names = sets.map(\.name)
        guard Set(names).count == names.count else {
            throw ScalpelError.invalidArgument("two data sets share a name (\(names.joined(separator: ", "))); name them with NAME=PATH")
        }
        let evaluator = Evaluator(model: loaded.model, batchTokens: max(batchTokens, context))
        var results: [(String, Metrics)] = []
        var timing: [String: Any] = [:]
        for set in sets {
            let selection = try WindowSelection.select(
                set, tokenizer: tokenizer, context: context, skip: skip, count: tokens,
                vocabularySize: loaded.model.shape.vocabularySize, masking: .forModel(loaded.model, tokenizer: tokenizer))
            let bar = ProgressBar(label: set.name, total: selection.tokenCount)
            let start = Date()
            let metrics = try evaluator.evaluate(selection) { bar.advance($0) }
            let seconds = Date().timeIntervalSince(start)
            bar.finish()
            results.append((set.name, metrics))
            timing[set.name] = ["seconds": seconds, "tokens": selection.tokenCount]
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "%@: %d tokens run in %.2f s (%.0f tokens/s)\n",
                        set.name, selection.tokenCount, seconds, Double(selection.tokenCount) / seconds
                    ).utf8))
        }
        let choices = try multipleChoice(choiceSets, loaded, tokenizer)
        Profile.report()
        if !results.isEmpty { print(MetricsTable.render(results)) }
        if !choices.isEmpty {
            print("multiple choice   items      acc  acc_norm")
            for (name, s) in choices {
                print(
                    name.padding(toLength: max(16, name.count), withPad: " ", startingAt: 0)
                        + String(format: " %6d  %6.2f%%   %6.2f%%", s.items, 100 * s.acc, 100 * s.accNorm))
            }
        }
        if let json {
            var extra: [String: Any] = ["model": modelOptions.model, "context": context, "skip": skip, "timing": timing]
            if !choices.isEmpty {
                extra["mc"] = Dictionary(
                    uniqueKeysWithValues: choices.map { name, s in
                        (
                            name,
                            ["acc": s.acc, "acc_norm": s.accNorm, "items": s.items, "loglikelihoods": s.loglikelihoods ?? []]
                                as [String: Any]
                        )
                    })
            }
            try MetricsJSON.write(results, extra: extra, to: json)
        }
    }

    /// Scores of the --mc sets, in the order given.
    func multipleChoice(_ sets: [MultipleChoiceSet], _ loaded: LoadedModel, _ tokenizer: Tokenizer) throws -> [(
        String, MultipleChoiceScores
    )] {
        guard !sets.isEmpty else { return [] }
        let evaluator = MultipleChoiceEvaluator(
            model: loaded.model, tokenizer: tokenizer, prefixToken: MultipleChoiceEvaluator.prefixToken(config: loaded.model.configJSON),
            batchTokens: batchTokens)
        return try sets.map { set in
            let bar = ProgressBar(label: "mc \(set.name)", total: set.items.count)
            defer { bar.finish() }
            return (set.name, try evaluator.evaluate(set) { bar.advance($0) })
        }
    }
}
