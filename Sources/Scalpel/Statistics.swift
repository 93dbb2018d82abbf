import CKernels
import Foundation
import ScalpelCore
import ScalpelModels

/// The two kinds of neuron (METHOD.md §1).
public enum NeuronKind: String, CaseIterable, Sendable {
    /// FF neurons: `[layers, ffWidth]`.
    case ff
    /// Attention pre-out neurons: `[layers, heads, headWidth]`.
    case attn
}

extension ModelShape {
    /// Neurons of `kind` in one layer: d_ff, or heads · d_head.
    public func width(_ kind: NeuronKind) -> Int { kind == .ff ? ffWidth : heads * headWidth }
    /// Neurons of `kind` in the whole model.
    public func neurons(_ kind: NeuronKind) -> Int { layers * width(kind) }
}

extension PrunableModel {
    /// The projection whose input columns are `kind`'s neurons of `layer` (pruning edits it in place).
    public func outputProjection(_ kind: NeuronKind, layer: Int) -> OutputProjection {
        kind == .ff ? ffOutput(layer: layer) : attentionOutput(layer: layer)
    }
}

/// Float64 sums of one kind of neuron over N positions (METHOD.md §2); partial sums merge by addition.
public struct NeuronSums: Sendable, Equatable {
    /// `[layers, ...]`: `[L, dFF]` or `[L, heads, dHead]`.
    public let shape: [Int]
    /// Positions seen, per layer.
    public var count: [Double]
    public var sum: [Double], sumAbs: [Double], sumSqrt: [Double], sumSquares: [Double], countPositive: [Double]

    public init(shape: [Int]) {
        self.shape = shape
        let n = shape.reduce(1, *)
        count = [Double](repeating: 0, count: shape[0])
        sum = [Double](repeating: 0, count: n)
        sumAbs = sum; sumSqrt = sum; sumSquares = sum; countPositive = sum
    }

    /// Neurons per layer.
    public var width: Int { shape.dropFirst().reduce(1, *) }
    public var neuronCount: Int { sum.count }

    /// Adds another set of sums of the same shape.
    public mutating func merge(_ other: NeuronSums) throws {
        guard other.shape == shape else {
            throw ScalpelError.invalidArgument("cannot merge statistics of shape \(other.shape) into \(shape)")
        }
        for i in 0..<count.count { count[i] += other.count[i] }
        for i in 0..<sum.count {
            sum[i] += other.sum[i]; sumAbs[i] += other.sumAbs[i]; sumSqrt[i] += other.sumSqrt[i]
            sumSquares[i] += other.sumSquares[i]; countPositive[i] += other.countPositive[i]
        }
    }

    private func perNeuron(_ f: (_ i: Int, _ n: Double) -> Double) -> [Double] {
        let w = width
        return (0..<sum.count).map { i in
            let n = count[i / w]
            return n > 0 ? f(i, n) : 0
        }
    }

    /// Fraction of positions with activation > 0.
    public var freq: [Double] { perNeuron { countPositive[$0] / $1 } }
    /// Mean of |a|.
    public var abs: [Double] { perNeuron { sumAbs[$0] / $1 } }
    /// Mean of √|a|.
    public var sqrt: [Double] { perNeuron { sumSqrt[$0] / $1 } }
    /// √(mean of a²).
    public var rms: [Double] { perNeuron { (sumSquares[$0] / $1).squareRoot() } }
    /// Mean of a.
    public var mean: [Double] { perNeuron { sum[$0] / $1 } }
    /// Sample standard deviation of a (n − 1 in the denominator; 0 when n < 2).
    public var std: [Double] {
        perNeuron { i, n in
            guard n > 1 else { return 0 }
            let m = sum[i] / n
            return Swift.max(0, (sumSquares[i] - n * m * m) / (n - 1)).squareRoot()
        }
    }

    static let tensorNames = ["count", "sum", "sum_abs", "sum_sqrt", "sum_sq", "count_pos"]
}

/// Statistics of both kinds of neuron over one data set.
public struct Statistics: Sendable, Equatable {
    public var ff: NeuronSums
    public var attn: NeuronSums

    public init(shape: ModelShape) {
        ff = NeuronSums(shape: [shape.layers, shape.ffWidth])
        attn = NeuronSums(shape: [shape.layers, shape.heads, shape.headWidth])
    }

    public subscript(kind: NeuronKind) -> NeuronSums {
        get { kind == .ff ? ff : attn }
        set { if kind == .ff { ff = newValue } else { attn = newValue } }
    }

    public mutating func merge(_ other: Statistics) throws {
        try ff.merge(other.ff)
        try attn.merge(other.attn)
    }

    /// Adds sums of the same model (shapes known equal).
    mutating func add(_ other: Statistics) {
        do { try merge(other) } catch { preconditionFailure("statistics of one model have one shape: \(error)") }
    }

    /// Tensors `ff.count` ([L]), `ff.sum`, `ff.sum_abs`, `ff.sum_sqrt`, `ff.sum_sq`, `ff.count_pos`
    /// ([L, dFF]) and the same under `attn.` ([L, heads, dHead]), all F64.
    public func records() -> [TensorRecord] {
        var out: [TensorRecord] = []
        for kind in NeuronKind.allCases {
            let s = self[kind]
            let arrays = [s.count, s.sum, s.sumAbs, s.sumSqrt, s.sumSquares, s.countPositive]
            for (name, values) in zip(NeuronSums.tensorNames, arrays) {
                out.append(TensorRecord(name: "\(kind.rawValue).\(name)", shape: name == "count" ? [s.shape[0]] : s.shape, doubles: values))
            }
        }
        return out
    }

    public func write(to path: String, metadata: [String: String] = [:]) throws {
        try SafetensorsWriter.write(records(), metadata: metadata, to: path)
    }

    /// Reads a file written by `write(to:)`.
    public init(path: String) throws { try self.init(file: SafetensorsFile(path: path)) }

    /// Reads a statistics file already opened.
    public init(file: SafetensorsFile) throws {
        let path = file.path
        func read(_ kind: NeuronKind) throws -> NeuronSums {
            guard let info = file.tensors["\(kind.rawValue).sum"] else {
                throw ScalpelError.invalidFile(path: path, reason: "not a statistics file: no tensor '\(kind.rawValue).sum'")
            }
            var s = NeuronSums(shape: info.shape)
            var arrays: [[Double]] = []
            for name in NeuronSums.tensorNames {
                let full = "\(kind.rawValue).\(name)"
                guard let t = file.tensors[full] else { throw ScalpelError.missingTensor(path: path, name: full) }
                let expected = name == "count" ? [info.shape[0]] : info.shape
                guard t.shape == expected, t.dtype == .f64 else {
                    throw ScalpelError.wrongShape(path: path, name: full, expected: expected, found: t.shape)
                }
                let raw = file.rawBytes(t)
                arrays.append((0..<(t.end - t.start) / 8).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) })
            }
            s.count = arrays[0]; s.sum = arrays[1]; s.sumAbs = arrays[2]
            s.sumSqrt = arrays[3]; s.sumSquares = arrays[4]; s.countPositive = arrays[5]
            return s
        }
        ff = try read(.ff)
        attn = try read(.attn)
    }
}

extension Statistics {
    /// Throws, naming `source`, unless every sum is finite and the counts are whole, non-negative
    /// and the same for both kinds: NaN activations or a tampered file must never reach selection.
    public func validate(_ source: String) throws {
        for kind in NeuronKind.allCases {
            let s = self[kind]
            for (name, values) in zip(NeuronSums.tensorNames, [s.count, s.sum, s.sumAbs, s.sumSqrt, s.sumSquares, s.countPositive]) {
                if let bad = values.first(where: { !$0.isFinite }) {
                    throw ScalpelError.invalidData(
                        path: source,
                        reason: "\(kind.rawValue).\(name) holds \(bad): the model's activations are not finite (NaN or infinite weights)")
                }
            }
            for n in s.count where n < 0 || n != n.rounded() {
                throw ScalpelError.invalidData(path: source, reason: "\(kind.rawValue).count holds \(n), not a count of positions")
            }
            for i in s.sum.indices {
                let n = s.count[i / s.width]
                guard s.sumAbs[i] >= 0, s.sumSqrt[i] >= 0, s.sumSquares[i] >= 0, s.countPositive[i] >= 0, s.countPositive[i] <= n,
                    Swift.abs(s.sum[i]) <= s.sumAbs[i] * (1 + 1e-9) + 1e-300
                else {
                    throw ScalpelError.invalidData(
                        path: source,
                        reason:
                            "\(kind.rawValue) sums of neuron \(i) are inconsistent (e.g. |sum| > sum of |a|, or more positive positions than positions)"
                    )
                }
            }
        }
        if ff.count != attn.count {
            throw ScalpelError.invalidData(
                path: source, reason: "ff.count and attn.count differ: the sums do not come from the same positions")
        }
    }

    /// Sets every pruned neuron's sums to those of its replacement value (0, or its offset) at
    /// every position: a pruned neuron's activation *is* that value (METHOD.md §5), whether or not it
    /// was computed (compaction skips it).
    public mutating func setPruned(_ mask: Mask) {
        for kind in NeuronKind.allCases {
            var s = self[kind]
            let steps = mask.steps(kind), offsets = mask.offsets(kind)
            let width = s.width
            for i in steps.indices where steps[i] != 0 {
                let n = s.count[i / width], c = Double(offsets[i])
                s.sum[i] = n * c; s.sumAbs[i] = n * Swift.abs(c); s.sumSqrt[i] = n * Swift.abs(c).squareRoot()
                s.sumSquares[i] = n * c * c; s.countPositive[i] = c > 0 ? n : 0
            }
            self[kind] = s
        }
    }
}

/// The probe that accumulates `Statistics` during forward passes, over chosen rows only.
public final class StatisticsCollector: ActivationProbe {
    public private(set) var statistics: Statistics
    /// Packed rows to include in the current batch.
    var rows: [Range<Int>] = []

    public init(shape: ModelShape) { statistics = Statistics(shape: shape) }

    public func observeFF(layer: Int, values: UnsafePointer<Float>, rows n: Int, neurons: [Int32]?) {
        observe(&statistics.ff, layer: layer, values: values, neurons: neurons)
    }

    public func observeAttention(layer: Int, values: UnsafePointer<Float>, rows n: Int, neurons: [Int32]?) {
        observe(&statistics.attn, layer: layer, values: values, neurons: neurons)
    }

    private func observe(_ s: inout NeuronSums, layer: Int, values: UnsafePointer<Float>, neurons: [Int32]?) {
        guard let neurons else { accumulate(&s, layer: layer, values: values); return }
        // compacted: column j is neuron neurons[j]; sum into a [1, live] scratch, then scatter-add
        var part = NeuronSums(shape: [1, neurons.count])
        if !neurons.isEmpty {
            accumulate(&part, layer: 0, values: values)
        } else {
            part.count[0] += Double(rows.reduce(0) { $0 + $1.count })
        }
        let base = layer * s.width
        s.count[layer] += part.count[0]
        for (j, neuron) in neurons.enumerated() {
            let i = base + Int(neuron)
            s.sum[i] += part.sum[j]; s.sumAbs[i] += part.sumAbs[j]
            s.sumSqrt[i] += part.sumSqrt[j]; s.sumSquares[i] += part.sumSquares[j]
            s.countPositive[i] += part.countPositive[j]
        }
    }

    // values: [n, width] → sums[layer, :] over the selected rows; columns split across workers,
    // each neuron summed in a fixed order of rows (identical for any thread count).
    private func accumulate(_ s: inout NeuronSums, layer: Int, values: UnsafePointer<Float>) {
        let width = s.width
        let base = layer * width
        s.count[layer] += Double(rows.reduce(0) { $0 + $1.count })
        let ranges = rows
        s.sum.withUnsafeMutableBufferPointer { sum in
            s.sumAbs.withUnsafeMutableBufferPointer { sa in
                s.sumSqrt.withUnsafeMutableBufferPointer { sq in
                    s.sumSquares.withUnsafeMutableBufferPointer { ss in
                        s.countPositive.withUnsafeMutableBufferPointer { cp in
                            let ptrs = (
                                SendablePointer(sum.baseAddress! + base), SendablePointer(sa.baseAddress! + base),
                                SendablePointer(sq.baseAddress! + base), SendablePointer(ss.baseAddress! + base),
                                SendablePointer(cp.baseAddress! + base)
                            )
                            let blocks = (width + 255) / 256
                            Parallel.forEach(blocks) { b, _ in
                                let c0 = b * 256, c1 = Swift.min(width, c0 + 256)
                                for r in ranges {
                                    sc_accumulate_stats(
                                        values, width, r.lowerBound, r.upperBound, c0, c1,
                                        ptrs.0.pointer, ptrs.1.pointer, ptrs.2.pointer, ptrs.3.pointer, ptrs.4.pointer)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension StatisticsCollector {
    /// Statistics over the input positions of the selection's predictions (METHOD.md §6), without
    /// the LM head: each shard's sums from zero (`collectShard`), added in shard order.
    public static func collect(
        _ model: LanguageModel, _ selection: WindowSelection, batchTokens: Int = 4096, shardTokens: Int = Shards.defaultTokens,
        progress: ((Int) -> Void)? = nil
    ) -> Statistics {
        var total = Statistics(shape: model.shape)
        for shard in Shards.cut(selection.windows, tokens: shardTokens) {
            total.add(collectShard(model, Array(selection.windows[shard]), batchTokens: batchTokens, progress: progress))
        }
        return total
    }

    /// Statistics of one shard's windows, from zero.
    public static func collectShard(
        _ model: LanguageModel, _ windows: [Window], batchTokens: Int = 4096, progress: ((Int) -> Void)? = nil
    ) -> Statistics {
        let collector = StatisticsCollector(shape: model.shape)
        for batch in Batches.pack(windows, maxTokens: batchTokens) {
            var rows: [Range<Int>] = []
            var base = 0
            for w in batch {
                if w.maskedPositions == nil {
                    // causal: prediction k is made at input position k
                    rows.append((base + w.predictions.lowerBound)..<(base + w.predictions.upperBound))
                } else {
                    // masked: at the masked positions themselves
                    for k in w.predictions { rows.append((base + w.position(k))..<(base + w.position(k) + 1)) }
                }
                base += w.tokens.count
            }
            collector.rows = rows
            _ = model.hiddenStates(batch.map(\.tokens), probe: collector)
            progress?(base)
        }
        return collector.statistics
    }
}
