import CKernels
import Foundation
import ScalpelCore

/// The Llama family (`llama`, `mistral`, `qwen2`): RMSNorm, SwiGLU MLP (the FF neuron is
/// `act(gate)·up`, the input of `down_proj`), rotary, grouped-query attention, Qwen2's q/k/v biases.
public final class Llama: RotaryDecoder, RecordedCheckpoint {
    /// `config.json` fields of `model_type` "llama", "mistral" and "qwen2", with Hugging Face's defaults.
    public struct Configuration {
        public var hiddenSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim: Int
        public var intermediateSize, vocabSize, maxPositionEmbeddings: Int
        public var rmsNormEps: Double
        public var hiddenAct: String
        /// Biases on q/k/v, on o_proj, on the MLP (Qwen2: q/k/v only; Llama: `attention_bias`, `mlp_bias`).
        public var qkvBias, outBias, mlpBias: Bool
        public var tieWordEmbeddings: Bool

        public init(_ c: ConfigReader, modelType: String) throws {
            hiddenSize = try c.count("hidden_size"); numHiddenLayers = try c.count("num_hidden_layers")
            numAttentionHeads = try c.count("num_attention_heads")
            numKeyValueHeads = try c.count("num_key_value_heads", numAttentionHeads)
            guard numAttentionHeads % numKeyValueHeads == 0 else {
                throw ScalpelError.invalidFile(
                    path: c.path,
                    reason: "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
            }
            guard let dh = try c.optionalCount("head_dim") ?? (hiddenSize >= numAttentionHeads ? hiddenSize / numAttentionHeads : nil)
            else {
                throw ScalpelError.invalidFile(
                    path: c.path,
                    reason: "num_attention_heads \(numAttentionHeads) exceeds hidden_size \(hiddenSize) and there is no head_dim")
            }
            headDim = dh
            intermediateSize = try c.count("intermediate_size"); vocabSize = try c.count("vocab_size")
            maxPositionEmbeddings = try c.count("max_position_embeddings", 2048)
            // Mistral always slides its window; a window shorter than the positions is not implemented
            let slides = modelType == "mistral" ? true : try c.bool("use_sliding_window", false)
            if slides, let window = try c.optionalInt("sliding_window"), window < maxPositionEmbeddings {
                throw ScalpelError.unsupported(
                    path: c.path, field: "sliding_window", value: "\(window)", supported: ["null", "≥ max_position_embeddings"])
            }
            rmsNormEps = try c.double("rms_norm_eps", 1e-6)
            hiddenAct = try c.string("hidden_act", "silu")
            qkvBias = modelType == "qwen2" ? true : try c.bool("attention_bias", false)
            outBias = modelType == "qwen2" ? false : try c.bool("attention_bias", false)
            mlpBias = try c.bool("mlp_bias", false)
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
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath, modelType = inputs.modelType
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader, modelType: modelType)
        self.config = config
        configJSON = json
        let d = config.hiddenSize, f = config.intermediateSize, V = config.vocabSize, dh = config.headDim
        let heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads
        let eps = Float(config.rmsNormEps)
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V,
            maxPositions: config.maxPositionEmbeddings)
        let activation = try Activation(name: config.hiddenAct, field: "hidden_act", path: configPath)
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        embedding = try ck.matrix("model.embed_tokens.weight", [V, d])
        finalNorm = try ck.rmsNorm("model.norm", width: d, eps: eps)
        head = config.tieWordEmbeddings ? embedding : try ck.matrix("lm_head.weight", [V, d])
        let layers = try (0..<config.numHiddenLayers).map { i in
            let l = "model.layers.\(i)."
            return TransformerLayer(
                attentionNorm: try ck.rmsNorm(l + "input_layernorm", width: d, eps: eps),
                mlpNorm: try ck.rmsNorm(l + "post_attention_layernorm", width: d, eps: eps),
                qkv: try ck.fused(
                    [(l + "self_attn.q_proj", heads * dh), (l + "self_attn.k_proj", kvHeads * dh), (l + "self_attn.v_proj", kvHeads * dh)],
                    in: d, bias: config.qkvBias),
                out: try ck.linear(l + "self_attn.o_proj", out: d, in: heads * dh, bias: config.outBias),
                up: try ck.fused([(l + "mlp.gate_proj", f), (l + "mlp.up_proj", f)], in: d, bias: config.mlpBias),
                down: try ck.linear(l + "mlp.down_proj", out: d, in: f, bias: config.mlpBias))
        }
        checkpoint = ck.record
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: kvHeads, headWidth: dh),
            placement: .pre, activation: activation, gated: true,
            rotary: try Rotary(config: json, headWidth: dh, defaultFraction: 1, path: configPath))
    }
}
