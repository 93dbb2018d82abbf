import CKernels
import Foundation
import ScalpelCore

/// OPT (and Galactica, which shares its architecture): learned positions offset by 2,
/// pre- or post-norm layers, optional `project_in`/`project_out`, LM head tied to the embeddings.
public final class OPT: MatrixHead, RecordedCheckpoint {
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
    public let checkpoint: CheckpointRecord
    public var headInputWidth: Int { config.embedDim }
    let stack: TransformerStack
    let embedTokens: Tensor, embedPositions: Tensor
    let projectIn: Linear?, projectOut: Linear?
    let finalNorm: Norm?
    let head: Tensor

    /// Reads the checkpoint `inputs` describes, matrices in `inputs.dtype`.
    public init(_ inputs: ArchitectureInputs) throws {
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader)
        self.config = config
        self.configJSON = json
        let d = config.hiddenSize, e = config.embedDim, f = config.ffnDim, V = config.vocabSize
        let heads = config.numAttentionHeads
        let dh = try reader.headWidth(width: d, "hidden_size", heads: heads, "num_attention_heads")
        let activation = try Activation(name: config.activationFunction, field: "activation_function", path: configPath)
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: dh,
            vocabularySize: V, maxPositions: config.maxPositionEmbeddings)
        // "model.decoder." (OPTForCausalLM), "decoder." (OPTModel) or none
        let p = ["model.decoder.", "decoder.", ""].first { store.contains($0 + "embed_tokens.weight") } ?? "model.decoder."
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        func linear(_ name: String, out: Int, in inF: Int) throws -> Linear {
            try ck.linear(p + name, out: out, in: inF, bias: config.enableBias)
        }
        func norm(_ name: String) throws -> Norm {
            try ck.layerNorm(p + name, width: d, eps: 1e-5, affine: config.layerNormElementwiseAffine)
        }
        embedTokens = try ck.matrix(p + "embed_tokens.weight", [V, e])
        embedPositions = try ck.tensor(p + "embed_positions.weight", [config.maxPositionEmbeddings + 2, d])
        projectIn = e != d ? try ck.linear(p + "project_in", out: d, in: e, bias: false) : nil
        projectOut = e != d ? try ck.linear(p + "project_out", out: e, in: d, bias: false) : nil
        finalNorm = config.doLayerNormBefore && !config.removeFinalLayerNorm ? try norm("final_layer_norm") : nil
        head = config.tieWordEmbeddings ? embedTokens : try ck.matrix("lm_head.weight", [V, e])
        let layers = try (0..<config.numHiddenLayers).map { i in
            let l = "layers.\(i)."
            return TransformerLayer(
                attentionNorm: try norm(l + "self_attn_layer_norm"), mlpNorm: try norm(l + "final_layer_norm"),
                qkv: try ck.fused(
                    ["q_proj", "k_proj", "v_proj"].map { (p + l + "self_attn." + $0, d) }, in: d, bias: config.enableBias),
                out: try linear(l + "self_attn.out_proj", out: d, in: d),
                up: try linear(l + "fc1", out: f, in: d), down: try linear(l + "fc2", out: d, in: f))
        }
        checkpoint = ck.record
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: dh),
            placement: config.doLayerNormBefore ? .pre : .post, activation: activation)
    }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?, cache: KVCache?) -> Tensor {
        let past = cache?.length ?? 0
        let d = config.hiddenSize, e = config.embedDim
        let n = sequences.reduce(0) { $0 + $1.count }
        let x = Tensor(zeros: [n, d])
        // tokens (through project_in when present) + learned positions past + t + 2
        let tokens = projectIn == nil ? x : Tensor(zeros: [n, e])
        var r = 0
        for seq in sequences {
            for id in seq { Embedding.row(embedTokens, id, into: tokens.pointer + r * e); r += 1 }
        }
        projectIn?(tokens.pointer, rows: n, into: x.pointer)
        r = 0
        for seq in sequences {
            for t in 0..<seq.count { sc_add(x.pointer + r * d, embedPositions.pointer + (past + t + 2) * d, d); r += 1 }
        }
        stack.forward(x, lengths: sequences.map(\.count), probe: probe, cache: cache)
        finalNorm?.apply(x.pointer, x.pointer, rows: n, dim: d)
        guard let projectOut else { return x }
        let out = Tensor(zeros: [n, e])
        projectOut(x.pointer, rows: n, into: out.pointer)
        return out
    }
}
