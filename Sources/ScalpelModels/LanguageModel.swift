import Foundation
import ScalpelCore
import ScalpelTokenizers

/// The shapes every architecture reports: what the method needs to size statistics and masks.
public struct ModelShape: Sendable, Equatable {
    /// Number of transformer layers (L).
    public let layers: Int
    /// FF neurons per layer (d_ff): the width of the MLP's hidden activation.
    public let ffWidth: Int
    /// Attention heads per layer.
    public let heads: Int
    /// Width of one head's output (d_head).
    public let headWidth: Int
    /// Output vocabulary size.
    public let vocabularySize: Int
    /// Longest sequence the model accepts (its position limit).
    public let maxPositions: Int

    public init(layers: Int, ffWidth: Int, heads: Int, headWidth: Int, vocabularySize: Int, maxPositions: Int) {
        self.layers = layers; self.ffWidth = ffWidth; self.heads = heads; self.headWidth = headWidth
        self.vocabularySize = vocabularySize; self.maxPositions = maxPositions
    }
}

/// A probe receives the two kinds of neuron activation (METHOD.md §1) during a forward pass.
/// It must not keep the pointers: they are scratch reused by the next layer.
public protocol ActivationProbe: AnyObject {
    /// FF neurons of `layer`: `values` is [rows, ffWidth], the input of the MLP's output projection.
    /// When pruned neurons are compacted out, `values` is [rows, neurons.count] and column j is
    /// neuron `neurons[j]` (the pruned neurons, whose activation is replaced, are not shown).
    func observeFF(layer: Int, values: UnsafePointer<Float>, rows: Int, neurons: [Int32]?)
    /// Attention pre-out neurons of `layer`: `values` is [rows, heads · headWidth], the heads'
    /// outputs `softmax(QKᵀ/√d)·V` concatenated, before the output projection. When fully pruned
    /// heads are compacted out, `values` is [rows, neurons.count] and column j is neuron `neurons[j]`.
    func observeAttention(layer: Int, values: UnsafePointer<Float>, rows: Int, neurons: [Int32]?)
}

/// What a model predicts at a position.
public enum PredictionTask: Sendable, Equatable {
    /// Position i predicts token i + 1 (decoders).
    case causal
    /// Masked positions predict their original token (encoders with an MLM head); `maskToken` is `<mask>`'s id.
    case masked(maskToken: Int)
}

/// What every architecture offers the method: its shapes, the two output projections whose
/// columns are neurons (the pruning hooks), and its tensors for export.
public protocol PrunableModel: AnyObject {
    var shape: ModelShape { get }
    /// The model's `config.json` as read, for export.
    var configJSON: [String: Any] { get }

    /// The projection that reads the FF neurons of `layer`: weight [dModel, ffWidth] (column i
    /// multiplies neuron i) and its bias [dModel], if any. Pruning edits these in place.
    func ffOutput(layer: Int) -> OutputProjection
    /// The projection that reads the attention pre-out neurons: weight [dModel, heads · headWidth].
    func attentionOutput(layer: Int) -> OutputProjection

    /// Every tensor of the model under its checkpoint name, as a Hugging Face checkpoint of this
    /// architecture stores them (tied weights once), for export.
    /// Derived from the record the loader wrote (`CheckpointRecord`). Call only while the model is
    /// not compacted (`compact(nil)`).
    func stateDict() -> [(name: String, tensor: Tensor)]
    /// Checkpoint tensors the architecture does not read (a pooler, buffers): not part of the
    /// model as Scalpel runs it, and not exported.
    var unusedTensorNames: [String] { get }

    /// Takes pruned neurons out of the forward pass (`pruned`), or puts the model back in its
    /// checkpoint's layout (`nil`). Compaction reorders FF weights in place so that pruned FF
    /// neurons drop out of both MLP matmuls, and skips fully pruned heads' attention; the outputs
    /// are those of the uncompacted model up to float summation order. `ffOutput`/`attentionOutput`
    /// and `stateDict` see the checkpoint's layout only while the model is not compacted.
    func compact(_ pruned: PrunedNeurons?)
}

/// Which neurons are pruned, per layer: what `PrunableModel.compact` takes out of the forward pass.
public struct PrunedNeurons: Sendable, Equatable {
    /// [layers][ffWidth]: FF neuron pruned.
    public var ff: [[Bool]]
    /// [layers][heads]: every pre-out neuron of the head pruned.
    public var heads: [[Bool]]
    public init(ff: [[Bool]], heads: [[Bool]]) { self.ff = ff; self.heads = heads }
}

/// A language model Scalpel can run: a forward pass over packed sequences and an LM head.
///
/// Sequences of different lengths are packed row after row (no padding): position-wise layers
/// see a [Σ T, d] matrix, attention runs per sequence and head.
public protocol LanguageModel: PrunableModel {
    /// Causal or masked prediction.
    var task: PredictionTask { get }
    /// Whether the checkpoint has the head that turns hidden states into logits (an encoder alone has not).
    var hasHead: Bool { get }
    /// Width of the hidden states `hiddenStates` returns (the LM head's input).
    var headInputWidth: Int { get }

    /// Final hidden states, [Σ T, headInputWidth], for the packed `sequences`.
    /// The probe, if any, sees every layer's FF and attention neurons. With a `cache` (causal
    /// models, one sequence), the sequence continues the one cached: its positions start at
    /// `cache.length`, it attends to the cached keys and values, and its own are appended.
    func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?, cache: KVCache?) -> Tensor

    /// logits: [rows, vocabularySize] = hidden: [rows, headInputWidth] · LM head.
    func logits(hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>)
}

/// An output projection `y = W·a + b` whose input columns are neurons.
public struct OutputProjection {
    /// [outFeatures, neurons], row-major.
    public let weight: Tensor
    /// [outFeatures], or nil when the architecture has no bias there.
    public let bias: Tensor?
    public init(weight: Tensor, bias: Tensor?) { self.weight = weight; self.bias = bias }
}

extension LanguageModel {
    public var task: PredictionTask { .causal }
    public var hasHead: Bool { true }

    /// Final hidden states of packed `sequences`, from position 0 (no cache).
    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?) -> Tensor {
        hiddenStates(sequences, probe: probe, cache: nil)
    }

    /// Full logits [Σ T, vocabularySize] of packed sequences (for small inputs and tests).
    public func logits(_ sequences: [[Int]]) -> Tensor {
        let h = hiddenStates(sequences, probe: nil)
        let rows = h.shape[0]
        let out = Tensor(zeros: [rows, shape.vocabularySize])
        logits(hidden: h.pointer, rows: rows, into: out.pointer)
        return out
    }
}
