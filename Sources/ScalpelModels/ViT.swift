import CKernels
import Foundation
import ScalpelCore

/// A model that classifies images (ViT): pixel values in, class logits out.
public protocol ImageClassifier: PrunableModel {
    /// Image side lengths the model expects.
    var imageSize: (width: Int, height: Int) { get }
    /// Class names by id (`id2label`).
    var labels: [String] { get }
    /// pixels: each [3, H, W] → logits [images, labels]; the probe sees every token (CLS and patches).
    func classify(_ pixels: [Tensor], probe: ActivationProbe?) -> Tensor
}

/// ViT for image classification: patch embedding (a strided convolution, here a matmul over
/// flattened patches), CLS token, learned positions, pre-norm bidirectional layers, final layer
/// norm, classifier on the CLS token.
public final class ViT: ImageClassifier, RecordedCheckpoint {
    /// `config.json` fields of `model_type` "vit", with Hugging Face's defaults.
    public struct Configuration {
        public var hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, imageSize, patchSize: Int
        public var layerNormEps: Double
        public var hiddenAct: String
        public var qkvBias: Bool
        /// Class names by id (`id2label`).
        public var labels: [String]

        public init(_ c: ConfigReader) throws {
            hiddenSize = try c.count("hidden_size"); numHiddenLayers = try c.count("num_hidden_layers")
            numAttentionHeads = try c.count("num_attention_heads"); intermediateSize = try c.count("intermediate_size")
            imageSize = try c.count("image_size", 224); patchSize = try c.count("patch_size", 16)
            let channels = try c.count("num_channels", 3)
            guard channels == 3 else {
                throw ScalpelError.unsupported(path: c.path, field: "num_channels", value: "\(channels)", supported: ["3"])
            }
            guard imageSize % patchSize == 0 else {
                throw ScalpelError.invalidFile(path: c.path, reason: "image_size \(imageSize) is not divisible by patch_size \(patchSize)")
            }
            let id2label = c.json["id2label"] as? [String: String] ?? [:]
            guard !id2label.isEmpty else { throw ScalpelError.invalidFile(path: c.path, reason: "no id2label: not an image classifier") }
            labels = (0..<id2label.count).map { id2label[String($0)] ?? "\($0)" }
            layerNormEps = try c.double("layer_norm_eps", 1e-12)
            hiddenAct = try c.string("hidden_act", "gelu")
            qkvBias = try c.bool("qkv_bias", true)
        }
    }

    public let config: Configuration
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let checkpoint: CheckpointRecord
    public var labels: [String] { config.labels }
    public var imageSize: (width: Int, height: Int) { (side, side) }
    var side: Int { config.imageSize }
    var patch: Int { config.patchSize }
    var dModel: Int { config.hiddenSize }
    let stack: TransformerStack
    let patchProjection: Linear
    let clsToken: Tensor, positions: Tensor
    let finalNorm: Norm, classifier: Linear

    /// Reads the checkpoint `inputs` describes, matrices in `inputs.dtype`.
    public init(_ inputs: ArchitectureInputs) throws {
        let json = inputs.json, store = inputs.store, configPath = inputs.configPath
        let reader = ConfigReader(json: json, path: configPath)
        let config = try Configuration(reader)
        self.config = config
        configJSON = json
        let d = config.hiddenSize, f = config.intermediateSize, heads = config.numAttentionHeads, patch = config.patchSize
        let dh = try reader.headWidth(width: d, "hidden_size", heads: heads, "num_attention_heads")
        let eps = Float(config.layerNormEps)
        let activation = try Activation(name: config.hiddenAct, field: "hidden_act", path: configPath)
        let tokens = (config.imageSize / patch) * (config.imageSize / patch) + 1
        shape = ModelShape(
            layers: config.numHiddenLayers, ffWidth: f, heads: heads, headWidth: dh, vocabularySize: config.labels.count,
            maxPositions: tokens)
        let p = "vit."
        let ck = CheckpointReader(store, matrices: inputs.dtype)
        func norm(_ name: String) throws -> Norm { try ck.layerNorm(name, width: d, eps: eps) }
        // the convolution [d, 3, p, p] is already [d, 3·p·p] row-major: a Linear over patches flattened channel-first
        patchProjection = Linear(
            weight: try ck.matrix(
                p + "embeddings.patch_embeddings.projection.weight", [d, 3, patch, patch], heldAs: [d, 3 * patch * patch]),
            bias: try ck.tensor(p + "embeddings.patch_embeddings.projection.bias", [d]))
        clsToken = try ck.tensor(p + "embeddings.cls_token", [1, 1, d])
        positions = try ck.tensor(p + "embeddings.position_embeddings", [1, tokens, d])
        finalNorm = try norm(p + "layernorm")
        classifier = try ck.linear("classifier", out: config.labels.count, in: d)
        let layers = try (0..<config.numHiddenLayers).map { i in
            let l = p + "encoder.layer.\(i)."
            return TransformerLayer(
                attentionNorm: try norm(l + "layernorm_before"), mlpNorm: try norm(l + "layernorm_after"),
                qkv: try ck.fused(["query", "key", "value"].map { (l + "attention.attention." + $0, d) }, in: d, bias: config.qkvBias),
                out: try ck.linear(l + "attention.output.dense", out: d, in: d),
                up: try ck.linear(l + "intermediate.dense", out: f, in: d), down: try ck.linear(l + "output.dense", out: d, in: f))
        }
        checkpoint = ck.record
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: dh),
            placement: .pre, activation: activation, causal: false)
    }

    public func classify(_ pixels: [Tensor], probe: ActivationProbe?) -> Tensor {
        let d = dModel, grid = side / patch, tokens = grid * grid + 1, pp = 3 * patch * patch
        let n = pixels.count * tokens
        // patches: [images · grid², 3·p·p], channel-first within each patch
        let patches = Tensor(zeros: [pixels.count * grid * grid, pp])
        for (b, img) in pixels.enumerated() {
            for gy in 0..<grid {
                for gx in 0..<grid {
                    let row = patches.pointer + ((b * grid + gy) * grid + gx) * pp
                    for c in 0..<3 {
                        for y in 0..<patch {
                            for x in 0..<patch {
                                row[(c * patch + y) * patch + x] = img.pointer[(c * side + gy * patch + y) * side + gx * patch + x]
                            }
                        }
                    }
                }
            }
        }
        let embedded = Tensor(zeros: [pixels.count * grid * grid, d])
        patchProjection(patches.pointer, rows: pixels.count * grid * grid, into: embedded.pointer)
        let x = Tensor(zeros: [n, d])
        for b in 0..<pixels.count {
            (x.pointer + b * tokens * d).update(from: clsToken.pointer, count: d)
            (x.pointer + (b * tokens + 1) * d).update(from: embedded.pointer + b * grid * grid * d, count: grid * grid * d)
            sc_add(x.pointer + b * tokens * d, positions.pointer, tokens * d)
        }
        stack.forward(x, lengths: Array(repeating: tokens, count: pixels.count), probe: probe)
        finalNorm.apply(x.pointer, x.pointer, rows: n, dim: d)
        let cls = Tensor(zeros: [pixels.count, d])
        for b in 0..<pixels.count { (cls.pointer + b * d).update(from: x.pointer + b * tokens * d, count: d) }
        let logits = Tensor(zeros: [pixels.count, labels.count])
        classifier(cls.pointer, rows: pixels.count, into: logits.pointer)
        return logits
    }
}
