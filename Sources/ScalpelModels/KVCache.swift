import ScalpelCore

/// The keys and values a decoder has computed for one sequence, kept so that each new token
/// costs one row of matmuls and its attention over the cached positions (incremental decoding).
///
/// Pass the same cache to successive `hiddenStates(_:probe:cache:)` calls of one model with one
/// sequence each: the first call is the prompt, each later one the tokens generated since. Keys
/// are stored after the rotary embedding, so positions are those of the whole sequence.
public final class KVCache {
    /// Positions already in the cache: the next token's position.
    public private(set) var length = 0
    /// Per layer: keys and values [capacity, width], width = cached heads × headWidth (Float32).
    private var keys: [Tensor?]
    private var values: [Tensor?]
    private var capacity: Int

    /// An empty cache for a model of `layers` layers, sized for `capacity` positions (it grows if needed).
    public init(layers: Int, capacity: Int = 256) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
        self.capacity = max(1, capacity)
    }

    /// Layer `layer`'s keys and values for positions 0..<length + rows, after appending `rows`
    /// new rows of k and v from a projected q/k/v matrix in `layout` (the rows of the call in flight).
    /// Returns the key and value base pointers (row stride `layout.kvHeads · headWidth`).
    func append(
        layer: Int, qkv: UnsafePointer<Float>, layout: CausalAttention.Layout, rows: Int
    ) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        let dh = layout.headWidth, width = layout.kvHeads * dh
        if length + rows > capacity {
            var grown = capacity
            while grown < length + rows { grown *= 2 }
            keys = keys.map { $0.map { Self.resized($0, rows: grown) } }
            values = values.map { $0.map { Self.resized($0, rows: grown) } }
            capacity = grown
        }
        let k = keys[layer] ?? Tensor(zeros: [capacity, width])
        let v = values[layer] ?? Tensor(zeros: [capacity, width])
        keys[layer] = k; values[layer] = v
        precondition(k.shape[1] == width, "KVCache: layer \(layer) changed its cached heads between calls")
        // k, v of row r, head h sit at qkv[r·rowStride + k/vOffset + h·headStride ..< + dh]
        for r in 0..<rows {
            let source = qkv + r * layout.rowStride
            let target = (length + r) * width
            for h in 0..<layout.kvHeads {
                (k.pointer + target + h * dh).update(from: source + layout.kOffset + h * layout.headStride, count: dh)
                (v.pointer + target + h * dh).update(from: source + layout.vOffset + h * layout.headStride, count: dh)
            }
        }
        return (UnsafePointer(k.pointer), UnsafePointer(v.pointer))
    }

    /// Marks `rows` positions appended by every layer as cached.
    func advance(_ rows: Int) { length += rows }

    private static func resized(_ t: Tensor, rows: Int) -> Tensor {
        let out = Tensor(zeros: [rows, t.shape[1]])
        out.pointer.update(from: t.pointer, count: t.count)
        return out
    }
}
