import CKernels
import Foundation
import ScalpelCore

/// OPT (and Galactica, which shares its architecture): learned positions offset by 2,
/// pre- or post-norm layers, optional `project_in`/`project_out`, LM head tied to the embeddings.
public final class OPT: MatrixHead, StackBacked {
    /// `config.json` fields of `model_type: "opt"`, with Hugging Face's defaults.
    public struct Configuration {
        public var vocabSize, hiddenSize, numHiddenLayers, ffnDim, numAttentionHeads, maxPositionEmbeddings: Int
        public var doLayerNormBefore, removeFinalLayerNorm, enableBias, layerNormElementwiseAffine, tieWordEmbeddings: Bool
        public var wordEmbedProjDim: Int?
        public var activationFunction: String

        public init(_ c: ConfigReader) throws {
            vocabSize = try c.count("vocab_size", 50272); hiddenSize = try c.count("hidden_size", 768)
            numHiddenLayers = try c.count("num_hidden_layers", 12); ffnDim = try c.count("ffn_dim", 3072)
            numAttentionHeads = try c.count("num_attention_heads", 12); maxPositionEmbeddings = try c.count("max_position_embeddings", 2048)
            doLayerNormBefore = try c.bool("do_layer_norm_before", true);
            removeFinalLayerNorm = try c.bool("_remove_final_layer_norm", false)
            wordEmbedProjDim = try c.optionalCount("word_embed_proj_dim")
            activationFunction = try c.string("activation_function", "relu"); enableBias = try c.bool("enable_bias", true)
            layerNormElementwiseAffine = try c.bool("layer_norm_elementwise_affine", true)
            tieWordEmbeddings = try c.bool("tie_word_embeddings", true)
        }

        var embedDim: Int { wordEmbedProjDim ?? hiddenSize }
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public var headInputWidth: Int { config.embedDim }
    let stack: TransformerStack
    let embedTokens: Tensor, embedPositions: Tensor
    let projectIn: Linear?, projectOut: Linear?
    let finalNorm: Norm?
    let lmHead: Tensor
    /// The prefix of tensor names in this checkpoint ("model.decoder." or "decoder.").
    let prefix: String

    public init(json: [String: Any], store: TensorSource, configPath: String) throws {
        let config = try Configuration(ConfigReader(json: json, path: configPath))
        self.config = config
        self.configJSON = json
        let d = config.hiddenSize, e = config.embedDim, f = config.ffnDim, V = config.vocabSize
        let heads = config.numAttentionHeads
        guard heads > 0, d % heads == 0 else {
            throw ScalpelError.invalidFile(path: configPath, reason: "hidden_size \(d) is not divisible by num_attention_heads \(heads)")
        }
        let activation = try Activation(name: config.activationFunction, field: "activation_function", path: configPath)
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: d / heads,
            vocabularySize: V, maxPositions: config.maxPositionEmbeddings)
        prefix = ["model.decoder.", "decoder.", ""].first { store.contains($0 + "embed_tokens.weight") } ?? "model.decoder."
        let p = prefix
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try store.tensor(p + name, shape: shape) }
        func linear(_ name: String, _ out: Int, _ inF: Int) throws -> Linear {
            Linear(weight: try t(name + ".weight", [out, inF]), bias: config.enableBias ? try t(name + ".bias", [out]) : nil)
        }
        func norm(_ name: String) throws -> Norm {
            config.layerNormElementwiseAffine
                ? .layer(weight: try t(name + ".weight", [d]), bias: try t(name + ".bias", [d]), eps: 1e-5)
                : .layer(weight: nil, bias: nil, eps: 1e-5)
        }
        embedTokens = try t("embed_tokens.weight", [V, e])
        embedPositions = try t("embed_positions.weight", [config.maxPositionEmbeddings + 2, d])
        projectIn = e != d ? Linear(weight: try t("project_in.weight", [d, e])) : nil
        projectOut = e != d ? Linear(weight: try t("project_out.weight", [e, d])) : nil
        finalNorm = config.doLayerNormBefore && !config.removeFinalLayerNorm ? try norm("final_layer_norm") : nil
        lmHead = config.tieWordEmbeddings ? embedTokens : try store.tensor("lm_head.weight", shape: [V, e])
        var layers: [TransformerLayer] = []
        for i in 0..<config.numHiddenLayers {
            let l = "layers.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: try norm(l + "self_attn_layer_norm"), mlpNorm: try norm(l + "final_layer_norm"),
                    qkv: .stacked([
                        try linear(l + "self_attn.q_proj", d, d), try linear(l + "self_attn.k_proj", d, d),
                        try linear(l + "self_attn.v_proj", d, d),
                    ]),
                    out: try linear(l + "self_attn.out_proj", d, d),
                    up: try linear(l + "fc1", f, d), down: try linear(l + "fc2", d, f)))
        }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: d / heads),
            placement: config.doLayerNormBefore ? .pre : .post, activation: activation)
    }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?) -> Tensor {
        let d = config.hiddenSize, e = config.embedDim
        let n = sequences.reduce(0) { $0 + $1.count }
        let x = Tensor(zeros: [n, d])
        // tokens (through project_in when present) + learned positions t + 2
        let tokens = projectIn == nil ? x : Tensor(zeros: [n, e])
        var r = 0
        for seq in sequences {
            for id in seq { (tokens.pointer + r * e).update(from: embedTokens.pointer + id * e, count: e); r += 1 }
        }
        projectIn?(tokens.pointer, rows: n, into: x.pointer)
        r = 0
        for seq in sequences {
            for t in 0..<seq.count { sc_add(x.pointer + r * d, embedPositions.pointer + (t + 2) * d, d); r += 1 }
        }
        stack.forward(x, lengths: sequences.map(\.count), probe: probe)
        finalNorm?.apply(x.pointer, x.pointer, rows: n, dim: d)
        guard let projectOut else { return x }
        let out = Tensor(zeros: [n, e])
        projectOut(x.pointer, rows: n, into: out.pointer)
        return out
    }

    var head: Tensor { lmHead }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = prefix, d = config.hiddenSize
        var out: [(name: String, tensor: Tensor)] = [
            (p + "embed_tokens.weight", embedTokens), (p + "embed_positions.weight", embedPositions),
        ]
        if let projectIn { out.append((p + "project_in.weight", projectIn.weight)) }
        if let projectOut { out.append((p + "project_out.weight", projectOut.weight)) }
        out += finalNorm?.tensors(p + "final_layer_norm") ?? []
        if !config.tieWordEmbeddings { out.append(("lm_head.weight", lmHead)) }
        for (i, layer) in stack.layers.enumerated() {
            let l = p + "layers.\(i)."
            out += StateDict.unstack(layer.qkv, ["q_proj", "k_proj", "v_proj"].map { (l + "self_attn." + $0, d) })
            out +=
                StateDict.linear(layer.out, l + "self_attn.out_proj") + StateDict.linear(layer.up, l + "fc1")
                + StateDict.linear(layer.down, l + "fc2")
            out += layer.attentionNorm.tensors(l + "self_attn_layer_norm") + layer.mlpNorm.tensors(l + "final_layer_norm")
        }
        return out
    }
}

/// Helpers for `stateDict()`.
enum StateDict {
    static func linear(_ l: Linear, _ name: String) -> [(name: String, tensor: Tensor)] {
        [(name + ".weight", l.weight)] + (l.bias.map { [(name + ".bias", $0)] } ?? [])
    }

    /// A fused Linear (`Linear.stacked`) back as its parts: consecutive row blocks under their own names.
    static func unstack(_ l: Linear, _ parts: [(name: String, rows: Int)]) -> [(name: String, tensor: Tensor)] {
        var start = 0
        return parts.flatMap { part -> [(name: String, tensor: Tensor)] in
            let s = l.slice(rows: start, count: part.rows)
            start += part.rows
            return linear(Linear(weight: s.weight, bias: s.bias), part.name)
        }
    }
}
