import CKernels
import Foundation
import ScalpelCore

/// GPT-NeoX (Pythia): parallel or sequential residual, partial rotary, fused per-head q/k/v,
/// untied `embed_out`.
public final class GPTNeoX: RotaryDecoder {
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public var headInputWidth: Int { dModel }
    let dModel: Int
    let stack: TransformerStack
    let embedIn: Tensor, finalNorm: Norm, head: Tensor
    let headName: String

    public init(json: [String: Any], store: TensorSource, configPath: String) throws {
        configJSON = json
        let c = ConfigReader(json: json, path: configPath)
        let d = try c.count("hidden_size"), L = try c.count("num_hidden_layers"), heads = try c.count("num_attention_heads")
        let f = try c.count("intermediate_size"), V = try c.count("vocab_size")
        guard heads > 0, d % heads == 0 else {
            throw ScalpelError.invalidFile(path: configPath, reason: "hidden_size \(d) is not divisible by num_attention_heads \(heads)")
        }
        let dh = d / heads
        let eps = Float(try c.double("layer_norm_eps", 1e-5))
        let bias = try c.bool("attention_bias", true)
        let activation = try Activation(name: try c.string("hidden_act", "gelu"), field: "hidden_act", path: configPath)
        dModel = d
        shape = ModelShape(
            layers: L, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V,
            maxPositions: try c.count("max_position_embeddings", 2048))
        let p = "gpt_neox."
        func t(_ name: String, _ s: [Int]) throws -> Tensor { try store.tensor(name, shape: s) }
        func linear(_ name: String, _ out: Int, _ inF: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try t(name + ".weight", [out, inF]), bias: bias ? try t(name + ".bias", [out]) : nil)
        }
        func norm(_ name: String) throws -> Norm {
            .layer(weight: try t(name + ".weight", [d]), bias: try t(name + ".bias", [d]), eps: eps)
        }
        embedIn = try t(p + "embed_in.weight", [V, d])
        finalNorm = try norm(p + "final_layer_norm")
        headName = store.contains("embed_out.weight") ? "embed_out.weight" : "lm_head.weight"
        head = try c.bool("tie_word_embeddings", false) ? embedIn : try t(headName, [V, d])
        var layers: [TransformerLayer] = []
        for i in 0..<L {
            let l = p + "layers.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: try norm(l + "input_layernorm"), mlpNorm: try norm(l + "post_attention_layernorm"),
                    qkv: try linear(l + "attention.query_key_value", 3 * d, d, bias: bias),
                    out: try linear(l + "attention.dense", d, d, bias: bias),
                    up: try linear(l + "mlp.dense_h_to_4h", f, d), down: try linear(l + "mlp.dense_4h_to_h", d, f)))
        }
        // each head's q, k, v lie together: [q_h | k_h | v_h] for h = 0..<heads
        let layout = CausalAttention.Layout(
            rowStride: 3 * d, qOffset: 0, kOffset: dh, vOffset: 2 * dh,
            heads: heads, kvHeads: heads, headWidth: dh, headStride: 3 * dh)
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f, attention: layout, placement: .pre,
            residual: try c.bool("use_parallel_residual", true) ? .parallel : .sequential,
            activation: activation,
            rotary: try Rotary(config: json, headWidth: dh, defaultFraction: 0.25, path: configPath))
    }

    var embedding: Tensor { embedIn }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = "gpt_neox."
        var out: [(name: String, tensor: Tensor)] = [(p + "embed_in.weight", embedIn)] + finalNorm.tensors(p + "final_layer_norm")
        if head !== embedIn { out.append((headName, head)) }
        for (i, layer) in stack.layers.enumerated() {
            let l = p + "layers.\(i)."
            out += layer.attentionNorm.tensors(l + "input_layernorm") + layer.mlpNorm.tensors(l + "post_attention_layernorm")
            out += StateDict.linear(layer.qkv, l + "attention.query_key_value") + StateDict.linear(layer.out, l + "attention.dense")
            out += StateDict.linear(layer.up, l + "mlp.dense_h_to_4h") + StateDict.linear(layer.down, l + "mlp.dense_4h_to_h")
        }
        return out
    }
}

/// Token embedding lookups.
enum Embedding {
    /// table: [V, d] → x: [Σ T, d], one row per token of the packed sequences.
    static func gather(_ table: Tensor, _ sequences: [[Int]]) -> Tensor {
        let d = table.shape[1]
        let n = sequences.reduce(0) { $0 + $1.count }
        let x = Tensor(zeros: [n, d])
        var r = 0
        for seq in sequences {
            for id in seq { (x.pointer + r * d).update(from: table.pointer + id * d, count: d); r += 1 }
        }
        return x
    }
}
