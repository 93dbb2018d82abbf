import CKernels
import Foundation
import ScalpelCore

/// The weights of one transformer layer, in the shapes every architecture maps its checkpoint to.
public struct TransformerLayer {
    public var attentionNorm: Norm
    public var mlpNorm: Norm
    /// q, k and v projections fused: [qWidth + 2·kvWidth, dModel] (layout in `TransformerStack.attention`).
    public var qkv: Linear
    /// The attention output projection: [dModel, heads · headWidth]; its columns are the attention neurons.
    public var out: Linear
    /// [dFF, dModel], or gate and up stacked [2·dFF, dModel] when `gated`.
    public var up: Linear
    /// [dModel, dFF]; its columns are the FF neurons.
    public var down: Linear

    public init(attentionNorm: Norm, mlpNorm: Norm, qkv: Linear, out: Linear, up: Linear, down: Linear) {
        self.attentionNorm = attentionNorm; self.mlpNorm = mlpNorm
        self.qkv = qkv; self.out = out; self.up = up; self.down = down
    }
}

/// The layer stack shared by every architecture: norms before or after each block, sequential or
/// parallel residual, plain or gated MLP, rotary or no position embedding inside attention,
/// causal or bidirectional attention. Each architecture builds its embeddings and head around it.
public final class TransformerStack {
    public enum NormPlacement { case pre, post }
    public enum Residual { case sequential, parallel }

    public let layers: [TransformerLayer]
    public let dModel: Int
    public let ffWidth: Int
    public let attention: CausalAttention.Layout
    public let placement: NormPlacement
    public let residual: Residual
    public let activation: Activation
    public let gated: Bool
    public let rotary: Rotary?
    public let causal: Bool
    /// Scale of QKᵀ per layer (usually 1/√headWidth).
    public let scales: [Float]
    /// Per layer, when pruned FF neurons are compacted out of the matmuls: the order the layer's
    /// FF neurons are stored in (live neurons first) and how many are live. See `Compaction.swift`.
    var ffCompaction: [FFCompaction?]
    /// Per layer and head, whether the head is fully pruned (its attention is then not computed).
    var prunedHeads: [[Bool]]?
    /// Per layer, when fully pruned heads are compacted out of q/k/v and the output projection
    /// (plain multi-head layouts only): the order heads are stored in, live heads first.
    var headCompaction: [HeadCompaction?]
    /// Whether any layer's weights are permuted by compaction (`compact`), so not in checkpoint order.
    var isCompacted: Bool { ffCompaction.contains { $0 != nil } || headCompaction.contains { $0 != nil } }
    private var rotaryCache: (positions: Int, cos: [Float], sin: [Float]) = (0, [], [])
    private let rotaryLock = NSLock()

    /// cos and sin tables covering at least `positions` positions (grown on demand; shared by
    /// forward passes that run at the same time).
    private func rotaryTables(positions: Int, _ rotary: Rotary) -> (cos: [Float], sin: [Float]) {
        rotaryLock.lock()
        defer { rotaryLock.unlock() }
        if rotaryCache.positions < positions {
            let t = rotary.tables(positions: positions)
            rotaryCache = (positions, t.cos, t.sin)
        }
        return (rotaryCache.cos, rotaryCache.sin)
    }

    public init(
        layers: [TransformerLayer], dModel: Int, ffWidth: Int, attention: CausalAttention.Layout,
        placement: NormPlacement, residual: Residual = .sequential, activation: Activation,
        gated: Bool = false, rotary: Rotary? = nil, causal: Bool = true, scales: [Float]? = nil
    ) {
        self.layers = layers; self.dModel = dModel; self.ffWidth = ffWidth; self.attention = attention
        self.placement = placement; self.residual = residual; self.activation = activation
        self.gated = gated; self.rotary = rotary; self.causal = causal
        self.scales = scales ?? [Float](repeating: Float(1.0 / Double(attention.headWidth).squareRoot()), count: layers.count)
        self.ffCompaction = Array(repeating: nil, count: layers.count)
        self.headCompaction = Array(repeating: nil, count: layers.count)
    }

    /// x: [Σ T, dModel] in place, for packed sequences of `lengths`; the probe sees each layer's
    /// FF neurons ([Σ T, dFF]) and attention pre-out neurons ([Σ T, heads · headWidth]).
    /// With a `cache` (one causal sequence only), the rows are positions `cache.length ..< + T`:
    /// their keys and values are appended to the cache and attend to every cached position.
    public func forward(_ x: Tensor, lengths: [Int], probe: ActivationProbe?, cache: KVCache? = nil) {
        precondition(cache == nil || (lengths.count == 1 && causal), "a KVCache holds one causal sequence")
        let past = cache?.length ?? 0
        let n = x.shape[0], d = dModel, f = ffWidth
        let a = attention
        let attnWidth = a.heads * a.headWidth
        let h = Tensor(zeros: [n, d]), o = Tensor(zeros: [n, d])
        let qkv = Tensor(zeros: [n, a.rowStride])
        let attn = Tensor(zeros: [n, attnWidth])
        let upOut = gated ? Tensor(zeros: [n, 2 * f]) : nil
        let ff = Tensor(zeros: [n, f])
        // per call, so that forward passes of one model may run at the same time
        let scratch = (0..<Parallel.threads).map { _ in Scratch() }
        var positions: [Int32] = []
        var tables: (cos: [Float], sin: [Float]) = ([], [])
        if let rotary {
            positions.reserveCapacity(n)
            for t in lengths { positions += (0..<t).map { Int32(past + $0) } }
            tables = rotaryTables(positions: past + (lengths.max() ?? 0), rotary)
        }
        let pre = placement == .pre
        for (i, layer) in layers.enumerated() {
            // attention block
            Profile.measure("norm") {
                if pre {
                    layer.attentionNorm.apply(x.pointer, h.pointer, rows: n, dim: d)
                } else {
                    h.pointer.update(from: x.pointer, count: n * d)
                }
            }
            let hc = headCompaction[i]
            // the layout this layer's q/k/v are computed in: all heads, or only the live ones
            let la = hc.map { CausalAttention.Layout.blocks(heads: $0.live, kvHeads: $0.live, headWidth: a.headWidth) } ?? a
            Profile.measure("qkv") {
                if let hc {
                    compactedQKV(layer, hc, input: h, rows: n, into: qkv)
                } else {
                    layer.qkv(h.pointer, rows: n, into: qkv.pointer)
                }
            }
            if let rotary, la.heads > 0 {
                Profile.measure("rotary") {
                    let half = rotary.dimensions / 2
                    tables.cos.withUnsafeBufferPointer { c in
                        tables.sin.withUnsafeBufferPointer { s in
                            sc_rotary(
                                qkv.pointer + la.qOffset, la.rowStride, n, positions, la.heads, la.headStride, half, c.baseAddress,
                                s.baseAddress)
                            sc_rotary(
                                qkv.pointer + la.kOffset, la.rowStride, n, positions, la.kvHeads, la.headStride, half, c.baseAddress,
                                s.baseAddress)
                        }
                    }
                }
            }
            Profile.measure("attention") {
                if la.heads > 0, let cache {
                    let (keys, values) = cache.append(layer: i, qkv: qkv.pointer, layout: la, rows: n)
                    CausalAttention.forwardCached(
                        qkv: qkv.pointer, layout: la, rows: n, keys: keys, values: values, positions: past + n, scale: scales[i],
                        out: attn.pointer, scratch: scratch, skip: hc == nil ? prunedHeads?[i] : nil)
                } else if la.heads > 0 {
                    CausalAttention.forward(
                        qkv: qkv.pointer, layout: la, lengths: lengths, scale: scales[i],
                        out: attn.pointer, scratch: scratch, causal: causal, skip: hc == nil ? prunedHeads?[i] : nil)
                }
            }
            Profile.measure("probe") { probe?.observeAttention(layer: i, values: attn.pointer, rows: n, neurons: hc?.liveNeurons) }
            Profile.measure("out_proj") {
                if let hc {
                    compactedOut(layer, hc, input: attn, rows: n, into: o)
                } else {
                    layer.out(attn.pointer, rows: n, into: o.pointer)
                }
            }
            if residual == .parallel {
                // x + attn(ln1(x)) + mlp(ln2(x))
                Profile.measure("norm") { layer.mlpNorm.apply(x.pointer, h.pointer, rows: n, dim: d) }
                mlp(layer, layer: i, input: h, rows: n, upOut: upOut, ff: ff, into: h, probe: probe)
                sc_add(x.pointer, o.pointer, n * d)
                sc_add(x.pointer, h.pointer, n * d)
                continue
            }
            Profile.measure("residual") { sc_add(x.pointer, o.pointer, n * d) }
            Profile.measure("norm") {
                if !pre { layer.attentionNorm.apply(x.pointer, x.pointer, rows: n, dim: d) }
                if pre {
                    layer.mlpNorm.apply(x.pointer, h.pointer, rows: n, dim: d)
                } else {
                    h.pointer.update(from: x.pointer, count: n * d)
                }
            }
            mlp(layer, layer: i, input: h, rows: n, upOut: upOut, ff: ff, into: o, probe: probe)
            Profile.measure("residual") { sc_add(x.pointer, o.pointer, n * d) }
            if !pre { Profile.measure("norm") { layer.mlpNorm.apply(x.pointer, x.pointer, rows: n, dim: d) } }
        }
        cache?.advance(n)
    }

    // input: [n, d] → output: [n, d] through up, activation (gated or not), probe, down
    private func mlp(
        _ layer: TransformerLayer, layer i: Int, input: Tensor, rows n: Int, upOut: Tensor?, ff: Tensor,
        into output: Tensor, probe: ActivationProbe?
    ) {
        if let compaction = ffCompaction[i] {
            compactedMLP(layer, layer: i, compaction, input: input, rows: n, upOut: upOut, ff: ff, into: output, probe: probe)
            return
        }
        let f = ffWidth
        if gated, let upOut {
            Profile.measure("up") { layer.up(input.pointer, rows: n, into: upOut.pointer) }
            Profile.measure("activation") { sc_gated(upOut.pointer, ff.pointer, n, f, activation.gatedKind) }
        } else {
            Profile.measure("up") { layer.up(input.pointer, rows: n, into: ff.pointer) }
            Profile.measure("activation") { activation.apply(ff.pointer, count: n * f) }
        }
        Profile.measure("probe") { probe?.observeFF(layer: i, values: ff.pointer, rows: n, neurons: nil) }
        Profile.measure("down") { layer.down(ff.pointer, rows: n, into: output.pointer) }
    }
}

extension Activation {
    /// The `sc_gated` code of this activation.
    var gatedKind: Int32 {
        switch self {
        case .silu, .swish: return 0
        case .gelu: return 1
        case .geluNew, .geluTanh: return 2
        case .relu: return 3
        }
    }
}

/// An architecture built on one `TransformerStack`: its pruning hooks are the stack's output projections.
protocol StackBacked: PrunableModel {
    var stack: TransformerStack { get }
}

extension StackBacked {
    // Pruning edits columns by neuron index: the layer must be in its checkpoint's layout, not
    // permuted by compaction (callers expand first; this checks it rather than assuming it).
    public func ffOutput(layer: Int) -> OutputProjection {
        precondition(
            stack.ffCompaction[layer] == nil,
            "FF output of layer \(layer) asked for while its neurons are compacted; call compact(nil) first")
        return OutputProjection(weight: stack.layers[layer].down.weight, bias: stack.layers[layer].down.bias)
    }
    public func attentionOutput(layer: Int) -> OutputProjection {
        precondition(
            stack.headCompaction[layer] == nil,
            "attention output of layer \(layer) asked for while its heads are compacted; call compact(nil) first")
        return OutputProjection(weight: stack.layers[layer].out.weight, bias: stack.layers[layer].out.bias)
    }
}

/// A language model whose LM head is one [vocabulary, headInputWidth] matrix.
protocol MatrixHead: LanguageModel {
    var head: Tensor { get }
}

extension MatrixHead {
    public func logits(hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        Linear(weight: head)(hidden, rows: rows, into: logits)
    }
}

/// A decoder whose positions live inside attention (rotary): token embedding, the stack, a final norm.
protocol RotaryDecoder: MatrixHead, StackBacked {
    var embedding: Tensor { get }
    var finalNorm: Norm { get }
    var dModel: Int { get }
}

extension RotaryDecoder {
    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?, cache: KVCache?) -> Tensor {
        let x = Embedding.gather(embedding, sequences)
        stack.forward(x, lengths: sequences.map(\.count), probe: probe, cache: cache)
        finalNorm.apply(x.pointer, x.pointer, rows: x.shape[0], dim: dModel)
        return x
    }
}
