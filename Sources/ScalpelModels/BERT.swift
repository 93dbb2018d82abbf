import CKernels
import Foundation
import ScalpelCore

/// BERT and RoBERTa encoders with their masked-LM heads: word + position + token-type
/// embeddings and a layer norm, post-norm bidirectional layers, and (when the checkpoint has one)
/// the MLM head dense → GELU → layer norm → tied decoder + bias. RoBERTa's positions start at
/// `pad_token_id + 1`.
public final class BERT: LanguageModel, StackBacked {
    public enum Flavor: String { case bert, roberta }

    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let task: PredictionTask
    public var headInputWidth: Int { dModel }
    let flavor: Flavor
    let dModel: Int
    let stack: TransformerStack
    let wordEmbeddings: Tensor, positionEmbeddings: Tensor, tokenTypeEmbeddings: Tensor?
    let embeddingNorm: Norm
    let positionOffset: Int
    let prefix: String
    /// The MLM head, when the checkpoint has one.
    let head: (dense: Linear, activation: Activation, norm: Norm, decoder: Tensor, bias: Tensor)?
    let headNames: (dense: String, norm: String, bias: String)

    public init(json: [String: Any], store: TensorSource, configPath: String, flavor: Flavor, maskToken: Int?) throws {
        configJSON = json
        self.flavor = flavor
        let c = ConfigReader(json: json, path: configPath)
        let d = try c.count("hidden_size"), L = try c.count("num_hidden_layers"), heads = try c.count("num_attention_heads")
        let f = try c.count("intermediate_size"), V = try c.count("vocab_size"), P = try c.count("max_position_embeddings", 512)
        guard heads > 0, d % heads == 0 else {
            throw ScalpelError.invalidFile(path: configPath, reason: "hidden_size \(d) is not divisible by num_attention_heads \(heads)")
        }
        let positionType = try c.string("position_embedding_type", "absolute")
        guard positionType == "absolute" else {
            throw ScalpelError.unsupported(path: configPath, field: "position_embedding_type", value: positionType, supported: ["absolute"])
        }
        let eps = Float(try c.double("layer_norm_eps", 1e-12))
        let activation = try Activation(name: try c.string("hidden_act", "gelu"), field: "hidden_act", path: configPath)
        dModel = d
        let padID = try c.int("pad_token_id", 1)
        positionOffset = flavor == .roberta ? padID + 1 : 0
        guard positionOffset >= 0, positionOffset < P - 1 else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "pad_token_id \(padID) leaves no positions of max_position_embeddings \(P)")
        }
        shape = ModelShape(
            layers: L, ffWidth: f, heads: heads, headWidth: d / heads, vocabularySize: V,
            maxPositions: P - positionOffset)
        let candidates = flavor == .roberta ? ["roberta.", ""] : ["bert.", ""]
        prefix = candidates.first { store.contains($0 + "embeddings.word_embeddings.weight") } ?? candidates[0]
        let p = prefix
        func t(_ name: String, _ s: [Int]) throws -> Tensor { try store.tensor(name, shape: s) }
        func linear(_ name: String, _ out: Int, _ inF: Int) throws -> Linear {
            Linear(weight: try t(name + ".weight", [out, inF]), bias: try t(name + ".bias", [out]))
        }
        func norm(_ name: String) throws -> Norm {
            .layer(weight: try t(name + ".weight", [d]), bias: try t(name + ".bias", [d]), eps: eps)
        }
        wordEmbeddings = try t(p + "embeddings.word_embeddings.weight", [V, d])
        positionEmbeddings = try t(p + "embeddings.position_embeddings.weight", [P, d])
        let types = try c.int("type_vocab_size", 2)
        guard (0...ConfigReader.sizeLimit).contains(types) else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "type_vocab_size \(types) must be between 0 and \(ConfigReader.sizeLimit)")
        }
        tokenTypeEmbeddings = types > 0 ? try t(p + "embeddings.token_type_embeddings.weight", [types, d]) : nil
        embeddingNorm = try norm(p + "embeddings.LayerNorm")
        var layers: [TransformerLayer] = []
        for i in 0..<L {
            let l = p + "encoder.layer.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: try norm(l + "attention.output.LayerNorm"), mlpNorm: try norm(l + "output.LayerNorm"),
                    qkv: .stacked([
                        try linear(l + "attention.self.query", d, d), try linear(l + "attention.self.key", d, d),
                        try linear(l + "attention.self.value", d, d),
                    ]),
                    out: try linear(l + "attention.output.dense", d, d),
                    up: try linear(l + "intermediate.dense", f, d), down: try linear(l + "output.dense", d, f)))
        }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: d / heads),
            placement: .post, activation: activation, causal: false)
        headNames =
            flavor == .roberta
            ? ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias")
            : ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias")
        if store.contains(headNames.dense + ".weight") {
            let headActivation = flavor == .roberta ? Activation.gelu : activation
            head = (
                try linear(headNames.dense, d, d), headActivation,
                .layer(weight: try t(headNames.norm + ".weight", [d]), bias: try t(headNames.norm + ".bias", [d]), eps: eps),
                wordEmbeddings, try t(headNames.bias, [V])
            )
            guard let maskToken else {
                throw ScalpelError.invalidFile(
                    path: configPath, reason: "the checkpoint has an MLM head but its tokenizer has no mask token")
            }
            task = .masked(maskToken: maskToken)
        } else {
            head = nil
            task = .masked(maskToken: maskToken ?? -1)
        }
    }

    /// Whether the checkpoint carries the masked-LM head (an encoder alone, like a sentence-embedding model, does not).
    public var hasHead: Bool { head != nil }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?) -> Tensor {
        let d = dModel
        let x = Embedding.gather(wordEmbeddings, sequences)
        var r = 0
        for seq in sequences {
            for t in 0..<seq.count {
                sc_add(x.pointer + r * d, positionEmbeddings.pointer + (t + positionOffset) * d, d)
                if let tokenTypeEmbeddings { sc_add(x.pointer + r * d, tokenTypeEmbeddings.pointer, d) }
                r += 1
            }
        }
        embeddingNorm.apply(x.pointer, x.pointer, rows: r, dim: d)
        stack.forward(x, lengths: sequences.map(\.count), probe: probe)
        return x
    }

    public func logits(hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        guard let head else { preconditionFailure("this checkpoint has no masked-LM head") }
        let h = Tensor(zeros: [rows, dModel])
        head.dense(hidden, rows: rows, into: h.pointer)
        head.activation.apply(h.pointer, count: rows * dModel)
        head.norm.apply(h.pointer, h.pointer, rows: rows, dim: dModel)
        Linear(weight: head.decoder, bias: head.bias)(h.pointer, rows: rows, into: logits)
    }

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = prefix, d = dModel
        var out: [(name: String, tensor: Tensor)] = [
            (p + "embeddings.word_embeddings.weight", wordEmbeddings),
            (p + "embeddings.position_embeddings.weight", positionEmbeddings),
        ]
        if let tokenTypeEmbeddings { out.append((p + "embeddings.token_type_embeddings.weight", tokenTypeEmbeddings)) }
        out += embeddingNorm.tensors(p + "embeddings.LayerNorm")
        for (i, layer) in stack.layers.enumerated() {
            let l = p + "encoder.layer.\(i)."
            out += StateDict.unstack(layer.qkv, ["query", "key", "value"].map { (l + "attention.self." + $0, d) })
            out += StateDict.linear(layer.out, l + "attention.output.dense") + layer.attentionNorm.tensors(l + "attention.output.LayerNorm")
            out += StateDict.linear(layer.up, l + "intermediate.dense") + StateDict.linear(layer.down, l + "output.dense")
            out += layer.mlpNorm.tensors(l + "output.LayerNorm")
        }
        if let head {
            out += StateDict.linear(head.dense, headNames.dense) + head.norm.tensors(headNames.norm)
            out.append((headNames.bias, head.bias))
        }
        return out
    }
}
