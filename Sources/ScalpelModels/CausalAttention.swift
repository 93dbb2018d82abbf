import CKernels
import ScalpelCore

/// Causal multi-head attention over packed sequences, shared by every decoder architecture.
public enum CausalAttention {
    /// Where q, k and v sit inside one projected matrix.
    public struct Layout {
        /// Row stride of the projected matrix.
        public var rowStride: Int
        public var qOffset: Int, kOffset: Int, vOffset: Int
        public var heads: Int, kvHeads: Int, headWidth: Int
        /// Distance between successive heads' q (and k, v) inside a row: headWidth when q, k, v
        /// are separate blocks, 3·headWidth when each head holds its q, k, v together (GPT-NeoX).
        public var headStride: Int
        public init(
            rowStride: Int, qOffset: Int, kOffset: Int, vOffset: Int, heads: Int, kvHeads: Int, headWidth: Int, headStride: Int? = nil
        ) {
            self.rowStride = rowStride; self.qOffset = qOffset; self.kOffset = kOffset; self.vOffset = vOffset
            self.heads = heads; self.kvHeads = kvHeads; self.headWidth = headWidth
            self.headStride = headStride ?? headWidth
        }

        /// q, then k, then v, each heads × headWidth (kv: kvHeads × headWidth) wide.
        public static func blocks(heads: Int, kvHeads: Int, headWidth: Int) -> Layout {
            Layout(
                rowStride: (heads + 2 * kvHeads) * headWidth, qOffset: 0, kOffset: heads * headWidth,
                vOffset: (heads + kvHeads) * headWidth, heads: heads, kvHeads: kvHeads, headWidth: headWidth)
        }
    }

    /// qkv: [N, rowStride] (N = Σ lengths) → out: [N, heads · headWidth].
    /// For each sequence s and head h: out_sh = softmax(scale · Q_sh K_shᵀ (+ causal mask)) · V_sh,
    /// where query head h reads key/value head h / (heads / kvHeads) (grouped-query attention).
    /// Heads with `skip[h]` (fully pruned) are not computed: their output columns are set to 0.
    public static func forward(
        qkv: UnsafePointer<Float>, layout: Layout, lengths: [Int], scale: Float,
        out: UnsafeMutablePointer<Float>, scratch: [Scratch], causal: Bool = true, skip: [Bool]? = nil
    ) {
        var starts: [Int] = []
        var row = 0
        for t in lengths { starts.append(row); row += t }
        let heads = layout.heads, dh = layout.headWidth, ld = layout.rowStride
        let group = heads / layout.kvHeads
        let outStride = heads * dh
        let o = SendablePointer(out)
        let tasks = lengths.count * heads
        Parallel.forEach(tasks) { task, worker in
            let s = task / heads, h = task % heads
            let T = lengths[s]
            if T == 0 { return }
            let base = qkv + starts[s] * ld
            let q = base + layout.qOffset + h * layout.headStride
            let k = base + layout.kOffset + (h / group) * layout.headStride
            let v = base + layout.vOffset + (h / group) * layout.headStride
            let out = o.pointer + starts[s] * outStride + h * dh
            if let skip, skip[h] {
                for r in 0..<T { (out + r * outStride).update(repeating: 0, count: dh) }
                return
            }
            let buffer = scratch[worker].reserve(sc_attention_scratch(T, dh))
            sc_attention_head(q, k, v, ld, T, dh, scale, causal ? 1 : 0, out, outStride, buffer)
        }
    }
    /// Attention of one sequence's T new rows against every cached position (incremental decoding).
    /// qkv: [T, rowStride] (the new rows; their k and v are already in the cache);
    /// keys, values: [P, kvHeads · headWidth], P = past + T → out: [T, heads · headWidth].
    /// Query row i is position past + i and sees keys 0...past + i.
    static func forwardCached(
        qkv: UnsafePointer<Float>, layout: Layout, rows T: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        positions P: Int, scale: Float, out: UnsafeMutablePointer<Float>, scratch: [Scratch], skip: [Bool]? = nil
    ) {
        let heads = layout.heads, dh = layout.headWidth
        let group = heads / layout.kvHeads, kvWidth = layout.kvHeads * dh
        let outStride = heads * dh
        let o = SendablePointer(out)
        Parallel.forEach(heads) { h, worker in
            let out = o.pointer + h * dh
            if let skip, skip[h] {
                for r in 0..<T { (out + r * outStride).update(repeating: 0, count: dh) }
                return
            }
            let q = qkv + layout.qOffset + h * layout.headStride
            let kv = (h / group) * dh
            let buffer = scratch[worker].reserve(sc_attention_scratch(P, dh))
            sc_attention_head_past(q, layout.rowStride, T, keys + kv, values + kv, kvWidth, P, dh, scale, 1, out, outStride, buffer)
        }
    }
}
