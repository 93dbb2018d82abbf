import CKernels
import Foundation
import ScalpelCore

/// BERT and RoBERTa encoders with their masked-LM heads: word + position + token-type
/// embeddings and a layer norm, post-norm bidirectional layers, and (when the checkpoint has one)
/// the MLM head dense → GELU → layer norm → tied decoder + bias. RoBERTa's positions start at
/// `pad_token_id + 1`.
public final class BERT: LanguageModel, RecordedCheckpoint {
    public enum Flavor: String { case bert, roberta }

    /// `config.json` fields of `model_type` "bert" and "roberta", with Hugging Face's defaults.
    public struct Configuration {
        public var hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, vocabSize, maxPositionEmbeddings: Int
        public var typeVocabSize, padTokenId: Int
        public var layerNormEps: Double
        public var hiddenAct: String

        public init(_ c: ConfigReader) throws {
            hiddenSize = try c.count("hidden_size"); numHiddenLayers = try c.count("num_hidden_layers")
            numAttentionHeads = try c.count("num_attention_heads"); intermediateSize = try c.count("intermediate_size")
            vocabSize = try c.count("vocab_size"); maxPositionEmbeddings = try c.count("max_position_embeddings", 512)
            let positionType = try c.string("position_embedding_type", "absolute")
            guard positionType == "absolute" else {
                throw ScalpelError.unsupported(path: c.path, field: "position_embedding_type", value: positionType, supported: ["absolute"])
            }
            typeVocabSize = try c.int("type_vocab_size", 2)
            guard (0...ConfigReader.sizeLimit).contains(typeVocabSize) else {
                throw ScalpelError.invalidFile(
                    path: c.path, reason: "type_vocab_size \(typeVocabSize) must be between 0 and \(ConfigReader.sizeLimit)")
            }
            padTokenId = try c.int("pad_token_id", 1)
            layerNormEps = try c.double("layer_norm_eps", 1e-12)
            hiddenAct = try c.string("hidden_act", "gelu")
        }
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let task: PredictionTask
    public let checkpoint: CheckpointRecord
    public var headInputWidth: Int { dModel }
    let flavor: Flavor
    var dModel: Int { config.hiddenSize }
    let stack: TransformerStack
    let wordEmbeddings: Tensor, positionEmbeddings: Tensor, tokenTypeEmbeddings: Tensor?
    let embeddingNorm: Norm
    let positionOffset: Int
    /// The MLM head, when the checkpoint has one.
    let head: (dense: Linear, activation: Activation, norm: Norm, decoder: Tensor, bias: Tensor)?

    /// Reads a `bert` or `roberta` checkpoint (`flavor`); `maskToken` is the tokenizer's mask token, if any.
    public init(_ inputs: ArchitectureInputs, flavor: Flavor, maskToken: Int?) throws {
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader)
        self.config = config
        configJSON = json
        self.flavor = flavor
        let d = config.hiddenSize, f = config.intermediateSize, V = config.vocabSize, P = config.maxPositionEmbeddings
        let heads = config.numAttentionHeads
        let dh = try reader.headWidth(width: d, "hidden_size", heads: heads, "num_attention_heads")
        let eps = Float(config.layerNormEps)
        let activation = try Activation(name: config.hiddenAct, field: "hidden_act", path: configPath)
        positionOffset = flavor == .roberta ? config.padTokenId + 1 : 0
        guard positionOffset >= 0, positionOffset < P - 1 else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "pad_token_id \(config.padTokenId) leaves no positions of max_position_embeddings \(P)")
        }
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: V,
            maxPositions: P - positionOffset)
        let candidates = flavor == .roberta ? ["roberta.", ""] : ["bert.", ""]
        let p = candidates.first { store.contains($0 + "embeddings.word_embeddings.weight") } ?? candidates[0]
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        func norm(_ name: String) throws -> Norm { try ck.layerNorm(name, width: d, eps: eps) }
        wordEmbeddings = try ck.matrix(p + "embeddings.word_embeddings.weight", [V, d])
        positionEmbeddings = try ck.tensor(p + "embeddings.position_embeddings.weight", [P, d])
        let types = config.typeVocabSize
        tokenTypeEmbeddings = types > 0 ? try ck.tensor(p + "embeddings.token_type_embeddings.weight", [types, d]) : nil
        embeddingNorm = try norm(p + "embeddings.LayerNorm")
        let layers = try (0..<config.numHiddenLayers).map { i in
            let l = p + "encoder.layer.\(i)."
            return TransformerLayer(
                attentionNorm: try norm(l + "attention.output.LayerNorm"), mlpNorm: try norm(l + "output.LayerNorm"),
                qkv: try ck.fused(["query", "key", "value"].map { (l + "attention.self." + $0, d) }, in: d, bias: true),
                out: try ck.linear(l + "attention.output.dense", out: d, in: d),
                up: try ck.linear(l + "intermediate.dense", out: f, in: d), down: try ck.linear(l + "output.dense", out: d, in: f))
        }
        let names =
            flavor == .roberta
            ? (dense: "lm_head.dense", norm: "lm_head.layer_norm", bias: "lm_head.bias")
            : (dense: "cls.predictions.transform.dense", norm: "cls.predictions.transform.LayerNorm", bias: "cls.predictions.bias")
        if store.contains(names.dense + ".weight") {
            guard let maskToken else {
                throw ScalpelError.invalidFile(
                    path: configPath, reason: "the checkpoint has an MLM head but its tokenizer has no mask token")
            }
            head = (
                try ck.linear(names.dense, out: d, in: d), flavor == .roberta ? Activation.gelu : activation, try norm(names.norm),
                wordEmbeddings, try ck.tensor(names.bias, [V])
            )
            task = .masked(maskToken: maskToken)
        } else {
            head = nil
            task = .masked(maskToken: maskToken ?? -1)
        }
        checkpoint = ck.record
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: dh),
            placement: .post, activation: activation, causal: false)
    }

    /// Whether the checkpoint carries the masked-LM head (an encoder alone, like a sentence-embedding model, does not).
    public var hasHead: Bool { head != nil }

    public func hiddenStates(_ sequences: [[Int]], probe: ActivationProbe?, cache: KVCache?) -> Tensor {
        precondition(cache == nil, "an encoder has no key/value cache")
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
}
