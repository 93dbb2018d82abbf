import CKernels
import Foundation
import ScalpelCore

/// GPT-2: learned positions, pre-norm, Conv1D weights ([in, out], transposed here to [out, in]
/// and back on export), LM head tied to `wte`.
public final class GPT2: MatrixHead, StackBacked {
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public var headInputWidth: Int { dModel }
    let dModel: Int
    let stack: TransformerStack
    let wte: Tensor, wpe: Tensor, finalNorm: Norm
    let head: Tensor
    let prefix: String

    public init(json: [String: Any], store: TensorSource, configPath: String) throws {
        configJSON = json
        let c = ConfigReader(json: json, path: configPath)
        let d = try c.count("n_embd", 768), L = try c.count("n_layer", 12), heads = try c.count("n_head", 12)
        let f = try c.optionalCount("n_inner") ?? 4 * d, V = try c.count("vocab_size", 50257), P = try c.count("n_positions", 1024)
        guard heads > 0, d % heads == 0 else {
            throw ScalpelError.invalidFile(path: configPath, reason: "n_embd \(d) is not divisible by n_head \(heads)")
        }
        if try c.bool("reorder_and_upcast_attn", false) {
            throw ScalpelError.unsupported(path: configPath, field: "reorder_and_upcast_attn", value: "true", supported: ["false"])
        }
        let eps = Float(try c.double("layer_norm_epsilon", 1e-5))
        let activation = try Activation(
            name: try c.string("activation_function", "gelu_new"), field: "activation_function", path: configPath)
        dModel = d
        shape = ModelShape(layers: L, ffWidth: f, heads: heads, headWidth: d / heads, vocabularySize: V, maxPositions: P)
        prefix = store.contains("transformer.wte.weight") ? "transformer." : ""
        let p = prefix
        func t(_ name: String, _ s: [Int]) throws -> Tensor { try store.tensor(p + name, shape: s) }
        // Conv1D stores [in, out]
        func conv(_ name: String, _ inF: Int, _ out: Int) throws -> Linear {
            Linear(weight: try t(name + ".weight", [inF, out]).transposed(), bias: try t(name + ".bias", [out]))
        }
        func norm(_ name: String) throws -> Norm {
            .layer(weight: try t(name + ".weight", [d]), bias: try t(name + ".bias", [d]), eps: eps)
        }
        wte = try t("wte.weight", [V, d])
        wpe = try t("wpe.weight", [P, d])
        finalNorm = try norm("ln_f")
        head = try c.bool("tie_word_embeddings", true) ? wte : try store.tensor("lm_head.weight", shape: [V, d])
        var layers: [TransformerLayer] = []
        for i in 0..<L {
            let l = "h.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: try norm(l + "ln_1"), mlpNorm: try norm(l + "ln_2"),
                    qkv: try conv(l + "attn.c_attn", d, 3 * d), out: try conv(l + "attn.c_proj", d, d),
                    up: try conv(l + "mlp.c_fc", d, f), down: try conv(l + "mlp.c_proj", f, d)))
        }
        let scale = try c.bool("scale_attn_weights", true) ? Float(1.0 / Double(d / heads).squareRoot()) : 1
        let byLayer = try c.bool("scale_attn_by_inverse_layer_idx", false)
        let scales = (0..<L).map { byLayer ? scale / Float($0 + 1) : scale }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: d / heads),
            placement: .pre, activation: activation, scales: scales)
    }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?) -> Tensor {
        let x = Embedding.gather(wte, sequences)
        var r = 0
        for seq in sequences {
            for t in 0..<seq.count { sc_add(x.pointer + r * dModel, wpe.pointer + t * dModel, dModel); r += 1 }
        }
        stack.forward(x, lengths: sequences.map(\.count), probe: probe)
        finalNorm.apply(x.pointer, x.pointer, rows: x.shape[0], dim: dModel)
        return x
    }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = prefix
        var out: [(name: String, tensor: Tensor)] = [(p + "wte.weight", wte), (p + "wpe.weight", wpe)] + finalNorm.tensors(p + "ln_f")
        if head !== wte { out.append(("lm_head.weight", head)) }
        func conv(_ l: Linear, _ name: String) -> [(name: String, tensor: Tensor)] {
            [(name + ".weight", l.weight.transposed())] + (l.bias.map { [(name + ".bias", $0)] } ?? [])
        }
        for (i, layer) in stack.layers.enumerated() {
            let l = p + "h.\(i)."
            out += layer.attentionNorm.tensors(l + "ln_1") + layer.mlpNorm.tensors(l + "ln_2")
            out += conv(layer.qkv, l + "attn.c_attn") + conv(layer.out, l + "attn.c_proj")
            out += conv(layer.up, l + "mlp.c_fc") + conv(layer.down, l + "mlp.c_proj")
        }
        return out
    }
}
