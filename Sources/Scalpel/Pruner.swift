import Foundation
import ScalpelCore
import ScalpelModels

/// Applies pruning to a model's own weights (METHOD.md §5): neuron i's activation is replaced by
/// `offset` (0, or its retain-set mean) by adding `W[:, i] · offset` to the output projection's
/// bias and zeroing column i of W. Exact for any activation function.
public enum Pruner {
    /// What `apply` changed, so a step can be undone.
    public struct Undo {
        fileprivate var columns: [(projection: OutputProjection, column: Int, values: [Float])] = []
        fileprivate var biases: [(projection: OutputProjection, values: [Float])] = []
    }

    /// Prunes `neurons` (flat indices into `[L, width]` of `kind`) in index order.
    @discardableResult
    public static func apply(_ model: PrunableModel, kind: NeuronKind, neurons: [Int], offsets: (Int) -> Float) -> Undo {
        model.compact(nil)
        var undo = Undo()
        let width = model.shape.width(kind)
        var savedBias = Set<Int>()
        for i in neurons.sorted() {
            let layer = i / width, column = i % width
            let proj = model.outputProjection(kind, layer: layer)
            let w = proj.weight  // Float32 or BF16; the offset arithmetic is Float32 either way
            let rows = w.shape[0], cols = w.shape[1]
            undo.columns.append((proj, column, (0..<rows).map { w.float(at: $0 * cols + column) }))
            let offset = offsets(i)
            if offset != 0, let bias = proj.bias {
                if !savedBias.contains(layer) {
                    undo.biases.append((proj, bias.values))
                    savedBias.insert(layer)
                }
                for r in 0..<rows { bias.pointer[r] += w.float(at: r * cols + column) * offset }
            }
            for r in 0..<rows { w.set(0, at: r * cols + column) }
        }
        return undo
    }

    /// Restores what `apply` changed (the model must not be compacted).
    public static func revert(_ undo: Undo) {
        for (proj, column, values) in undo.columns {
            let cols = proj.weight.shape[1]
            // BF16 values came from the tensor, so storing them back is exact
            for (r, v) in values.enumerated() { proj.weight.set(v, at: r * cols + column) }
        }
        for (proj, values) in undo.biases {
            // undo records a bias only for a projection that has one
            proj.bias?.pointer.update(from: values, count: values.count)
        }
    }

    /// Replays a mask onto a freshly loaded model: step by step, FF then attention, in index
    /// order, exactly as the run applied it.
    public static func replay(_ mask: Mask, onto model: PrunableModel) {
        guard mask.lastStep > 0 else { return }
        for step in 1...mask.lastStep {
            apply(model, kind: .ff, neurons: mask.pruned(.ff, atStep: step)) { mask.ffOffset[$0] }
            apply(model, kind: .attn, neurons: mask.pruned(.attn, atStep: step)) { mask.attnOffset[$0] }
        }
    }
}
