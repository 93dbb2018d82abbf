import Foundation
import ScalpelCore

/// The unit of work that collection and evaluation are cut into: consecutive windows of a
/// selection, at most `tokens` tokens each (a longer window is a shard alone). Each shard's sums
/// start from zero and the shards are added in order, so the result is the same whether one
/// process computes every shard or many machines compute one each (`scalpel shard`); batches never
/// cross a shard's edge, so every forward pass is the same too.
public enum ShardKind: String, Codable, Sendable {
    /// Statistics of a collection portion's shard.
    case collect
    /// Metric sums of an evaluation portion's shard.
    case evaluate
}

public enum Shards {
    /// Tokens per shard unless a run says otherwise.
    public static let defaultTokens = 16384

    /// windows → the index ranges of its shards, in order.
    public static func cut(_ windows: [Window], tokens: Int) -> [Range<Int>] {
        var shards: [Range<Int>] = []
        var start = 0, size = 0
        for (i, w) in windows.enumerated() {
            if i > start && size + w.tokens.count > tokens {
                shards.append(start..<i); start = i; size = 0
            }
            size += w.tokens.count
        }
        if start < windows.count { shards.append(start..<windows.count) }
        return shards
    }
}
