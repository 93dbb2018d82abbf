import Foundation
import ScalpelCore

/// How attention neurons are chosen (METHOD.md §4).
public enum AttentionSelection: String, Sendable, Codable {
    /// Rank single pre-out neurons, like FF neurons.
    case neuron
    /// Rank heads by the mean of their neurons' scores and prune whole heads.
    case mean
    /// Rank heads by the median of their neurons' scores.
    case median

    /// Parses `--attn-heads`: mean or median.
    public init(headArgument: String) throws {
        guard let mode = AttentionSelection(rawValue: headArgument), mode != .neuron else {
            throw ScalpelError.invalidArgument("--attn-heads must be mean or median (got '\(headArgument)')")
        }
        self = mode
    }
}

/// Picks the neurons to prune from scores (METHOD.md §4).
public enum Selection {
    /// The `k` highest-scoring neurons not already pruned, best first (ties: lower index first).
    /// Returns the indices and the threshold (the lowest selected score; nil when none selected).
    public static func top(_ k: Int, scores: [Double], excluding pruned: (Int) -> Bool) -> (indices: [Int], threshold: Double?) {
        guard k > 0 else { return ([], nil) }
        let candidates = scores.indices.filter { !pruned($0) && !scores[$0].isNaN }
        let chosen = candidates.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)
        return (Array(chosen), chosen.last.map { scores[$0] })
    }

    /// Head mode: scores of `[L, heads, dHead]` neurons → the neurons of the `k` best heads not already pruned.
    public static func topHeads(
        _ k: Int, scores: [Double], headWidth: Int, by mode: AttentionSelection,
        excluding pruned: (Int) -> Bool
    ) -> (indices: [Int], threshold: Double?) {
        let heads = scores.count / headWidth
        var headScores = [Double](repeating: 0, count: heads)
        for h in 0..<heads {
            let s = Array(scores[(h * headWidth)..<((h + 1) * headWidth)])
            if mode == .median {
                let sorted = s.sorted()
                let n = sorted.count
                headScores[h] = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            } else {
                headScores[h] = s.reduce(0, +) / Double(s.count)
            }
        }
        // a head counts as pruned when all of its neurons are
        let (picked, threshold) = top(k, scores: headScores) { h in (0..<headWidth).allSatisfy { pruned(h * headWidth + $0) } }
        return (picked.flatMap { h in (0..<headWidth).map { h * headWidth + $0 }.filter { !pruned($0) } }, threshold)
    }
}
