import Foundation
import ScalpelCore
import ScalpelTokenizers

/// One window of at most `context` tokens cut from a document (SPEC §6).
///
/// Position i of the window predicts `tokens[i + 1]`; the window's predictions that fall in the
/// selected range are the local indices `predictions` (a sub-range of `0..<tokens.count - 1`).
public struct Window: Sendable, Equatable {
    public let tokens: [Int]
    /// Stream index of the window's first prediction (its position 0 predicting position 1).
    public let firstPrediction: Int
    /// Local prediction indices inside the selected range.
    public let predictions: Range<Int>
}

/// Predictions `[skip, skip + count)` of a data set, as the windows that hold them.
public struct WindowSelection: Sendable {
    public let dataSet: String
    public let windows: [Window]
    public let skip: Int
    public let count: Int
    /// How often each target token occurs in the predictions before `skip` (the collection
    /// portion), or in the selected predictions themselves when `skip` is 0.
    public let portionTargetCounts: [Int: Int]

    /// Tokens the model must run (whole windows).
    public var tokenCount: Int { windows.reduce(0) { $0 + $1.tokens.count } }

    /// The 50 most frequent targets of the collection portion (ties broken by lower id).
    public func frequentTargets(_ k: Int = 50) -> Set<Int> {
        Set(portionTargetCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(k).map(\.key))
    }

    /// Tokenizes the data set's documents whole (post-processor included) and cuts each into
    /// consecutive windows of `context` tokens, numbering predictions in stream order, until
    /// predictions `[skip, skip + count)` are covered (`count` nil: to the end of the data).
    /// Throws when the data holds fewer predictions than asked, saying how many it has.
    public static func select(_ dataSet: DataSet, tokenizer: Tokenizer, context: Int, skip: Int, count: Int?) throws -> WindowSelection {
        guard context >= 2 else { throw ScalpelError.invalidArgument("--context must be at least 2 (got \(context))") }
        guard skip >= 0 else { throw ScalpelError.invalidArgument("--skip must be non-negative (got \(skip))") }
        if let count, count <= 0 { throw ScalpelError.invalidArgument("--tokens must be positive (got \(count))") }
        let end = count.map { skip + $0 } ?? Int.max
        var windows: [Window] = []
        var next = 0  // stream index of the next prediction
        var documents = 0
        var beforeCounts: [Int: Int] = [:]
        try dataSet.forEachDocument { doc in
            documents += 1
            let ids = tokenizer.encode(doc)
            var start = 0
            while start < ids.count && next < end {
                let window = Array(ids[start..<min(start + context, ids.count)])
                start += context
                let n = max(window.count - 1, 0)
                let lo = max(skip - next, 0), hi = min(end - next, n)
                if skip > 0 {
                    for i in 0..<min(lo, n) { beforeCounts[window[i + 1], default: 0] += 1 }
                }
                if lo < hi { windows.append(Window(tokens: window, firstPrediction: next, predictions: lo..<hi)) }
                next += n
            }
            return next < end
        }
        if documents == 0 { throw ScalpelError.invalidData(path: dataSet.path, reason: "empty data set: no documents") }
        let available = next
        if let count, available < skip + count {
            throw ScalpelError.invalidData(path: dataSet.path,
                reason: "data set has \(available) predictions at context \(context), but predictions [\(skip), \(skip + count)) were asked for")
        }
        if available <= skip {
            throw ScalpelError.invalidData(path: dataSet.path,
                reason: available == 0 ? "empty data set: no predictions (documents shorter than 2 tokens)"
                                       : "data set has \(available) predictions at context \(context), none left after skipping \(skip)")
        }
        let selected = min(end, available) - skip
        var counts = beforeCounts
        if skip == 0 {
            for w in windows { for i in w.predictions { counts[w.tokens[i + 1], default: 0] += 1 } }
        }
        return WindowSelection(dataSet: dataSet.name, windows: windows, skip: skip, count: selected, portionTargetCounts: counts)
    }
}
