import CKernels
import Foundation
import ScalpelCore

/// OPT (and Galactica, which shares its architecture): learned positions offset by 2,
/// pre- or post-norm layers, optional `project_in`/`project_out`, LM head tied to the embeddings.
public final class OPT: CausalLanguageModel {
    /// `config.json` fields of `model_type: "opt"`, with Hugging Face's defaults.
    public struct Configuration: Decodable {
        public var vocabSize = 50272
        public var hiddenSize = 768
        public var numHiddenLayers = 12
        public var ffnDim = 3072
        public var numAttentionHeads = 12
        public var maxPositionEmbeddings = 2048
        public var doLayerNormBefore = true
        public var removeFinalLayerNorm = false
        public var wordEmbedProjDim: Int?
        public var activationFunction = "relu"
        public var enableBias = true
        public var layerNormElementwiseAffine = true
        public var tieWordEmbeddings = true

        enum CodingKeys: String, CodingKey {
            case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
            case ffnDim = "ffn_dim", numAttentionHeads = "num_attention_heads"
            case maxPositionEmbeddings = "max_position_embeddings", doLayerNormBefore = "do_layer_norm_before"
            case removeFinalLayerNorm = "_remove_final_layer_norm", wordEmbedProjDim = "word_embed_proj_dim"
            case activationFunction = "activation_function", enableBias = "enable_bias"
            case layerNormElementwiseAffine = "layer_norm_elementwise_affine", tieWordEmbeddings = "tie_word_embeddings"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
                if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
            }
            try read(.vocabSize, &vocabSize); try read(.hiddenSize, &hiddenSize)
            try read(.numHiddenLayers, &numHiddenLayers); try read(.ffnDim, &ffnDim)
            try read(.numAttentionHeads, &numAttentionHeads); try read(.maxPositionEmbeddings, &maxPositionEmbeddings)
            try read(.doLayerNormBefore, &doLayerNormBefore); try read(.removeFinalLayerNorm, &removeFinalLayerNorm)
            wordEmbedProjDim = try c.decodeIfPresent(Int.self, forKey: .wordEmbedProjDim)
            try read(.activationFunction, &activationFunction); try read(.enableBias, &enableBias)
            try read(.layerNormElementwiseAffine, &layerNormElementwiseAffine)
            try read(.tieWordEmbeddings, &tieWordEmbeddings)
        }

        var embedDim: Int { wordEmbedProjDim ?? hiddenSize }
    }

    struct LayerNorm {
        let weight: Tensor?, bias: Tensor?
        // x: [rows, dim] → y: [rows, dim]
        func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
            sc_layer_norm(x, y, weight?.pointer, bias?.pointer, rows, dim, 1e-5)
        }
    }

    struct Layer {
        let attentionNorm: LayerNorm, mlpNorm: LayerNorm
        /// q, k, v projections stacked: [3d, d], bias [3d]
        let qkvWeight: Tensor, qkvBias: Tensor?
        let outWeight: Tensor, outBias: Tensor?
        let fc1Weight: Tensor, fc1Bias: Tensor?
        let fc2Weight: Tensor, fc2Bias: Tensor?
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public var headInputWidth: Int { config.embedDim }
    let activation: Activation
    let embedTokens: Tensor, embedPositions: Tensor
    let projectIn: Tensor?, projectOut: Tensor?
    let finalNorm: LayerNorm?
    let lmHead: Tensor
    let layers: [Layer]
    /// The prefix of tensor names in this checkpoint ("model.decoder." or "decoder.").
    let prefix: String
    private var attentionScratch: [Scratch] = []

    public init(config: Configuration, json: [String: Any], store: TensorStore, configPath: String) throws {
        self.config = config
        self.configJSON = json
        let d = config.hiddenSize, e = config.embedDim, f = config.ffnDim, V = config.vocabSize
        guard config.numAttentionHeads > 0, d % config.numAttentionHeads == 0 else {
            throw ScalpelError.invalidFile(path: configPath, reason: "hidden_size \(d) is not divisible by num_attention_heads \(config.numAttentionHeads)")
        }
        activation = try Activation(name: config.activationFunction, field: "activation_function", path: configPath)
        shape = ModelShape(layers: config.numHiddenLayers, ffWidth: f, heads: config.numAttentionHeads,
                           headWidth: d / config.numAttentionHeads, vocabularySize: V,
                           maxPositions: config.maxPositionEmbeddings)
        prefix = ["model.decoder.", "decoder.", ""].first { store.contains($0 + "embed_tokens.weight") } ?? "model.decoder."
        let p = prefix
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try store.tensor(p + name, shape: shape) }
        func bias(_ name: String, _ n: Int) throws -> Tensor? { config.enableBias ? try t(name, [n]) : nil }
        func norm(_ name: String, _ n: Int) throws -> LayerNorm {
            config.layerNormElementwiseAffine
                ? LayerNorm(weight: try t(name + ".weight", [n]), bias: try t(name + ".bias", [n]))
                : LayerNorm(weight: nil, bias: nil)
        }
        embedTokens = try t("embed_tokens.weight", [V, e])
        embedPositions = try t("embed_positions.weight", [config.maxPositionEmbeddings + 2, d])
        projectIn = e != d ? try t("project_in.weight", [d, e]) : nil
        projectOut = e != d ? try t("project_out.weight", [e, d]) : nil
        finalNorm = config.doLayerNormBefore && !config.removeFinalLayerNorm ? try norm("final_layer_norm", d) : nil
        lmHead = config.tieWordEmbeddings ? embedTokens : try store.tensor("lm_head.weight", shape: [V, e])
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = "layers.\(i)."
            let q = try t(l + "self_attn.q_proj.weight", [d, d])
            let k = try t(l + "self_attn.k_proj.weight", [d, d])
            let v = try t(l + "self_attn.v_proj.weight", [d, d])
            let qkv = Tensor(zeros: [3 * d, d])
            for (j, w) in [q, k, v].enumerated() { (qkv.pointer + j * d * d).update(from: w.pointer, count: d * d) }
            var qkvBias: Tensor? = nil
            if config.enableBias {
                let b = Tensor(zeros: [3 * d])
                for (j, name) in ["q_proj", "k_proj", "v_proj"].enumerated() {
                    (b.pointer + j * d).update(from: try t(l + "self_attn.\(name).bias", [d]).pointer, count: d)
                }
                qkvBias = b
            }
            layers.append(Layer(
                attentionNorm: try norm(l + "self_attn_layer_norm", d), mlpNorm: try norm(l + "final_layer_norm", d),
                qkvWeight: qkv, qkvBias: qkvBias,
                outWeight: try t(l + "self_attn.out_proj.weight", [d, d]), outBias: try bias(l + "self_attn.out_proj.bias", d),
                fc1Weight: try t(l + "fc1.weight", [f, d]), fc1Bias: try bias(l + "fc1.bias", f),
                fc2Weight: try t(l + "fc2.weight", [d, f]), fc2Bias: try bias(l + "fc2.bias", d)))
        }
        self.layers = layers
    }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?) -> Tensor {
        let d = config.hiddenSize, e = config.embedDim, f = config.ffnDim
        let n = sequences.reduce(0) { $0 + $1.count }
        let x = Tensor(zeros: [n, d])
        // embeddings: tokens (through project_in when present) + positions t + 2
        do {
            let tok = Tensor(zeros: [n, e])
            var r = 0
            for seq in sequences {
                for id in seq {
                    (tok.pointer + r * e).update(from: embedTokens.pointer + id * e, count: e)
                    r += 1
                }
            }
            if let projectIn {
                BLAS.linear(tok.pointer, rows: n, inFeatures: e, weight: projectIn.pointer, bias: nil, outFeatures: d, into: x.pointer)
            } else {
                x.pointer.update(from: tok.pointer, count: n * d)
            }
            r = 0
            for seq in sequences {
                for t in 0..<seq.count {
                    sc_add(x.pointer + r * d, embedPositions.pointer + (t + 2) * d, d)
                    r += 1
                }
            }
        }
        let h = Tensor(zeros: [n, d])
        let qkv = Tensor(zeros: [n, 3 * d])
        let attn = Tensor(zeros: [n, d])
        let ff = Tensor(zeros: [n, f])
        let lengths = sequences.map(\.count)
        if attentionScratch.count < Parallel.threads { attentionScratch = CausalAttention.makeScratch() }
        let layout = CausalAttention.Layout(rowStride: 3 * d, qOffset: 0, kOffset: d, vOffset: 2 * d,
                                            heads: shape.heads, kvHeads: shape.heads, headWidth: shape.headWidth)
        let scale = Float(1.0 / Double(shape.headWidth).squareRoot())
        for (i, layer) in layers.enumerated() {
            // attention block
            Profile.measure("norm") {
                if config.doLayerNormBefore {
                    layer.attentionNorm.apply(x.pointer, h.pointer, rows: n, dim: d)
                } else {
                    h.pointer.update(from: x.pointer, count: n * d)
                }
            }
            Profile.measure("qkv") {
                BLAS.linear(h.pointer, rows: n, inFeatures: d, weight: layer.qkvWeight.pointer,
                            bias: layer.qkvBias?.pointer, outFeatures: 3 * d, into: qkv.pointer)
            }
            Profile.measure("attention") {
                CausalAttention.forward(qkv: qkv.pointer, layout: layout, lengths: lengths, scale: scale,
                                        out: attn.pointer, scratch: attentionScratch)
            }
            Profile.measure("probe") { probe?.observeAttention(layer: i, values: attn.pointer, rows: n) }
            Profile.measure("out_proj") {
                BLAS.linear(attn.pointer, rows: n, inFeatures: d, weight: layer.outWeight.pointer,
                            bias: layer.outBias?.pointer, outFeatures: d, into: h.pointer)
                sc_add(x.pointer, h.pointer, n * d)
            }
            // MLP block
            Profile.measure("norm") {
                if !config.doLayerNormBefore { layer.attentionNorm.apply(x.pointer, x.pointer, rows: n, dim: d) }
                if config.doLayerNormBefore {
                    layer.mlpNorm.apply(x.pointer, h.pointer, rows: n, dim: d)
                } else {
                    h.pointer.update(from: x.pointer, count: n * d)
                }
            }
            Profile.measure("fc1") {
                BLAS.linear(h.pointer, rows: n, inFeatures: d, weight: layer.fc1Weight.pointer,
                            bias: layer.fc1Bias?.pointer, outFeatures: f, into: ff.pointer)
            }
            Profile.measure("activation") { activation.apply(ff.pointer, count: n * f) }
            Profile.measure("probe") { probe?.observeFF(layer: i, values: ff.pointer, rows: n) }
            Profile.measure("fc2") {
                BLAS.linear(ff.pointer, rows: n, inFeatures: f, weight: layer.fc2Weight.pointer,
                            bias: layer.fc2Bias?.pointer, outFeatures: d, into: h.pointer)
                sc_add(x.pointer, h.pointer, n * d)
            }
            if !config.doLayerNormBefore { Profile.measure("norm") { layer.mlpNorm.apply(x.pointer, x.pointer, rows: n, dim: d) } }
        }
        if let finalNorm { finalNorm.apply(x.pointer, x.pointer, rows: n, dim: d) }
        guard let projectOut else { return x }
        let out = Tensor(zeros: [n, e])
        BLAS.linear(x.pointer, rows: n, inFeatures: d, weight: projectOut.pointer, bias: nil, outFeatures: e, into: out.pointer)
        return out
    }

    public func ffOutput(layer: Int) -> OutputProjection {
        OutputProjection(weight: layers[layer].fc2Weight, bias: layers[layer].fc2Bias)
    }

    public func attentionOutput(layer: Int) -> OutputProjection {
        OutputProjection(weight: layers[layer].outWeight, bias: layers[layer].outBias)
    }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = prefix, d = config.hiddenSize
        var out: [(String, Tensor)] = [(p + "embed_tokens.weight", embedTokens), (p + "embed_positions.weight", embedPositions)]
        if let projectIn { out.append((p + "project_in.weight", projectIn)) }
        if let projectOut { out.append((p + "project_out.weight", projectOut)) }
        if let finalNorm {
            if let w = finalNorm.weight { out.append((p + "final_layer_norm.weight", w)) }
            if let b = finalNorm.bias { out.append((p + "final_layer_norm.bias", b)) }
        }
        if !config.tieWordEmbeddings { out.append(("lm_head.weight", lmHead)) }
        func slice(_ t: Tensor, _ j: Int, _ count: Int, _ shape: [Int]) -> Tensor {
            let s = Tensor(zeros: shape)
            s.pointer.update(from: t.pointer + j * count, count: count)
            return s
        }
        for (i, layer) in layers.enumerated() {
            let l = p + "layers.\(i)."
            for (j, name) in ["q_proj", "k_proj", "v_proj"].enumerated() {
                out.append((l + "self_attn.\(name).weight", slice(layer.qkvWeight, j, d * d, [d, d])))
                if let b = layer.qkvBias { out.append((l + "self_attn.\(name).bias", slice(b, j, d, [d]))) }
            }
            out.append((l + "self_attn.out_proj.weight", layer.outWeight))
            if let b = layer.outBias { out.append((l + "self_attn.out_proj.bias", b)) }
            out.append((l + "fc1.weight", layer.fc1Weight))
            if let b = layer.fc1Bias { out.append((l + "fc1.bias", b)) }
            out.append((l + "fc2.weight", layer.fc2Weight))
            if let b = layer.fc2Bias { out.append((l + "fc2.bias", b)) }
            for (name, norm) in [("self_attn_layer_norm", layer.attentionNorm), ("final_layer_norm", layer.mlpNorm)] {
                if let w = norm.weight { out.append((l + name + ".weight", w)) }
                if let b = norm.bias { out.append((l + name + ".bias", b)) }
            }
        }
        return out
    }

    public func logits(hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        BLAS.linear(hidden, rows: rows, inFeatures: config.embedDim, weight: lmHead.pointer, bias: nil,
                    outFeatures: config.vocabSize, into: logits)
    }
}
