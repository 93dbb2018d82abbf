import Foundation
import ScalpelCore
import ScalpelModels

/// The selective-pruning loop (METHOD.md §4–§6) and its run folder.
///
/// Each step: collect statistics on forget and retain (collection portions), score, select,
/// prune, evaluate (evaluation portions); then `history.json`, `history.csv` and
/// `masks.safetensors` are written atomically. `model/` is exported when the run ends.
public final class PruningRun {
    public let config: PruneConfig
    public let folder: String
    public let loaded: LoadedModel
    public private(set) var mask: Mask
    public private(set) var history: History
    /// Called with one line per step (and other progress) for the terminal.
    public var log: (String) -> Void = { print($0) }
    public var showProgress = true
    /// Called after each step's files are saved (the commit point), with the step's number.
    public var afterStep: ((Int) -> Void)?
    /// Take pruned FF neurons out of the MLP matmuls and skip fully pruned heads' attention
    /// (the default); off, every step runs the full-size model with zeroed columns.
    public var compaction = true
    /// Where statistics are looked up before collecting and stored after (off when nil).
    public var statisticsCache: StatisticsCache?
    /// A command that computes a phase's shards elsewhere (`--executor`): called as `COMMAND PLAN.json`
    /// (`ShardPlan`), it must leave every task's output file. Nil: every shard runs in this process.
    public var executor: String?
    private var compactedFor: PrunedNeurons?
    /// SHA-256 of the model's files as run.json records them, by file name.
    private var modelFileHashes: [String: String] = [:]
    /// The folder's lock and lifecycle.
    private var runFolder: RunFolder?

    /// What each step runs on: the collection and evaluation portions of forget and retain.
    let workload: Workload
    /// The multiple-choice sets scored after every step (`--mc`).
    let multipleChoice: [MultipleChoiceSet]
    private var fixedStatistics: (forget: Statistics, retain: Statistics)?

    /// Starts a new run in `folder`, which must not exist or be empty; it appears with its first
    /// files or not at all.
    public convenience init(config: PruneConfig, folder: String, command: [String]) throws {
        try config.validate()
        try OutputPath.check(folder, option: "--out", inputs: config.inputPaths)
        try self.init(config: config, folder: folder, existing: nil, command: command)
    }

    /// Continues the run in `folder` with the settings it was started with, after checking that
    /// no input changed since (run.json's SHA-256s).
    public static func resume(_ folder: String) throws -> PruningRun {
        // the lock first: nothing is read or cleaned while another process owns the folder
        let lock = try RunFolder.resume(folder)
        let existing = try History.load(folder: folder)
        let runJSON = folder + "/run.json"
        guard let recorded = (try? InputFile.jsonObject(runJSON))?["sha256"] as? [String: String] else {
            throw ScalpelError.invalidFile(
                path: runJSON, reason: "missing or without the inputs' SHA-256: cannot check the inputs are unchanged")
        }
        try RunInputs.verify(existing.config, recorded: recorded, runJSON: runJSON)
        let run = try PruningRun(config: existing.config, folder: folder, existing: existing, command: [])
        run.runFolder = lock
        run.modelFileHashes = RunInputs.modelFiles(recorded)
        return run
    }

    private init(config: PruneConfig, folder: String, existing: History?, command: [String]) throws {
        let fm = FileManager.default
        self.config = config
        self.folder = folder
        loaded = try ModelRegistry.load(config.model, dtype: config.precision)
        let shape = loaded.network.shape
        if config.offset == .mean {
            let network = loaded.network
            let hasBias = NeuronKind.allCases.allSatisfy {
                config.settings($0).fraction == 0 || network.outputProjection($0, layer: 0).bias != nil
            }
            guard hasBias else {
                throw ScalpelError.invalidArgument(
                    "--offset mean needs output-projection biases, and \(config.model) has none (use --offset zero)")
            }
        }
        workload = try Workloads.make(config, loaded)
        multipleChoice = try (config.mc ?? []).map { try MultipleChoiceSet(argument: $0) }
        if !multipleChoice.isEmpty {
            guard let text = workload as? TextWorkload, text.model.task == .causal else {
                throw ScalpelError.invalidArgument("--mc scores continuations: it needs a causal language model")
            }
        }
        mask = Mask(shape: shape)
        if let existing {
            history = existing
            if fm.fileExists(atPath: folder + "/masks.safetensors") {
                mask = try Mask(path: folder + "/masks.safetensors", shape: shape)
                // a run stopped between writing masks and history: history.json is the commit point
                mask.forget(after: history.steps.last?.step ?? 0)
                Pruner.replay(mask, onto: loaded.network)
            }
        } else {
            history = History(
                config: config, steps: [], top1MaxDelta: nil, stopped: nil,
                totals: .init(ff: shape.neurons(.ff), attn: shape.neurons(.attn)))
            // the folder appears complete (run.json, history.json, masks) or not at all
            runFolder = try RunFolder.create(folder) { tmp in
                try writeRunInfo(command: command, in: tmp)
                try save(in: tmp)
            }
        }
    }

    /// Runs (or continues) the loop until `steps` steps or a stopping target, then exports `model/`.
    public func run() throws {
        loaded.warnings.forEach(log)
        if history.steps.isEmpty {
            let start = Date()
            let metrics = try evaluate()
            var record = StepRecord(
                step: 0, pruned: .init(ff: 0, attn: 0),
                prunedPerLayer: .init(ff: mask.prunedPerLayer(.ff), attn: mask.prunedPerLayer(.attn)),
                thresholds: .init(ff: nil, attn: nil), metrics: metrics, scoreHistograms: nil, drops: drops(metrics),
                seconds: Date().timeIntervalSince(start))
            record.multipleChoice = try evaluateMultipleChoice()
            append(record)
            try save()
            try writeCompletions(step: 0)
        }
        while history.stopped == nil {
            let next = (history.steps.last?.step ?? 0) + 1
            if next > config.steps { history.stopped = "completed \(config.steps) steps"; break }
            if let reason = try step(next) { history.stopped = reason }
            try save()
            afterStep?(next)
        }
        try save()
        try? FileManager.default.removeItem(atPath: folder + "/" + ShardPlan.folderName)
        expand()
        try writeCompletions(step: history.steps.last?.step ?? 0)
        log("exporting the pruned checkpoint to \(folder)/model ...")
        try CheckpointExport.write(try exportedModel(), to: folder + "/model")
        log("done: \(history.stopped ?? "")")
    }

    /// Greedy completions of prompts from the evaluation portions (causal language models with a
    /// tokenizer): `before` at step 0, `after` once the loop ends, in `completions.json`.
    func writeCompletions(step: Int) throws {
        guard config.completionPrompts > 0, let text = workload as? TextWorkload, text.model.task == .causal,
            let tokenizer = loaded.tokenizer
        else { return }
        var completions =
            try Completions.load(folder: folder)
            ?? Completions.prompts(
                text.evaluationWindows, perRole: config.completionPrompts, promptTokens: 32, maxNewTokens: config.completionLength,
                tokenizer: tokenizer)
        if step > 0 && completions.samples.allSatisfy({ $0.after?.step == step }) { return }
        log(step == 0 ? "completions before pruning ..." : "completions after step \(step) ...")
        let stop = try Generator.stopTokens(folder: loaded.folder, config: text.model.configJSON)
        try completions.generate(text.model, tokenizer: tokenizer, stopTokens: stop, step: step)
        try completions.write(folder: folder)
    }

    /// What `model/` holds: the run's model; but after a BF16 run on a checkpoint stored in a wider
    /// type, the checkpoint reloaded in Float32 with the run's pruning replayed onto it, so the
    /// export keeps the checkpoint's precision — unless that copy beside the BF16 one would not fit
    /// in memory, then the BF16 weights (with a note).
    func exportedModel() throws -> LoadedModel {
        guard config.precision == .bf16, loaded.storedDType != .bf16 else { return loaded }
        let bytes = 6 * Double(loaded.elementCount)  // a Float32 copy beside the resident BF16 weights
        guard bytes <= 0.9 * Double(ModelRegistry.physicalMemory) else {
            log("note: a Float32 copy of the model does not fit beside the BF16 one: model/ is exported in BF16")
            return loaded
        }
        let original = try ModelRegistry.load(config.model, dtype: .f32)
        Pruner.replay(mask, onto: original.network)
        return original
    }

    /// One step of the loop; returns a reason to stop, if any.
    func step(_ s: Int) throws -> String? {
        let start = Date()
        let enabled = NeuronKind.allCases.filter { config.settings($0).fraction > 0 }
        if enabled.allSatisfy({ mask.prunedCount($0) == mask.steps($0).count }) {
            return "nothing left to prune before step \(s): every \(enabled.map(\.rawValue).joined(separator: " and ")) neuron is pruned"
        }
        let (forgetStats, retainStats) = try statistics()
        let collected = Date()
        expand()
        var thresholds = StepRecord.Thresholds(ff: nil, attn: nil)
        var histograms: [String: Histogram] = [:]
        var undo: [Pruner.Undo] = []
        for kind in NeuronKind.allCases {
            let picked = select(kind, forget: forgetStats[kind], retain: retainStats[kind], step: s)
            if let scores = picked.scores { histograms[kind.rawValue] = Histogram(log10Of: scores) }
            if kind == .ff { thresholds.ff = picked.threshold } else { thresholds.attn = picked.threshold }
            let means = config.offset == .mean ? retainStats[kind].mean : nil
            let offsets: (Int) -> Float = { i in means.map { Float($0[i]) } ?? 0 }
            for i in picked.indices { mask.prune(kind, i, step: s, offset: offsets(i)) }
            undo.append(Pruner.apply(loaded.network, kind: kind, neurons: picked.indices, offsets: offsets))
        }
        if mask.lastStep < s {
            return "nothing left to prune at step \(s): no neuron could be selected (all pruned, or the fractions round to zero neurons)"
        }
        let pruned = Date()
        let metrics = try evaluate()
        let choices = try evaluateMultipleChoice()
        let evaluated = Date()
        let d = drops(metrics)
        var record = StepRecord(
            step: s, pruned: .init(ff: mask.prunedCount(.ff), attn: mask.prunedCount(.attn)),
            prunedPerLayer: .init(ff: mask.prunedPerLayer(.ff), attn: mask.prunedPerLayer(.attn)),
            thresholds: thresholds, metrics: metrics, scoreHistograms: histograms, drops: d,
            seconds: Date().timeIntervalSince(start))
        record.multipleChoice = choices
        record.phaseSeconds = [
            "collect": collected.timeIntervalSince(start), "select_prune": pruned.timeIntervalSince(collected),
            "evaluate": evaluated.timeIntervalSince(pruned),
        ]
        if let bound = config.maxRetainDrop, let r = measuredDrop(.retain, record), r.drop > bound {
            expand()
            undo.forEach(Pruner.revert)
            mask.forget(after: s - 1)
            return String(format: "step %d would drop retain %@ by %.2f%% > %.2f%%; not applied", s, r.name, r.drop, bound)
        }
        append(record)
        if let target = config.stopForgetDrop, let f = measuredDrop(.forget, record), f.drop >= target {
            return String(format: "forget %@ dropped by %.2f%% ≥ %.2f%% at step %d", f.name, f.drop, target, s)
        }
        return nil
    }

    /// Statistics of forget and retain on the current model (once only when not recollecting).
    /// Pruned neurons count as their replacement value (`Statistics.setPruned`).
    func statistics() throws -> (Statistics, Statistics) {
        if !config.recollect, let fixed = fixedStatistics { return fixed }
        let bar = ProgressBar(label: "collect", total: workload.collectionSize, enabled: showProgress && isatty(2) != 0)
        var request = CollectionRequest(
            mask: mask, compacted: compaction, cache: statisticsCache,
            prepareForward: { [unowned self] in prepareForward() }, log: log)
        request.shards = try shardRunner()
        let result = (
            try workload.collect(.forget, request) { bar.advance($0) }, try workload.collect(.retain, request) { bar.advance($0) }
        )
        bar.finish()
        if !config.recollect { fixedStatistics = result }
        return result
    }

    /// The digest of the run's checkpoint (`StatisticsCache.checkpointDigest`), reusing the file
    /// hashes run.json was written with.
    public func checkpointDigest() throws -> String {
        try StatisticsCache.checkpointDigest(config.model, known: modelFileHashes).digest
    }

    /// Compacts the current mask's pruned neurons out of the forward pass (when `compaction`).
    func prepareForward() {
        guard compaction, mask.lastStep > 0 else { return }
        let pruned = mask.prunedNeurons
        if compactedFor != pruned {
            loaded.network.compact(pruned)
            compactedFor = pruned
        }
    }

    /// Puts the model back in its checkpoint layout, before its weights are edited or exported.
    func expand() {
        loaded.network.compact(nil)
        compactedFor = nil
    }

    /// The neurons of `kind` to prune at step `s`.
    func select(_ kind: NeuronKind, forget: NeuronSums, retain: NeuronSums, step s: Int) -> (
        indices: [Int], threshold: Double?, scores: [Double]?
    ) {
        let (frac, metric, eps) = config.settings(kind)
        guard frac > 0 else { return ([], nil, nil) }
        // random scores are drawn once per run when not recollecting, so one-shot random stays one ranking
        let scores = Scores.compute(
            metric, forget: forget, retain: retain, eps: eps, seed: config.seed,
            step: config.recollect ? s : 1, kind: kind)
        let steps = mask.steps(kind)
        let shape = loaded.network.shape
        if kind == .attn && config.attnSelection != .neuron {
            let k = Int((frac * Double(shape.layers * shape.heads)).rounded(.down))
            let picked = Selection.topHeads(k, scores: scores, headWidth: shape.headWidth, by: config.attnSelection) { steps[$0] != 0 }
            return (picked.indices, picked.threshold, scores)
        }
        let k = Int((frac * Double(forget.neuronCount)).rounded(.down))
        let picked = Selection.top(k, scores: scores) { steps[$0] != 0 }
        return (picked.indices, picked.threshold, scores)
    }

    func evaluate() throws -> [String: Metrics] {
        prepareForward()
        let bar = ProgressBar(label: "evaluate", total: workload.evaluationSize, enabled: showProgress && isatty(2) != 0)
        defer { bar.finish() }
        var out: [String: Metrics] = [:]
        let shards = try shardRunner()
        for role in DataRole.allCases { out[role.rawValue] = try workload.evaluate(role, shards: shards) { bar.advance($0) } }
        return out
    }

    /// Scores of the `--mc` sets on the model as it is (log-likelihoods left out of the history).
    func evaluateMultipleChoice() throws -> [String: MultipleChoiceScores]? {
        guard !multipleChoice.isEmpty, let text = workload as? TextWorkload, let tokenizer = loaded.tokenizer else { return nil }
        prepareForward()
        let evaluator = MultipleChoiceEvaluator(
            model: text.model, tokenizer: tokenizer, prefixToken: MultipleChoiceEvaluator.prefixToken(config: text.model.configJSON),
            batchTokens: config.batchTokens)
        var out: [String: MultipleChoiceScores] = [:]
        for set in multipleChoice {
            let bar = ProgressBar(label: "mc \(set.name)", total: set.items.count, enabled: showProgress && isatty(2) != 0)
            var scores = try evaluator.evaluate(set) { bar.advance($0) }
            bar.finish()
            scores.loglikelihoods = nil
            out[set.name] = scores
        }
        return out
    }

    /// The drop (percent, against step 0) that the stopping rules read for `role`: top-1 of the
    /// role's evaluation portion, or the acc of the multiple-choice set `--forget-measure`/`--retain-measure` names.
    func measuredDrop(_ role: DataRole, _ record: StepRecord) -> (name: String, drop: Double)? {
        let measure = (role == .forget ? config.forgetMeasure : config.retainMeasure) ?? "top1"
        guard measure.hasPrefix("mc:") else { return record.drops[role.rawValue].map { ("top1", $0.top1) } }
        let name = String(measure.dropFirst(3))
        guard let now = record.multipleChoice?[name]?.acc, let before = history.steps.first?.multipleChoice?[name]?.acc else { return nil }
        return ("\(name) acc", before > 0 ? 100 * (1 - now / before) : 0)
    }

    func drops(_ metrics: [String: Metrics]) -> [String: StepRecord.Drops] {
        guard let base = history.steps.first?.metrics else {
            return metrics.mapValues { _ in StepRecord.Drops(top1: 0, top10: 0, loss: 0) }
        }
        func drop(_ now: Double, _ before: Double) -> Double { before > 0 ? 100 * (1 - now / before) : 0 }
        var out: [String: StepRecord.Drops] = [:]
        for (k, m) in metrics {
            guard let b = base[k] else { continue }
            out[k] = .init(top1: drop(m.top1, b.top1), top10: drop(m.top10, b.top10), loss: drop(m.loss, b.loss))
        }
        return out
    }

    func append(_ r: StepRecord) {
        history.steps.append(r)
        history.updateMaxDelta()
        let (f, t) = (r[.forget].metrics, r[.retain].metrics)
        let (df, dr) = (r[.forget].drop.top1, r[.retain].drop.top1)
        log(
            String(
                format: "step %2d  pruned ff %6d attn %6d  forget top1 %6.2f%% (drop %6.2f%%)  retain top1 %6.2f%% (drop %6.2f%%)%@  %.1fs",
                r.step, r.pruned.ff, r.pruned.attn, 100 * f.top1, df, 100 * t.top1, dr,
                (r.multipleChoice ?? [:]).sorted { $0.key < $1.key }.map { String(format: "  %@ acc %.2f%%", $0.key, 100 * $0.value.acc) }
                    .joined(), r.seconds))
    }

    /// Writes masks.safetensors, history.csv and history.json, each atomically (into `in`, by default the run folder).
    func save(in target: String? = nil) throws {
        let folder = target ?? self.folder
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // masks first: history.json is the commit point a resumed run trusts
        try mask.write(to: folder + "/masks.safetensors")
        try writeAtomically(Data(csv().utf8), to: folder + "/history.csv")
        try writeAtomically(try encoder.encode(history) + Data("\n".utf8), to: folder + "/history.json")
    }

    func csv() -> String {
        var lines = [
            "step,pruned_ff,pruned_attn,forget_loss,forget_top1,forget_top10,forget_top1_skip50,retain_loss,retain_top1,retain_top10,retain_top1_skip50,forget_top1_drop,retain_top1_drop,seconds"
        ]
        for r in history.steps {
            let (f, t) = (r[.forget].metrics, r[.retain].metrics)
            lines.append(
                [
                    String(r.step), String(r.pruned.ff), String(r.pruned.attn),
                    "\(f.loss)", "\(f.top1)", "\(f.top10)", "\(f.top1Skip50)",
                    "\(t.loss)", "\(t.top1)", "\(t.top10)", "\(t.top1Skip50)",
                    "\(r[.forget].drop.top1)", "\(r[.retain].drop.top1)", String(format: "%.3f", r.seconds),
                ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// run.json: the command, versions, the dtype and matmul engine, and SHA-256 of every input file.
    func writeRunInfo(command: [String], in folder: String) throws {
        let hashes = try RunInputs.hashes(config)
        modelFileHashes = RunInputs.modelFiles(hashes)
        var info: [String: Any] = [
            "command": command,
            "dtype": config.precision.rawValue,
            "scalpel_version": ScalpelVersion.current,
            "threads": Parallel.threads,
            "started": ISO8601DateFormatter().string(from: Date()),
            "sha256": hashes,
        ]
        if config.precision == .bf16 { info["bf16_engine"] = BLAS.bf16Engine }
        let data = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data, to: folder + "/run.json")
    }
}

public enum ScalpelVersion {
    public static let current = "0.1.0"
}
