import CKernels
import Foundation
import ScalpelCore

/// How one layer's FF neurons are stored while compacted: `order[p]` is the neuron whose up row
/// (gate and up rows, when gated) and down column sit at position p; the first `live` are unpruned.
struct FFCompaction {
    let order: [Int32]
    let live: Int
    /// `order[0..<live]`, handed to the probe.
    let liveNeurons: [Int32]
}

/// How one layer's heads are stored while fully pruned heads are compacted out: `order[p]` is the
/// head whose q, k, v rows and output-projection columns sit at position p; the first `live` are kept.
struct HeadCompaction {
    let order: [Int32]
    let live: Int
    /// The attention neurons (head · headWidth + j) of the live heads, in stored order, for the probe.
    let liveNeurons: [Int32]
}

extension TransformerStack {
    /// Whether heads can be compacted out of q/k/v: q, k and v as separate blocks, one k/v head per
    /// query head (grouped-query and GPT-NeoX's interleaved layouts only skip the attention itself).
    var headsCompactable: Bool {
        let a = attention
        return a.kvHeads == a.heads && a.headStride == a.headWidth && a.qOffset == 0
            && a.kOffset == a.heads * a.headWidth && a.vOffset == 2 * a.heads * a.headWidth && a.rowStride == 3 * a.heads * a.headWidth
    }

    /// Compacts pruned neurons out of the forward pass, or (nil) restores the checkpoint layout.
    /// Reorders in place: no copy of the weights is kept.
    func compact(_ pruned: PrunedNeurons?) {
        for i in layers.indices {
            if let c = ffCompaction[i] {
                permute(layer: i, order: inverse(c.order))
                ffCompaction[i] = nil
            }
            if let c = headCompaction[i] {
                permuteHeads(layer: i, order: inverse(c.order))
                headCompaction[i] = nil
            }
        }
        prunedHeads = nil
        guard let pruned else { return }
        precondition(
            pruned.ff.count == layers.count && pruned.heads.count == layers.count, "pruned neurons do not match the model's layers")
        for i in layers.indices {
            let mask = pruned.ff[i]
            let live = (0..<ffWidth).filter { !mask[$0] }.map(Int32.init)
            guard live.count < ffWidth else { continue }
            let order = live + (0..<ffWidth).filter { mask[$0] }.map(Int32.init)
            permute(layer: i, order: order)
            ffCompaction[i] = FFCompaction(order: order, live: live.count, liveNeurons: live)
        }
        guard pruned.heads.contains(where: { $0.contains(true) }) else { return }
        guard headsCompactable else { prunedHeads = pruned.heads; return }
        let dh = attention.headWidth
        for i in layers.indices {
            let mask = pruned.heads[i]
            let live = (0..<attention.heads).filter { !mask[$0] }.map(Int32.init)
            guard live.count < attention.heads else { continue }
            let order = live + (0..<attention.heads).filter { mask[$0] }.map(Int32.init)
            permuteHeads(layer: i, order: order)
            let neurons = live.flatMap { h in (0..<dh).map { Int32(Int(h) * dh + $0) } }
            headCompaction[i] = HeadCompaction(order: order, live: live.count, liveNeurons: neurons)
        }
    }

    // Reorders heads of one layer: the head now at position order[p] moves to position p.
    // qkv: [3·H·dh, d] rows within each of the q, k, v blocks, and its bias; out: [d, H·dh] columns.
    private func permuteHeads(layer i: Int, order: [Int32]) {
        let layer = layers[i]
        let H = attention.heads, dh = attention.headWidth, d = layer.qkv.inFeatures
        let block = H * dh
        let tmp = UnsafeMutableRawPointer.allocate(byteCount: block * d * 4, alignment: 64)
        defer { tmp.deallocate() }
        let q = layer.qkv.weight, o = layer.out.weight
        for part in 0..<3 {
            reorder(q.raw + part * block * d * q.dtype.size, groupBytes: dh * d * q.dtype.size, order: order, tmp: tmp)
            if let b = layer.qkv.bias { reorder(b.raw + part * block * 4, groupBytes: dh * 4, order: order, tmp: tmp) }
        }
        for r in 0..<layer.out.outFeatures {
            reorder(o.raw + r * block * o.dtype.size, groupBytes: dh * o.dtype.size, order: order, tmp: tmp)
        }
    }

    // input: [n, d] → qkv: [n, 3·live·dh] holding q, k, v of the live heads (CausalAttention.Layout.blocks(live)):
    // rows [0, live·dh) of each of the q, k, v blocks of the (reordered) projection.
    func compactedQKV(_ layer: TransformerLayer, _ c: HeadCompaction, input: Tensor, rows n: Int, into qkv: Tensor) {
        let H = attention.heads, dh = attention.headWidth, d = layer.qkv.inFeatures
        let w = c.live * dh, ld = 3 * w
        guard w > 0 else { return }
        for part in 0..<3 {
            BLAS.gemm(
                m: n, n: w, k: d, a: input.pointer, lda: d, weight: layer.qkv.weight, offset: part * H * dh * d, ldb: d,
                c: qkv.pointer + part * w, ldc: ld, bias: layer.qkv.bias.map { $0.pointer + part * H * dh })
        }
    }

    // attn: [n, live·dh] → o: [n, dOut] through the first live·dh columns of the (reordered) output projection.
    func compactedOut(_ layer: TransformerLayer, _ c: HeadCompaction, input: Tensor, rows n: Int, into o: Tensor) {
        let w = c.live * attention.headWidth, dOut = layer.out.outFeatures
        BLAS.gemm(
            m: n, n: dOut, k: w, a: input.pointer, lda: max(w, 1), weight: layer.out.weight, ldb: layer.out.inFeatures,
            c: o.pointer, ldc: dOut, bias: layer.out.bias?.pointer)
    }

    private func inverse(_ order: [Int32]) -> [Int32] {
        var inv = [Int32](repeating: 0, count: order.count)
        for (p, n) in order.enumerated() { inv[Int(n)] = Int32(p) }
        return inv
    }

    // Reorders FF neurons of one layer: the neuron now at position order[p] moves to position p.
    // up: [f or 2f, d] rows (gate and up halves alike), its bias; down: [d, f] columns.
    private func permute(layer i: Int, order: [Int32]) {
        let f = ffWidth
        let layer = layers[i]
        let d = layer.up.inFeatures
        let tmp = UnsafeMutableRawPointer.allocate(byteCount: f * d * 4, alignment: 64)
        defer { tmp.deallocate() }
        let up = layer.up.weight, down = layer.down.weight
        for half in 0..<(gated ? 2 : 1) {
            reorder(up.raw + half * f * d * up.dtype.size, groupBytes: d * up.dtype.size, order: order, tmp: tmp)
            if let b = layer.up.bias { reorder(b.raw + half * f * 4, groupBytes: 4, order: order, tmp: tmp) }
        }
        for r in 0..<layer.down.outFeatures {
            reorder(down.raw + r * f * down.dtype.size, groupBytes: down.dtype.size, order: order, tmp: tmp)
        }
    }

    // input: [n, d] → output: [n, dOut] through the `live` first (unpruned) FF neurons only:
    // up rows [0, live) (and [f, f + live) when gated), activation, probe, down columns [0, live).
    func compactedMLP(
        _ layer: TransformerLayer, layer i: Int, _ c: FFCompaction, input: Tensor, rows n: Int,
        upOut: Tensor?, ff: Tensor, into output: Tensor, probe: ActivationProbe?
    ) {
        let f = ffWidth, live = c.live
        let d = layer.up.inFeatures, dOut = layer.down.outFeatures
        Profile.measure("up") {
            if gated, let upOut {
                // upOut: [n, 2·live] = gate part | up part, so sc_gated reads it as a [n, 2·live] gate/up matrix
                for half in 0..<2 {
                    BLAS.gemm(
                        m: n, n: live, k: d, a: input.pointer, lda: d, weight: layer.up.weight, offset: half * f * d, ldb: d,
                        c: upOut.pointer + half * live, ldc: 2 * live,
                        bias: layer.up.bias.map { $0.pointer + half * f })
                }
            } else {
                BLAS.gemm(
                    m: n, n: live, k: d, a: input.pointer, lda: d, weight: layer.up.weight, ldb: d,
                    c: ff.pointer, ldc: live, bias: layer.up.bias?.pointer)
            }
        }
        Profile.measure("activation") {
            if gated, let upOut {
                sc_gated(upOut.pointer, ff.pointer, n, live, activation.gatedKind)
            } else {
                activation.apply(ff.pointer, count: n * live)
            }
        }
        Profile.measure("probe") { probe?.observeFF(layer: i, values: ff.pointer, rows: n, neurons: c.liveNeurons) }
        Profile.measure("down") {
            BLAS.gemm(
                m: n, n: dOut, k: live, a: ff.pointer, lda: max(live, 1), weight: layer.down.weight, ldb: f,
                c: output.pointer, ldc: dOut, bias: layer.down.bias?.pointer)
        }
    }
}

// x: order.count groups of `groupBytes` bytes, in place: group p becomes the group that was at
// order[p]. tmp: at least order.count · groupBytes bytes.
private func reorder(_ x: UnsafeMutableRawPointer, groupBytes: Int, order: [Int32], tmp: UnsafeMutableRawPointer) {
    tmp.copyMemory(from: x, byteCount: order.count * groupBytes)
    switch groupBytes {
    case 4:
        let dst = x.assumingMemoryBound(to: UInt32.self), src = tmp.assumingMemoryBound(to: UInt32.self)
        for p in order.indices { dst[p] = src[Int(order[p])] }
    case 2:
        let dst = x.assumingMemoryBound(to: UInt16.self), src = tmp.assumingMemoryBound(to: UInt16.self)
        for p in order.indices { dst[p] = src[Int(order[p])] }
    default:
        for p in order.indices { (x + p * groupBytes).copyMemory(from: tmp + Int(order[p]) * groupBytes, byteCount: groupBytes) }
    }
}

extension StackBacked {
    public func compact(_ pruned: PrunedNeurons?) { stack.compact(pruned) }
}
