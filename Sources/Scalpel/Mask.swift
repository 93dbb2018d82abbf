import Foundation
import ScalpelCore
import ScalpelModels

/// Which neurons are pruned, and when: the data of a pruning run (`masks.safetensors`).
///
/// `ff` is uint8 `[L, dFF]` and `attn` uint8 `[L, heads, dHead]`, 1 = pruned. The file also
/// holds `ff_step`/`attn_step` (int32, the step that pruned each neuron, 0 = never) and
/// `ff_offset`/`attn_offset` (float32, the retain-set mean the neuron was replaced by; 0 for
/// zero pruning), which make replaying a run onto the original weights exact.
public struct Mask: Sendable, Equatable {
    public let ffShape: [Int]
    public let attnShape: [Int]
    public var ffStep: [Int32]
    public var attnStep: [Int32]
    public var ffOffset: [Float]
    public var attnOffset: [Float]

    public init(shape: ModelShape) {
        ffShape = [shape.layers, shape.ffWidth]
        attnShape = [shape.layers, shape.heads, shape.headWidth]
        ffStep = [Int32](repeating: 0, count: shape.layers * shape.ffWidth)
        attnStep = [Int32](repeating: 0, count: shape.layers * shape.heads * shape.headWidth)
        ffOffset = [Float](repeating: 0, count: ffStep.count)
        attnOffset = [Float](repeating: 0, count: attnStep.count)
    }

    public func steps(_ kind: NeuronKind) -> [Int32] { kind == .ff ? ffStep : attnStep }
    /// Each neuron's replacement value (0 unless pruned with the mean offset).
    public func offsets(_ kind: NeuronKind) -> [Float] { kind == .ff ? ffOffset : attnOffset }
    public func isPruned(_ kind: NeuronKind, _ i: Int) -> Bool { steps(kind)[i] != 0 }
    public func prunedCount(_ kind: NeuronKind) -> Int { steps(kind).reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }

    /// Pruned neurons per layer.
    public func prunedPerLayer(_ kind: NeuronKind) -> [Int] {
        let s = steps(kind)
        let layers = ffShape[0]
        let width = s.count / layers
        return (0..<layers).map { l in s[(l * width)..<((l + 1) * width)].reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
    }

    /// Marks neuron `i` of `kind` pruned at `step` with replacement value `offset`.
    public mutating func prune(_ kind: NeuronKind, _ i: Int, step: Int, offset: Float) {
        if kind == .ff { ffStep[i] = Int32(step); ffOffset[i] = offset } else { attnStep[i] = Int32(step); attnOffset[i] = offset }
    }

    /// Un-prunes every neuron pruned after `step`.
    public mutating func forget(after step: Int) {
        for i in ffStep.indices where ffStep[i] > Int32(step) { ffStep[i] = 0; ffOffset[i] = 0 }
        for i in attnStep.indices where attnStep[i] > Int32(step) { attnStep[i] = 0; attnOffset[i] = 0 }
    }

    /// The neurons pruned at `step`, in index order.
    public func pruned(_ kind: NeuronKind, atStep step: Int) -> [Int] {
        steps(kind).indices.filter { steps(kind)[$0] == Int32(step) }
    }

    public var lastStep: Int { Int(max(ffStep.max() ?? 0, attnStep.max() ?? 0)) }

    public func write(to path: String) throws {
        try SafetensorsWriter.write(
            [
                TensorRecord(name: "ff", shape: ffShape, uint8s: ffStep.map { $0 != 0 ? 1 : 0 }),
                TensorRecord(name: "attn", shape: attnShape, uint8s: attnStep.map { $0 != 0 ? 1 : 0 }),
                TensorRecord(name: "ff_step", shape: ffShape, int32s: ffStep),
                TensorRecord(name: "attn_step", shape: attnShape, int32s: attnStep),
                TensorRecord(name: "ff_offset", shape: ffShape, floats: ffOffset),
                TensorRecord(name: "attn_offset", shape: attnShape, floats: attnOffset),
            ], metadata: ["format": "scalpel-mask"], to: path)
    }

    public init(path: String, shape: ModelShape) throws {
        self.init(shape: shape)
        let file = try SafetensorsFile(path: path)
        func check(_ name: String, _ expected: [Int]) throws {
            guard let t = file.tensors[name] else { throw ScalpelError.missingTensor(path: path, name: name) }
            guard t.shape == expected else { throw ScalpelError.wrongShape(path: path, name: name, expected: expected, found: t.shape) }
        }
        try check("ff_step", ffShape); try check("attn_step", attnShape)
        try check("ff_offset", ffShape); try check("attn_offset", attnShape)
        ffStep = try file.intValues("ff_step").map { Int32($0) }
        attnStep = try file.intValues("attn_step").map { Int32($0) }
        ffOffset = try file.floatTensor("ff_offset").values
        attnOffset = try file.floatTensor("attn_offset").values
    }
}

extension Mask {
    /// The pruned neurons per layer, and the heads all of whose neurons are pruned, for compaction.
    public var prunedNeurons: PrunedNeurons {
        let layers = ffShape[0], f = ffShape[1], heads = attnShape[1], dh = attnShape[2]
        let ff = (0..<layers).map { l in (0..<f).map { ffStep[l * f + $0] != 0 } }
        let hs = (0..<layers).map { l in (0..<heads).map { h in (0..<dh).allSatisfy { attnStep[(l * heads + h) * dh + $0] != 0 } } }
        return PrunedNeurons(ff: ff, heads: hs)
    }
}
