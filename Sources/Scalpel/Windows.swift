import Foundation
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

/// One window of at most `context` tokens cut from a document (METHOD.md §6).
///
/// Causal models: prediction k is made at position k and its target is `tokens[k + 1]`.
/// Masked models: `tokens` is the corrupted input, prediction k is made at `maskedPositions[k]`
/// and its target is `maskedTargets[k]` (the original token). The window's predictions that
/// fall in the selected range are the local indices `predictions`.
public struct Window: Sendable, Equatable {
    public let tokens: [Int]
    /// Stream index of the window's first prediction.
    public let firstPrediction: Int
    /// Local prediction indices inside the selected range.
    public let predictions: Range<Int>
    public var maskedPositions: [Int]? = nil
    public var maskedTargets: [Int]? = nil

    /// The position whose output makes prediction k.
    @inline(__always) public func position(_ k: Int) -> Int { maskedPositions?[k] ?? k }
    /// The token prediction k should give.
    @inline(__always) public func target(_ k: Int) -> Int { maskedTargets?[k] ?? tokens[k + 1] }
}

/// METHOD.md §6's masking for masked LMs: each non-special position is chosen with probability 0.15
/// by a generator seeded with (seed, window index); of those, 80% become `<mask>`, 10% a random
/// token, 10% stay. Returns the corrupted tokens, the chosen positions and their original tokens.
public struct MaskedLMCorruption: Sendable {
    public let maskToken: Int
    public let vocabularySize: Int
    public let specialTokens: Set<Int>
    public let seed: UInt64

    public func apply(_ tokens: [Int], window: Int) -> (input: [Int], positions: [Int], targets: [Int]) {
        var g = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(window))
        var input = tokens
        var positions: [Int] = [], targets: [Int] = []
        for (i, t) in tokens.enumerated() {
            let chosen = g.nextUnit() < 0.15
            let action = g.nextUnit()
            let random = Int(g.next() % UInt64(vocabularySize))
            guard chosen, !specialTokens.contains(t) else { continue }
            positions.append(i)
            targets.append(t)
            if action < 0.8 { input[i] = maskToken } else if action < 0.9 { input[i] = random }
        }
        return (input, positions, targets)
    }
}

/// Predictions `[skip, skip + count)` of a data set, as the windows that hold them.
public struct WindowSelection: Sendable {
    public let dataSet: String
    /// The data set's file or folder.
    public var path: String = ""
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
    /// Every token id must index the model's `vocabularySize` embedding rows: a tokenizer with
    /// more ids than the model has rows is an error naming the document, never an out-of-bounds read.
    /// Documents are tokenized only as far as the selected predictions reach.
    public static func select(
        _ dataSet: DataSet, tokenizer: Tokenizer, context: Int, skip: Int, count: Int?,
        vocabularySize: Int, masking: MaskedLMCorruption? = nil, chunk: Int = 1 << 16
    ) throws -> WindowSelection {
        guard context >= 2 else { throw ScalpelError.invalidArgument("--context must be at least 2 (got \(context))") }
        guard skip >= 0 else { throw ScalpelError.invalidArgument("--skip must be non-negative (got \(skip))") }
        if let count, count <= 0 { throw ScalpelError.invalidArgument("--tokens must be positive (got \(count))") }
        var end = Int.max
        if let count {
            guard let e = CheckedSize.add(skip, count) else {
                throw ScalpelError.invalidArgument("--skip \(skip) plus --tokens \(count) is larger than any data set can hold")
            }
            end = e
        }
        var windows: [Window] = []
        var next = 0  // stream index of the next prediction
        var documents = 0
        var beforeCounts: [Int: Int] = [:]
        var windowIndex = 0
        try dataSet.forEachDocument { doc, source in
            documents += 1
            // the document's ids not yet cut into windows; windows start every `context` tokens
            var pending: [Int] = []
            func cut(_ tokens: [Int]) {
                var w = Window(tokens: tokens, firstPrediction: next, predictions: 0..<0)
                if let masking {
                    let m = masking.apply(w.tokens, window: windowIndex)
                    w = Window(
                        tokens: m.input, firstPrediction: next, predictions: 0..<0, maskedPositions: m.positions, maskedTargets: m.targets)
                }
                windowIndex += 1
                let n = w.maskedPositions?.count ?? max(w.tokens.count - 1, 0)
                let lo = max(skip - next, 0), hi = min(end - next, n)
                if skip > 0 {
                    for k in 0..<min(lo, n) { beforeCounts[w.target(k), default: 0] += 1 }
                }
                if lo < hi {
                    windows.append(
                        Window(
                            tokens: w.tokens, firstPrediction: next, predictions: lo..<hi,
                            maskedPositions: w.maskedPositions, maskedTargets: w.maskedTargets))
                }
                next += n
            }
            try tokenizer.encode(doc, chunk: chunk) { ids in
                if let bad = ids.first(where: { !(0..<vocabularySize).contains($0) }) {
                    throw ScalpelError.invalidData(
                        path: source,
                        reason:
                            "the tokenizer (\(tokenizer.path)) gives token id \(bad), but the model's embedding has \(vocabularySize) rows: tokenizer and model do not match"
                    )
                }
                pending += ids
                var used = 0
                while pending.count - used >= context && next < end {
                    cut(Array(pending[used..<(used + context)]))
                    used += context
                }
                pending.removeFirst(used)
                return next < end
            }
            if !pending.isEmpty && next < end { cut(pending) }
            return next < end
        }
        if documents == 0 { throw ScalpelError.invalidData(path: dataSet.path, reason: "empty data set: no documents") }
        let available = next
        if let count, available < skip + count {
            throw ScalpelError.invalidData(
                path: dataSet.path,
                reason:
                    "data set has \(available) predictions at context \(context), but predictions [\(skip), \(skip + count)) were asked for"
            )
        }
        if available <= skip {
            throw ScalpelError.invalidData(
                path: dataSet.path,
                reason: available == 0
                    ? "empty data set: no predictions (documents too short)"
                    : "data set has \(available) predictions at context \(context), none left after skipping \(skip)")
        }
        let selected = min(end, available) - skip
        var counts = beforeCounts
        if skip == 0 {
            for w in windows { for k in w.predictions { counts[w.target(k), default: 0] += 1 } }
        }
        return WindowSelection(
            dataSet: dataSet.name, path: dataSet.path, windows: windows, skip: skip, count: selected, portionTargetCounts: counts)
    }
}

extension MaskedLMCorruption {
    /// The corruption for `model` when it is a masked LM (nil for causal models).
    public static func forModel(_ model: LanguageModel, tokenizer: Tokenizer, seed: UInt64 = 0) -> MaskedLMCorruption? {
        guard case .masked(let maskToken) = model.task else { return nil }
        return MaskedLMCorruption(
            maskToken: maskToken, vocabularySize: model.shape.vocabularySize,
            specialTokens: tokenizer.specialTokenIDs, seed: seed)
    }
}
