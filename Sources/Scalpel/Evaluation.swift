import CKernels
import Foundation
import ScalpelCore
import ScalpelModels

/// Next-token metrics of one data set (METHOD.md §6).
public struct Metrics: Codable, Sendable, Equatable {
    /// Mean cross-entropy in nats.
    public var loss: Double
    /// exp(loss).
    public var perplexity: Double
    public var top1: Double
    public var top10: Double
    /// Top-1 over predictions whose target is not among the 50 most frequent targets of the collection portion.
    public var top1Skip50: Double
    public var predictions: Int
    /// Top-5, for image classifiers.
    public var top5: Double? = nil

    enum CodingKeys: String, CodingKey {
        case loss, perplexity, top1, top10, top1Skip50 = "top1_skip50", predictions, top5
    }
}

/// Running sums behind `Metrics`; partial sums add (a shard's sums, `scalpel shard`).
public struct MetricSums: Codable, Sendable, Equatable {
    public var loss = 0.0, top1 = 0, top10 = 0, skipHits = 0, skipCount = 0, count = 0

    enum CodingKeys: String, CodingKey {
        case loss, top1, top10, skipHits = "skip_hits", skipCount = "skip_count", count
    }

    public init() {}

    public mutating func add(_ o: MetricSums) {
        loss += o.loss; top1 += o.top1; top10 += o.top10
        skipHits += o.skipHits; skipCount += o.skipCount; count += o.count
    }

    public var metrics: Metrics {
        let n = Double(max(count, 1))
        return Metrics(
            loss: loss / n, perplexity: exp(loss / n), top1: Double(top1) / n, top10: Double(top10) / n,
            top1Skip50: skipCount > 0 ? Double(skipHits) / Double(skipCount) : 0, predictions: count)
    }
}

/// Runs a causal LM over selected windows and measures its next-token predictions.
public struct Evaluator {
    public let model: LanguageModel
    /// Tokens per forward batch (whole windows are packed until this is reached).
    public var batchTokens: Int
    /// Rows of logits computed at once; the LM head never materialises [tokens × vocab].
    public var logitRows: Int

    public init(model: LanguageModel, batchTokens: Int = 4096, logitRows: Int = 512) {
        self.model = model
        self.batchTokens = batchTokens
        self.logitRows = logitRows
    }

    /// Metrics over the selection's predictions. `progress` is told of tokens run. A prediction
    /// whose logits are not finite (NaN or infinite weights or activations) is an error naming the
    /// data set and the prediction, never a score: a NaN logit would compare as "not greater" and count as correct.
    public func evaluate(_ selection: WindowSelection, shardTokens: Int = Shards.defaultTokens, progress: ((Int) -> Void)? = nil) throws
        -> Metrics
    {
        var total = MetricSums()
        for shard in Shards.cut(selection.windows, tokens: shardTokens) {
            total.add(try evaluateShard(selection, windows: shard, progress: progress))
        }
        return total.metrics
    }

    /// The sums of one shard (windows `windows` of the selection), from zero.
    public func evaluateShard(_ selection: WindowSelection, windows: Range<Int>, progress: ((Int) -> Void)? = nil) throws -> MetricSums {
        let frequent = selection.frequentTargets()
        var sums = MetricSums()
        // one chunk of LM-head inputs and logits, reused by every batch
        let chunk = max(1, logitRows)
        let input = Tensor(zeros: [chunk, model.headInputWidth]), logits = Tensor(zeros: [chunk, model.shape.vocabularySize])
        for batch in Batches.pack(Array(selection.windows[windows]), maxTokens: batchTokens) {
            let hidden = model.hiddenStates(batch.map(\.tokens), probe: nil)
            sums.add(
                try score(
                    batch, hidden: hidden, frequent: frequent, input: input, logits: logits,
                    dataSet: "\(selection.path) (data set \(selection.dataSet))"))
            progress?(batch.reduce(0) { $0 + $1.tokens.count })
        }
        return sums
    }

    /// Loss and ranks of the batch's selected predictions, in chunks of `logitRows` rows.
    // input: [chunk, width] and logits: [chunk, V] are scratch
    private func score(_ batch: [Window], hidden: Tensor, frequent: Set<Int>, input: Tensor, logits: Tensor, dataSet: String) throws
        -> MetricSums
    {
        let width = model.headInputWidth, V = model.shape.vocabularySize
        // (row of hidden, target) for every selected prediction
        var rows: [(row: Int, target: Int, prediction: Int)] = []
        var base = 0
        for w in batch {
            for k in w.predictions { rows.append((base + w.position(k), w.target(k), w.firstPrediction + k)) }
            base += w.tokens.count
        }
        let chunk = input.shape[0]
        var sums = MetricSums()
        var start = 0
        while start < rows.count {
            let m = min(chunk, rows.count - start)
            for j in 0..<m {
                (input.pointer + j * width).update(from: hidden.pointer + rows[start + j].row * width, count: width)
            }
            Profile.measure("lm_head") { model.logits(hidden: input.pointer, rows: m, into: logits.pointer) }
            var losses = [Double](repeating: 0, count: m)
            var ranks = [Int](repeating: 0, count: m)
            let lp = SendablePointer(logits.pointer)
            Profile.measure("loss") {
                losses.withUnsafeMutableBufferPointer { lossBuf in
                    ranks.withUnsafeMutableBufferPointer { rankBuf in
                        let l = SendablePointer(lossBuf.baseAddress!), r = SendablePointer(rankBuf.baseAddress!)
                        let targets = rows[start..<(start + m)].map(\.target)
                        Parallel.forEach(m) { j, _ in
                            var rank = 0
                            l.pointer[j] = sc_cross_entropy_rank(lp.pointer + j * V, V, targets[j], &rank)
                            r.pointer[j] = rank
                        }
                    }
                }
            }
            for j in 0..<m {
                let target = rows[start + j].target
                guard losses[j].isFinite else {
                    throw ScalpelError.invalidData(
                        path: dataSet,
                        reason:
                            "prediction \(rows[start + j].prediction) has non-finite logits (loss \(losses[j])): the model's weights or activations hold NaN or infinity; nothing was scored"
                    )
                }
                sums.loss += losses[j]
                sums.count += 1
                if ranks[j] < 1 { sums.top1 += 1 }
                if ranks[j] < 10 { sums.top10 += 1 }
                if !frequent.contains(target) {
                    sums.skipCount += 1
                    if ranks[j] < 1 { sums.skipHits += 1 }
                }
            }
            start += m
        }
        return sums
    }
}

/// Packs windows into batches of at most `maxTokens` tokens (a window larger than that is a batch alone).
public enum Batches {
    public static func pack(_ windows: [Window], maxTokens: Int) -> [[Window]] {
        var batches: [[Window]] = []
        var current: [Window] = []
        var tokens = 0
        for w in windows {
            if !current.isEmpty && tokens + w.tokens.count > maxTokens {
                batches.append(current); current = []; tokens = 0
            }
            current.append(w); tokens += w.tokens.count
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}
