import CKernels
import Foundation
import ScalpelCore

/// GPT-NeoX (Pythia): parallel or sequential residual, partial rotary, fused per-head q/k/v,
/// untied `embed_out`.
public final class GPTNeoX: RotaryDecoder, RecordedCheckpoint {
    /// `config.json` fields of `model_type` "gpt_neox", with Hugging Face's defaults.
    public struct Configuration {
        public var hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, vocabSize, maxPositionEmbeddings: Int
        public var layerNormEps: Double
        public var hiddenAct: String
        public var attentionBias, useParallelResidual, tieWordEmbeddings: Bool

        public init(_ c: ConfigReader) throws {
            hiddenSize = try c.count("hidden_size"); numHiddenLayers = try c.count("num_hidden_layers")
            numAttentionHeads = try c.count("num_attention_heads"); intermediateSize = try c.count("intermediate_size")
            vocabSize = try c.count("vocab_size"); maxPositionEmbeddings = try c.count("max_position_embeddings", 2048)
            layerNormEps = try c.double("layer_norm_eps", 1e-5)
            hiddenAct = try c.string("hidden_act", "gelu")
            attentionBias = try c.bool("attention_bias", true)
            useParallelResidual = try c.bool("use_parallel_residual", true)
            tieWordEmbeddings = try c.bool("tie_word_embeddings", false)
        }
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let checkpoint: CheckpointRecord
    public var headInputWidth: Int { dModel }
    var dModel: Int { config.hiddenSize }
    let stack: TransformerStack
    let embedding: Tensor, finalNorm: Norm, head: Tensor

    /// Reads the checkpoint `inputs` describes, matrices in `inputs.dtype`.
    public init(_ inputs: ArchitectureInputs) throws {
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader)
        self.config = config
        configJSON = json
        let d = config.hiddenSize, f = config.intermediateSize, V = config.vocabSize, heads = config.numAttentionHeads
        let dh = try reader.headWidth(width: d, "hidden_size", heads: heads, "num_attention_heads")
        let eps = Float(config.layerNormEps)
        let activation = try Activation(name: config.hiddenAct, field: "hidden_act", path: configPath)
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V,
            maxPositions: config.maxPositionEmbeddings)
        let p = "gpt_neox."
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        embedding = try ck.matrix(p + "embed_in.weight", [V, d])
        finalNorm = try ck.layerNorm(p + "final_layer_norm", width: d, eps: eps)
        let headName = store.contains("embed_out.weight") ? "embed_out.weight" : "lm_head.weight"
        head = config.tieWordEmbeddings ? embedding : try ck.matrix(headName, [V, d])
        let layers = try (0..<config.numHiddenLayers).map { i in
            let l = p + "layers.\(i)."
            return TransformerLayer(
                attentionNorm: try ck.layerNorm(l + "input_layernorm", width: d, eps: eps),
                mlpNorm: try ck.layerNorm(l + "post_attention_layernorm", width: d, eps: eps),
                qkv: try ck.linear(l + "attention.query_key_value", out: 3 * d, in: d, bias: config.attentionBias),
                out: try ck.linear(l + "attention.dense", out: d, in: d, bias: config.attentionBias),
                up: try ck.linear(l + "mlp.dense_h_to_4h", out: f, in: d), down: try ck.linear(l + "mlp.dense_4h_to_h", out: d, in: f))
        }
        checkpoint = ck.record
        // each head's q, k, v lie together: [q_h | k_h | v_h] for h = 0..<heads
        let layout = CausalAttention.Layout(
            rowStride: 3 * d, qOffset: 0, kOffset: dh, vOffset: 2 * dh,
            heads: heads, kvHeads: heads, headWidth: dh, headStride: 3 * dh)
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f, attention: layout, placement: .pre,
            residual: config.useParallelResidual ? .parallel : .sequential, activation: activation,
            rotary: try Rotary(config: json, headWidth: dh, defaultFraction: 0.25, path: configPath))
    }
}
