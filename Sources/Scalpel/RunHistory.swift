import Foundation
import ScalpelCore

/// One row of a run's history: the model after `step` steps (step 0 is the model before pruning).
public struct StepRecord: Codable, Sendable {
    public struct Counts: Codable, Sendable { public var ff: Int; public var attn: Int }
    public struct PerLayer: Codable, Sendable { public var ff: [Int]; public var attn: [Int] }
    public struct Thresholds: Codable, Sendable { public var ff: Double?; public var attn: Double? }
    public struct Drops: Codable, Sendable { public var top1: Double; public var top10: Double; public var loss: Double }

    public var step: Int
    public var pruned: Counts
    public var prunedPerLayer: PerLayer
    public var thresholds: Thresholds
    public var metrics: [String: Metrics]
    /// Distribution of this step's scores (log10, positive scores) per kind, for the report.
    public var scoreHistograms: [String: Histogram]? = nil
    /// Relative drops against step 0, in percent: 100 · (1 − value / value₀) (loss: its rise, as a negative drop).
    public var drops: [String: Drops]
    public var seconds: Double
    /// Where the step's time went: collect, select_prune, evaluate (seconds).
    public var phaseSeconds: [String: Double]? = nil
    /// Scores of the run's multiple-choice sets (`--mc`), by name (log-likelihoods left out).
    public var multipleChoice: [String: MultipleChoiceScores]? = nil

    enum CodingKeys: String, CodingKey {
        case step, pruned, prunedPerLayer = "pruned_per_layer", thresholds, metrics, drops, seconds, phaseSeconds = "phase_seconds"
        case scoreHistograms = "score_histograms", multipleChoice = "mc"
    }

    /// The metrics and drops of forget or retain. Every record holds both: evaluation writes them
    /// and `History.load` refuses a file without them, so a missing one is a programming error.
    public subscript(role: DataRole) -> (metrics: Metrics, drop: Drops) {
        guard let m = metrics[role.rawValue], let d = drops[role.rawValue] else {
            preconditionFailure("step \(step) has no \(role.rawValue) metrics")
        }
        return (m, d)
    }
}

/// A histogram over log10 of positive values: `counts[i]` values in [edges[i], edges[i+1]).
public struct Histogram: Codable, Sendable {
    public var edges: [Double]
    public var counts: [Int]

    /// `bins` equal bins of log10(v) over the positive finite values.
    public init(log10Of values: [Double], bins: Int = 40) {
        let logs = values.filter { $0 > 0 && $0.isFinite }.map { log10($0) }
        guard let lo = logs.min(), let hi = logs.max() else { edges = []; counts = []; return }
        let width = max((hi - lo) / Double(bins), 1e-9)
        edges = (0...bins).map { lo + Double($0) * width }
        counts = [Int](repeating: 0, count: bins)
        for v in logs { counts[min(bins - 1, Int((v - lo) / width))] += 1 }
    }
}

/// The history of a run as written to `history.json`.
public struct History: Codable, Sendable {
    public struct MaxDelta: Codable, Sendable { public var value: Double; public var step: Int }
    public var config: PruneConfig
    public var steps: [StepRecord]
    /// Top1 Max Δ: the maximum over steps of drop_forget − drop_retain (top-1), and where.
    public var top1MaxDelta: MaxDelta?
    /// Why the run ended, once it has.
    public var stopped: String?
    /// How many neurons of each kind the model has.
    public var totals: StepRecord.Counts? = nil

    enum CodingKeys: String, CodingKey { case config, steps, top1MaxDelta = "top1_max_delta", stopped, totals }

    /// Reads and checks `FOLDER/history.json`: steps numbered 0, 1, 2, … each with forget and
    /// retain metrics and drops, finite numbers, a valid configuration. A history edited by hand
    /// or cut short is an error naming the file, never a crash later.
    public static func load(folder: String) throws -> History {
        let path = folder + "/history.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ScalpelError.invalidFile(path: folder, reason: "not a Scalpel run folder (no history.json)")
        }
        let h: History
        do { h = try JSONDecoder().decode(History.self, from: try InputFile.read(path, limit: 1 << 30)) } catch {
            throw ScalpelError.invalidFile(path: path, reason: "cannot be read as a run history")
        }
        func bad(_ reason: String) -> ScalpelError { .invalidFile(path: path, reason: reason) }
        do { try h.config.validate() } catch let e as ScalpelError { throw bad("its config is not valid: \(e)") }
        for (i, s) in h.steps.enumerated() {
            guard s.step == i else { throw bad("step \(i) is numbered \(s.step)") }
            for role in DataRole.allCases.map(\.rawValue) {
                guard let m = s.metrics[role], let d = s.drops[role] else { throw bad("step \(s.step) lacks \(role) metrics") }
                guard [m.loss, m.top1, m.top10, m.top1Skip50, d.top1, d.top10, d.loss].allSatisfy({ $0.isFinite }) else {
                    throw bad("step \(s.step) has a metric that is not a finite number")
                }
            }
        }
        return h
    }

    mutating func updateMaxDelta() {
        var best: MaxDelta?
        for s in steps where s.step > 0 {
            guard let f = s.drops["forget"], let r = s.drops["retain"] else { continue }
            let d = f.top1 - r.top1
            if d > best?.value ?? -.infinity { best = MaxDelta(value: d, step: s.step) }
        }
        top1MaxDelta = best
    }
}
