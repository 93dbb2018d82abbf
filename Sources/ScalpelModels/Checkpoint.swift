import Foundation
import ScalpelCore

/// How a model parameter holds one checkpoint tensor.
enum CheckpointLayout {
    /// The parameter is the checkpoint tensor.
    case same
    /// The checkpoint stores the transpose (GPT-2's `Conv1D` keeps [in, out]; Scalpel keeps [out, in]).
    case transposed
    /// The checkpoint tensor is rows [start, start + count) of a fused parameter (q/k/v or gate/up
    /// stacked for one matmul).
    case rows(start: Int, count: Int)
    /// The same values under another shape (ViT's patch convolution [d, 3, p, p] held as [d, 3·p·p]).
    case reshaped([Int])
}

/// One checkpoint tensor: its name, the parameter that holds it, and how.
struct CheckpointEntry {
    let name: String
    let parameter: Tensor
    let layout: CheckpointLayout
}

/// Where every parameter of a loaded model came from: written once, by `CheckpointReader`, as the
/// parameters are read, so that export (`stateDict`) is the exact inverse of loading.
public struct CheckpointRecord {
    let entries: [CheckpointEntry]
    /// Checkpoint tensors no parameter was read from (a pooler the task does not use, buffers),
    /// sorted. They are not part of the model as Scalpel runs it, and not exported.
    public let unusedNames: [String]

    /// Every recorded tensor under its checkpoint name, in the checkpoint's layout, read from the
    /// parameters as they are now (pruning edits them in place). Parts of fused parameters are views
    /// of their rows, transposed ones new tensors transposed back, the others the parameters.
    func stateDict() -> [(name: String, tensor: Tensor)] {
        entries.map { e in
            switch e.layout {
            case .same:
                return (e.name, e.parameter)
            case .transposed:
                return (e.name, e.parameter.transposed())
            case .rows(let start, let count):
                // rows of a row-major tensor are contiguous: a view, no copy (an 8B model's fused
                // matrices would otherwise be copied whole on export)
                let width = e.parameter.shape.dropFirst().reduce(1, *)
                return (
                    e.name,
                    Tensor(
                        shape: [count] + e.parameter.shape.dropFirst(), dtype: e.parameter.dtype,
                        borrowing: e.parameter.raw + start * width * e.parameter.dtype.size, owner: e.parameter)
                )
            case .reshaped(let shape):
                return (e.name, Tensor(shape: shape, dtype: e.parameter.dtype, borrowing: e.parameter.raw, owner: e.parameter))
            }
        }
    }
}

/// Reads an architecture's parameters from a checkpoint by name, checks each tensor's shape (an
/// error names the file, the tensor, the expected and the found shape), and records each
/// parameter's checkpoint name and layout in `record`. Architectures read every tensor through it,
/// so no checkpoint name is written twice.
final class CheckpointReader {
    let store: TensorSource
    /// What matrices (linear weights, embeddings, LM heads) are held in; vectors stay Float32.
    let matrices: DType
    private var entries: [CheckpointEntry] = []

    init(_ store: TensorSource, matrices: DType = .f32) {
        self.store = store
        self.matrices = matrices
    }

    /// Whether the checkpoint has a tensor `name` (for optional parts and name prefixes).
    func contains(_ name: String) -> Bool { store.contains(name) }

    /// The tensor `name`, of shape `shape`, held as it is stored.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        let t = try store.tensor(name, shape: shape)
        entries.append(CheckpointEntry(name: name, parameter: t, layout: .same))
        return t
    }

    /// The matrix `name` (an embedding table, an LM head), of shape `shape`, held in `matrices`.
    func matrix(_ name: String, _ shape: [Int]) throws -> Tensor {
        let t = try store.tensor(name, shape: shape, dtype: matrices)
        entries.append(CheckpointEntry(name: name, parameter: t, layout: .same))
        return t
    }

    /// The matrix `name`, of shape `shape`, held in `matrices` under `heldShape` (same values, same order).
    func matrix(_ name: String, _ shape: [Int], heldAs heldShape: [Int]) throws -> Tensor {
        let stored = try store.tensor(name, shape: shape, dtype: matrices)
        let t = Tensor(shape: heldShape, dtype: stored.dtype, borrowing: stored.raw, owner: stored)
        entries.append(CheckpointEntry(name: name, parameter: t, layout: .reshaped(shape)))
        return t
    }

    /// A linear layer stored as `name.weight` [out, in] and, when `bias`, `name.bias` [out].
    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true) throws -> Linear {
        Linear(weight: try matrix(name + ".weight", [out, inFeatures]), bias: bias ? try tensor(name + ".bias", [out]) : nil)
    }

    /// A GPT-2 `Conv1D`: `name.weight` stored [in, out], held transposed as [out, in]; `name.bias` [out].
    func conv1D(_ name: String, in inFeatures: Int, out: Int) throws -> Linear {
        let weight = try store.tensor(name + ".weight", shape: [inFeatures, out], dtype: matrices).transposed()
        entries.append(CheckpointEntry(name: name + ".weight", parameter: weight, layout: .transposed))
        return Linear(weight: weight, bias: try tensor(name + ".bias", [out]))
    }

    /// Linear layers stored separately (`part.weight` [rows, in], `part.bias` [rows] when `bias`),
    /// held as one fused layer whose rows are the parts in order (q/k/v, gate/up).
    func fused(_ parts: [(name: String, rows: Int)], in inFeatures: Int, bias: Bool) throws -> Linear {
        let pieces = try parts.map { part in
            Linear(
                weight: try store.tensor(part.name + ".weight", shape: [part.rows, inFeatures], dtype: matrices),
                bias: bias ? try store.tensor(part.name + ".bias", shape: [part.rows]) : nil)
        }
        let linear = Linear.stacked(pieces)
        // the parts now live in the fused copy: the pages they were read from can go
        for part in parts { store.release(part.name + ".weight") }
        var start = 0
        for part in parts {
            entries.append(
                CheckpointEntry(name: part.name + ".weight", parameter: linear.weight, layout: .rows(start: start, count: part.rows)))
            if bias, let b = linear.bias {
                entries.append(CheckpointEntry(name: part.name + ".bias", parameter: b, layout: .rows(start: start, count: part.rows)))
            }
            start += part.rows
        }
        return linear
    }

    /// A layer norm over `width`: `name.weight` and `name.bias`, or none when not `affine`.
    func layerNorm(_ name: String, width: Int, eps: Float, affine: Bool = true) throws -> Norm {
        guard affine else { return .layer(weight: nil, bias: nil, eps: eps) }
        return .layer(weight: try tensor(name + ".weight", [width]), bias: try tensor(name + ".bias", [width]), eps: eps)
    }

    /// An RMS norm over `width`: `name.weight`.
    func rmsNorm(_ name: String, width: Int, eps: Float) throws -> Norm {
        .rms(weight: try tensor(name + ".weight", [width]), eps: eps)
    }

    /// What was read, and which checkpoint tensors were not.
    var record: CheckpointRecord {
        let read = Set(entries.map(\.name))
        return CheckpointRecord(entries: entries, unusedNames: store.names.filter { !read.contains($0) })
    }
}

/// An architecture whose parameters were read through a `CheckpointReader`: export is the record.
protocol RecordedCheckpoint: StackBacked {
    var checkpoint: CheckpointRecord { get }
}

extension RecordedCheckpoint {
    // The record points at the parameters; compaction permutes them in place, so it must be undone.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        precondition(!stack.isCompacted, "stateDict() asked for while the model is compacted; call compact(nil) first")
        return checkpoint.stateDict()
    }

    public var unusedTensorNames: [String] { checkpoint.unusedNames }
}
