import CKernels
import Foundation
import ScalpelCore

/// The Llama family (`llama`, `mistral`, `qwen2`): RMSNorm, SwiGLU MLP (the FF neuron is
/// `act(gate)·up`, the input of `down_proj`), rotary, grouped-query attention, Qwen2's q/k/v biases.
public final class Llama: RotaryDecoder {
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public var headInputWidth: Int { dModel }
    let dModel: Int
    let stack: TransformerStack
    let embedTokens: Tensor, finalNorm: Norm, head: Tensor
    let attentionWidths: (q: Int, kv: Int)

    public init(json: [String: Any], store: TensorSource, configPath: String, modelType: String) throws {
        configJSON = json
        let c = ConfigReader(json: json, path: configPath)
        let d = try c.count("hidden_size"), L = try c.count("num_hidden_layers"), heads = try c.count("num_attention_heads")
        let kvHeads = try c.count("num_key_value_heads", heads), f = try c.count("intermediate_size"), V = try c.count("vocab_size")
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)")
        }
        let dh = try c.optionalCount("head_dim") ?? d / heads
        guard dh >= 1 else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "num_attention_heads \(heads) exceeds hidden_size \(d) and there is no head_dim")
        }
        let maxPositions = try c.count("max_position_embeddings", 2048)
        let slidingWindowUsed = modelType == "mistral" ? true : try c.bool("use_sliding_window", false)
        if slidingWindowUsed {
            if let window = try c.optionalInt("sliding_window"), window < maxPositions {
                throw ScalpelError.unsupported(
                    path: configPath, field: "sliding_window", value: "\(window)", supported: ["null", "≥ max_position_embeddings"])
            }
        }
        let eps = Float(try c.double("rms_norm_eps", 1e-6))
        let activation = try Activation(name: try c.string("hidden_act", "silu"), field: "hidden_act", path: configPath)
        let qkvBias = modelType == "qwen2" ? true : try c.bool("attention_bias", false)
        let outBias = modelType == "qwen2" ? false : try c.bool("attention_bias", false)
        let mlpBias = try c.bool("mlp_bias", false)
        dModel = d
        attentionWidths = (heads * dh, kvHeads * dh)
        shape = ModelShape(layers: L, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V, maxPositions: maxPositions)
        func t(_ name: String, _ s: [Int]) throws -> Tensor { try store.tensor(name, shape: s) }
        func linear(_ name: String, _ out: Int, _ inF: Int, bias: Bool) throws -> Linear {
            Linear(weight: try t(name + ".weight", [out, inF]), bias: bias ? try t(name + ".bias", [out]) : nil)
        }
        embedTokens = try t("model.embed_tokens.weight", [V, d])
        finalNorm = .rms(weight: try t("model.norm.weight", [d]), eps: eps)
        let tied = try c.bool("tie_word_embeddings", false)
        head = tied ? embedTokens : try t("lm_head.weight", [V, d])
        var layers: [TransformerLayer] = []
        for i in 0..<L {
            let l = "model.layers.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: .rms(weight: try t(l + "input_layernorm.weight", [d]), eps: eps),
                    mlpNorm: .rms(weight: try t(l + "post_attention_layernorm.weight", [d]), eps: eps),
                    qkv: .stacked([
                        try linear(l + "self_attn.q_proj", heads * dh, d, bias: qkvBias),
                        try linear(l + "self_attn.k_proj", kvHeads * dh, d, bias: qkvBias),
                        try linear(l + "self_attn.v_proj", kvHeads * dh, d, bias: qkvBias),
                    ]),
                    out: try linear(l + "self_attn.o_proj", d, heads * dh, bias: outBias),
                    up: .stacked([try linear(l + "mlp.gate_proj", f, d, bias: mlpBias), try linear(l + "mlp.up_proj", f, d, bias: mlpBias)]
                    ),
                    down: try linear(l + "mlp.down_proj", d, f, bias: mlpBias)))
        }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: kvHeads, headWidth: dh),
            placement: .pre, activation: activation, gated: true,
            rotary: try Rotary(config: json, headWidth: dh, defaultFraction: 1, path: configPath))
    }

    var embedding: Tensor { embedTokens }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = [("model.embed_tokens.weight", embedTokens)] + finalNorm.tensors("model.norm")
        if head !== embedTokens { out.append(("lm_head.weight", head)) }
        let (q, kv) = attentionWidths
        let f = stack.ffWidth
        for (i, layer) in stack.layers.enumerated() {
            let l = "model.layers.\(i)."
            out += layer.attentionNorm.tensors(l + "input_layernorm") + layer.mlpNorm.tensors(l + "post_attention_layernorm")
            out += StateDict.unstack(layer.qkv, [(l + "self_attn.q_proj", q), (l + "self_attn.k_proj", kv), (l + "self_attn.v_proj", kv)])
            out += StateDict.linear(layer.out, l + "self_attn.o_proj")
            out += StateDict.unstack(layer.up, [(l + "mlp.gate_proj", f), (l + "mlp.up_proj", f)])
            out += StateDict.linear(layer.down, l + "mlp.down_proj")
        }
        return out
    }
}
