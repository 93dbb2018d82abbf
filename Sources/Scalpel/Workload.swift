import Foundation
import ScalpelCore
import ScalpelModels

/// The two data sets of a pruning run.
public enum DataRole: String, CaseIterable, Sendable, Codable {
    case forget, retain
}

/// One value per data role: both always present.
struct PerRole<T> {
    let forget: T, retain: T

    init(_ make: (DataRole) throws -> T) rethrows {
        forget = try make(.forget)
        retain = try make(.retain)
    }

    subscript(role: DataRole) -> T { role == .forget ? forget : retain }
}

/// What a collection needs from the run besides the data: the current mask (pruned neurons get
/// their replacement value's statistics, METHOD.md §5), the statistics cache, and how to get the
/// model ready for a forward pass (compaction), which a cache hit skips.
struct CollectionRequest {
    let mask: Mask
    let compacted: Bool
    let cache: StatisticsCache?
    let prepareForward: () -> Void
    let log: (String) -> Void
    /// Where the shards run when not in this process (`scalpel prune --executor`).
    var shards: ShardRunner? = nil
}

/// Runs `count` shards of `kind` for `role` outside this process and returns their output files, in shard order.
typealias ShardRunner = (_ kind: ShardKind, _ role: DataRole, _ count: Int) throws -> [String]

/// What a pruning run measures, for one kind of model: the collection and evaluation portions
/// of forget and retain (METHOD.md §6), and how to collect statistics and metrics on them.
protocol Workload: AnyObject {
    /// Tokens (or images) in both collection portions, and in both evaluation portions, for progress bars.
    var collectionSize: Int { get }
    var evaluationSize: Int { get }
    /// Statistics of `role`'s collection portion on the model as it is, pruned neurons set to their replacement value.
    func collect(_ role: DataRole, _ request: CollectionRequest, progress: @escaping (Int) -> Void) throws -> Statistics
    /// Metrics of `role`'s evaluation portion.
    func evaluate(_ role: DataRole, shards: ShardRunner?, progress: @escaping (Int) -> Void) throws -> Metrics
}

enum Workloads {
    /// The workload of `loaded` under `config`: images for an image classifier, text otherwise.
    static func make(_ config: PruneConfig, _ loaded: LoadedModel) throws -> Workload {
        if let classifier = loaded.imageClassifier, let preprocessor = loaded.preprocessor {
            return try ImageWorkload(config, classifier: classifier, preprocessor: preprocessor)
        }
        guard config.forgetClasses == nil && config.retainClasses == nil && config.evalFolder == nil else {
            throw ScalpelError.invalidArgument("--forget-classes, --retain-classes and --eval-folder are for image classifiers")
        }
        return try TextWorkload(config, loaded)
    }
}

/// Text: windows of the forget and retain data sets, statistics through the cache when there is one.
final class TextWorkload: Workload {
    let model: LanguageModel
    let batchTokens: Int
    let shardTokens: Int
    /// (collection portion, evaluation portion) of each role
    let portions: PerRole<(collect: WindowSelection, evaluate: WindowSelection)>

    init(_ config: PruneConfig, _ loaded: LoadedModel) throws {
        try loaded.requireHead()
        model = try loaded.requireLanguageModel()
        batchTokens = config.batchTokens
        shardTokens = config.shardSize
        let tokenizer = try loaded.requireTokenizer()
        let shape = model.shape
        let context = try ContextLength.resolve(config.context, shape: shape)
        let masking = MaskedLMCorruption.forModel(model, tokenizer: tokenizer, seed: config.seed)
        portions = try PerRole { role in
            let set = DataSet(
                name: role.rawValue, path: role == .forget ? config.forget : config.retain,
                textField: config.textField, extensions: config.extensions.map(Set.init))
            func select(_ skip: Int, _ count: Int) throws -> WindowSelection {
                try WindowSelection.select(
                    set, tokenizer: tokenizer, context: context, skip: skip, count: count,
                    vocabularySize: shape.vocabularySize, masking: masking)
            }
            return (try select(0, config.collectTokens), try select(config.collectTokens, config.evalTokens))
        }
    }

    private func portion(_ role: DataRole) -> (collect: WindowSelection, evaluate: WindowSelection) { portions[role] }

    /// The windows of each role's evaluation portion.
    var evaluationWindows: PerRole<[Window]> { PerRole { portions[$0].evaluate.windows } }

    var collectionSize: Int { DataRole.allCases.reduce(0) { $0 + portion($1).collect.tokenCount } }
    var evaluationSize: Int { DataRole.allCases.reduce(0) { $0 + portion($1).evaluate.tokenCount } }

    func collect(_ role: DataRole, _ request: CollectionRequest, progress: @escaping (Int) -> Void) throws -> Statistics {
        let selection = portion(role).collect
        let key = request.cache?.key(selection, mask: request.mask, compacted: request.compacted)
        if let key, let cache = request.cache {
            switch cache.load(key, shape: model.shape) {
            case .hit(let hit): progress(selection.tokenCount); return hit
            case .rejected(let why): request.log("warning: statistics cache entry \(key) not used (\(why)); collecting again")
            case .miss: break
            }
        }
        var s: Statistics
        if let runner = request.shards {
            s = Statistics(shape: model.shape)
            for file in try runner(.collect, role, shardCount(.collect, role)) {
                try s.merge(try Statistics(path: file))
            }
            progress(selection.tokenCount)
        } else {
            request.prepareForward()
            s = StatisticsCollector.collect(model, selection, batchTokens: batchTokens, shardTokens: shardTokens, progress: progress)
        }
        try s.validate("\(selection.path) (data set \(selection.dataSet)) statistics")
        s.setPruned(request.mask)
        if let key, let cache = request.cache {
            // a cache that cannot be written costs speed, never the run
            do { try cache.store(s, key: key) } catch { request.log("warning: statistics cache not written: \(error)") }
        }
        return s
    }

    func evaluate(_ role: DataRole, shards: ShardRunner?, progress: @escaping (Int) -> Void) throws -> Metrics {
        guard let shards else {
            return try Evaluator(model: model, batchTokens: batchTokens).evaluate(
                portion(role).evaluate, shardTokens: shardTokens, progress: progress)
        }
        var total = MetricSums()
        for file in try shards(.evaluate, role, shardCount(.evaluate, role)) {
            do {
                total.add(try JSONDecoder().decode(MetricSums.self, from: InputFile.read(file, limit: 1 << 20)))
            } catch let e as ScalpelError { throw e } catch {
                throw ScalpelError.invalidFile(path: file, reason: "not a shard's evaluation sums (\(error))")
            }
        }
        progress(portion(role).evaluate.tokenCount)
        return total.metrics
    }

    /// The number of shards of `role`'s collection or evaluation portion.
    func shardCount(_ kind: ShardKind, _ role: DataRole) -> Int {
        Shards.cut(kind == .collect ? portion(role).collect.windows : portion(role).evaluate.windows, tokens: shardTokens).count
    }

    /// Computes shard `index` of `kind` for `role` on the model as it is, into `output`
    /// (collection: statistics safetensors, before pruned neurons are set; evaluation: the sums as JSON).
    func runShard(_ kind: ShardKind, _ role: DataRole, index: Int, output: String) throws {
        let selection = kind == .collect ? portion(role).collect : portion(role).evaluate
        let shards = Shards.cut(selection.windows, tokens: shardTokens)
        guard shards.indices.contains(index) else {
            throw ScalpelError.invalidArgument(
                "shard \(index) of \(role.rawValue) \(kind.rawValue) does not exist (\(shards.count) shards)")
        }
        switch kind {
        case .collect:
            let s = StatisticsCollector.collectShard(model, Array(selection.windows[shards[index]]), batchTokens: batchTokens)
            try s.write(to: output, metadata: ["format": "scalpel-statistics", "shard": "\(role.rawValue) \(index)"])
        case .evaluate:
            let sums = try Evaluator(model: model, batchTokens: batchTokens).evaluateShard(selection, windows: shards[index])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try writeAtomically(try encoder.encode(sums), to: output)
        }
    }
}

/// Images: ImageFolder classes, statistics over every token of every image (no cache).
final class ImageWorkload: Workload {
    let evaluator: ImageEvaluator
    let model: ImageClassifier
    /// (collection portion, evaluation portion) of each role
    let portions: PerRole<(collect: [ImageExample], evaluate: [ImageExample])>
    private var warnedCache = false

    init(_ config: PruneConfig, classifier: ImageClassifier, preprocessor: ImagePreprocessor) throws {
        model = classifier
        evaluator = ImageEvaluator(model: classifier, preprocessor: preprocessor)
        if config.evalFolder != nil && config.forgetClasses == nil {
            throw ScalpelError.invalidArgument(
                "--eval-folder needs --forget-classes (they say which of its classes are forget and which retain)")
        }
        let forgetClasses = config.forgetClasses.map(Set.init)
        let retainClasses = config.retainClasses.map(Set.init)
        // `path`'s images of `role`: the forget classes, or the retain classes (by default every class not
        // forgotten, when forget and retain share a folder or the folder is the evaluation folder)
        func folder(_ path: String, _ role: DataRole, shared: Bool) -> ImageFolder {
            role == .forget
                ? ImageFolder(path: path, classes: forgetClasses)
                : ImageFolder(path: path, classes: retainClasses, excluding: shared && retainClasses == nil ? forgetClasses : nil)
        }
        portions = try PerRole { role in
            let source = folder(role == .forget ? config.forget : config.retain, role, shared: config.forget == config.retain)
            let collect = try source.select(labels: classifier.labels, skip: 0, count: config.collectTokens)
            if let evalFolder = config.evalFolder {
                let evaluate = try folder(evalFolder, role, shared: true).select(
                    labels: classifier.labels, skip: 0, count: config.evalTokens)
                return (collect, evaluate)
            }
            return (collect, try source.select(labels: classifier.labels, skip: config.collectTokens, count: config.evalTokens))
        }
    }

    private func portion(_ role: DataRole) -> (collect: [ImageExample], evaluate: [ImageExample]) { portions[role] }

    var collectionSize: Int { DataRole.allCases.reduce(0) { $0 + portion($1).collect.count } }
    var evaluationSize: Int { DataRole.allCases.reduce(0) { $0 + portion($1).evaluate.count } }

    func collect(_ role: DataRole, _ request: CollectionRequest, progress: @escaping (Int) -> Void) throws -> Statistics {
        if request.cache != nil && !warnedCache {
            request.log("note: --stats-cache is used for text data sets only; image statistics are collected every step")
            warnedCache = true
        }
        request.prepareForward()
        var s = try evaluator.collect(portion(role).collect, progress: progress)
        try s.validate("\(role.rawValue) statistics")
        s.setPruned(request.mask)
        return s
    }

    func evaluate(_ role: DataRole, shards: ShardRunner?, progress: @escaping (Int) -> Void) throws -> Metrics {
        try evaluator.evaluate(portion(role).evaluate, progress: progress)
    }
}
