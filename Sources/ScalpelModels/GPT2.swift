import CKernels
import Foundation
import ScalpelCore

/// GPT-2: learned positions, pre-norm, Conv1D weights ([in, out], transposed here to [out, in]
/// and back on export), LM head tied to `wte`.
public final class GPT2: MatrixHead, RecordedCheckpoint {
    /// `config.json` fields of `model_type` "gpt2", with Hugging Face's defaults.
    public struct Configuration {
        public var nEmbd, nLayer, nHead, nInner, vocabSize, nPositions: Int
        public var layerNormEpsilon: Double
        public var activationFunction: String
        public var scaleAttnWeights, scaleAttnByInverseLayerIdx, tieWordEmbeddings: Bool

        public init(_ c: ConfigReader) throws {
            nEmbd = try c.count("n_embd", 768); nLayer = try c.count("n_layer", 12); nHead = try c.count("n_head", 12)
            nInner = try c.optionalCount("n_inner") ?? 4 * nEmbd
            vocabSize = try c.count("vocab_size", 50257); nPositions = try c.count("n_positions", 1024)
            if try c.bool("reorder_and_upcast_attn", false) {
                throw ScalpelError.unsupported(path: c.path, field: "reorder_and_upcast_attn", value: "true", supported: ["false"])
            }
            layerNormEpsilon = try c.double("layer_norm_epsilon", 1e-5)
            activationFunction = try c.string("activation_function", "gelu_new")
            scaleAttnWeights = try c.bool("scale_attn_weights", true)
            scaleAttnByInverseLayerIdx = try c.bool("scale_attn_by_inverse_layer_idx", false)
            tieWordEmbeddings = try c.bool("tie_word_embeddings", true)
        }
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let checkpoint: CheckpointRecord
    public var headInputWidth: Int { config.nEmbd }
    let stack: TransformerStack
    let wte: Tensor, wpe: Tensor, finalNorm: Norm
    let head: Tensor

    /// Reads the checkpoint `inputs` describes, matrices in `inputs.dtype`.
    public init(_ inputs: ArchitectureInputs) throws {
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader)
        self.config = config
        configJSON = json
        let d = config.nEmbd, f = config.nInner, V = config.vocabSize, heads = config.nHead
        let dh = try reader.headWidth(width: d, "n_embd", heads: heads, "n_head")
        let eps = Float(config.layerNormEpsilon)
        let activation = try Activation(name: config.activationFunction, field: "activation_function", path: configPath)
        shape = ModelShape(
            layers: config.nLayer, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V, maxPositions: config.nPositions)
        let p = store.contains("transformer.wte.weight") ? "transformer." : ""
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        wte = try ck.matrix(p + "wte.weight", [V, d])
        wpe = try ck.tensor(p + "wpe.weight", [config.nPositions, d])
        finalNorm = try ck.layerNorm(p + "ln_f", width: d, eps: eps)
        head = config.tieWordEmbeddings ? wte : try ck.matrix("lm_head.weight", [V, d])
        let layers = try (0..<config.nLayer).map { i in
            let l = p + "h.\(i)."
            return TransformerLayer(
                attentionNorm: try ck.layerNorm(l + "ln_1", width: d, eps: eps), mlpNorm: try ck.layerNorm(l + "ln_2", width: d, eps: eps),
                qkv: try ck.conv1D(l + "attn.c_attn", in: d, out: 3 * d), out: try ck.conv1D(l + "attn.c_proj", in: d, out: d),
                up: try ck.conv1D(l + "mlp.c_fc", in: d, out: f), down: try ck.conv1D(l + "mlp.c_proj", in: f, out: d))
        }
        checkpoint = ck.record
        let scale = config.scaleAttnWeights ? Float(1.0 / Double(dh).squareRoot()) : 1
        let scales = (0..<config.nLayer).map { config.scaleAttnByInverseLayerIdx ? scale / Float($0 + 1) : scale }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: dh),
            placement: .pre, activation: activation, scales: scales)
    }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?, cache: KVCache?) -> Tensor {
        let past = cache?.length ?? 0
        let d = config.nEmbd
        let x = Embedding.gather(wte, sequences)
        var r = 0
        for seq in sequences {
            for t in 0..<seq.count { sc_add(x.pointer + r * d, wpe.pointer + (past + t) * d, d); r += 1 }
        }
        stack.forward(x, lengths: sequences.map(\.count), probe: probe, cache: cache)
        finalNorm.apply(x.pointer, x.pointer, rows: x.shape[0], dim: d)
        return x
    }
}
