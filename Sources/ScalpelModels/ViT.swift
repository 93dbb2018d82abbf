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
public final class ViT: ImageClassifier, StackBacked {
    public let configJSON: [String: Any]
    public let shape: ModelShape
    public let labels: [String]
    public var imageSize: (width: Int, height: Int) { (side, side) }
    let side: Int, patch: Int, channels: Int, dModel: Int
    let stack: TransformerStack
    let patchProjection: Linear
    let clsToken: Tensor, positions: Tensor
    let finalNorm: Norm, classifier: Linear
    let patchWeightShape: [Int]

    public init(json: [String: Any], store: TensorSource, configPath: String) throws {
        configJSON = json
        let c = ConfigReader(json: json, path: configPath)
        let d = try c.count("hidden_size"), L = try c.count("num_hidden_layers"), heads = try c.count("num_attention_heads")
        let f = try c.count("intermediate_size")
        side = try c.count("image_size", 224); patch = try c.count("patch_size", 16); channels = try c.count("num_channels", 3)
        guard channels == 3 else {
            throw ScalpelError.unsupported(path: configPath, field: "num_channels", value: "\(channels)", supported: ["3"])
        }
        guard heads > 0, d % heads == 0, side % patch == 0 else {
            throw ScalpelError.invalidFile(
                path: configPath, reason: "hidden_size must divide by num_attention_heads and image_size by patch_size")
        }
        let id2label = json["id2label"] as? [String: String] ?? [:]
        guard !id2label.isEmpty else { throw ScalpelError.invalidFile(path: configPath, reason: "no id2label: not an image classifier") }
        labels = (0..<id2label.count).map { id2label[String($0)] ?? "\($0)" }
        let eps = Float(try c.double("layer_norm_eps", 1e-12))
        let qkvBias = try c.bool("qkv_bias", true)
        let activation = try Activation(name: try c.string("hidden_act", "gelu"), field: "hidden_act", path: configPath)
        dModel = d
        let tokens = (side / patch) * (side / patch) + 1
        shape = ModelShape(layers: L, ffWidth: f, heads: heads, headWidth: d / heads, vocabularySize: labels.count, maxPositions: tokens)
        func t(_ name: String, _ s: [Int]) throws -> Tensor { try store.tensor(name, shape: s) }
        func linear(_ name: String, _ out: Int, _ inF: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try t(name + ".weight", [out, inF]), bias: bias ? try t(name + ".bias", [out]) : nil)
        }
        func norm(_ name: String) throws -> Norm {
            .layer(weight: try t(name + ".weight", [d]), bias: try t(name + ".bias", [d]), eps: eps)
        }
        let p = "vit."
        patchWeightShape = [d, 3, patch, patch]
        let conv = try t(p + "embeddings.patch_embeddings.projection.weight", patchWeightShape)
        // [d, 3, p, p] is already [d, 3·p·p] row-major: a Linear over patches flattened channel-first
        patchProjection = Linear(
            weight: Tensor(shape: [d, 3 * patch * patch], values: conv.values),
            bias: try t(p + "embeddings.patch_embeddings.projection.bias", [d]))
        clsToken = try t(p + "embeddings.cls_token", [1, 1, d])
        positions = try t(p + "embeddings.position_embeddings", [1, tokens, d])
        finalNorm = try norm(p + "layernorm")
        classifier = try linear("classifier", labels.count, d)
        var layers: [TransformerLayer] = []
        for i in 0..<L {
            let l = p + "encoder.layer.\(i)."
            layers.append(
                TransformerLayer(
                    attentionNorm: try norm(l + "layernorm_before"), mlpNorm: try norm(l + "layernorm_after"),
                    qkv: .stacked([
                        try linear(l + "attention.attention.query", d, d, bias: qkvBias),
                        try linear(l + "attention.attention.key", d, d, bias: qkvBias),
                        try linear(l + "attention.attention.value", d, d, bias: qkvBias),
                    ]),
                    out: try linear(l + "attention.output.dense", d, d),
                    up: try linear(l + "intermediate.dense", f, d), down: try linear(l + "output.dense", d, f)))
        }
        stack = TransformerStack(
            layers: layers, dModel: d, ffWidth: f,
            attention: .blocks(heads: heads, kvHeads: heads, headWidth: d / heads),
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

    public func stateDict() -> [(name: String, tensor: Tensor)] {
        let p = "vit.", d = dModel
        var out: [(name: String, tensor: Tensor)] = [
            (p + "embeddings.patch_embeddings.projection.weight", Tensor(shape: patchWeightShape, values: patchProjection.weight.values)),
            (p + "embeddings.cls_token", clsToken), (p + "embeddings.position_embeddings", positions),
        ]
        if let bias = patchProjection.bias { out.append((p + "embeddings.patch_embeddings.projection.bias", bias)) }
        out += finalNorm.tensors(p + "layernorm") + StateDict.linear(classifier, "classifier")
        for (i, layer) in stack.layers.enumerated() {
            let l = p + "encoder.layer.\(i)."
            out += StateDict.unstack(layer.qkv, ["query", "key", "value"].map { (l + "attention.attention." + $0, d) })
            out += StateDict.linear(layer.out, l + "attention.output.dense")
            out += StateDict.linear(layer.up, l + "intermediate.dense") + StateDict.linear(layer.down, l + "output.dense")
            out += layer.attentionNorm.tensors(l + "layernorm_before") + layer.mlpNorm.tensors(l + "layernorm_after")
        }
        return out
    }
}
