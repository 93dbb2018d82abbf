import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels
@testable import Scalpel

/// Statistics, scores and first-step selections against Tools/fixtures/reference_pruning.py
/// (HF transformers hooks, float64 torch), on the fixture model.
@Suite("Pruning parity with the hook-based reference")
struct PruningParityTests {
    static let reference = try! SafetensorsFile(path: TestSupport.fixture("pruning/reference.safetensors"))
    static let loaded = try! ModelRegistry.load(TestSupport.fixture("models/opt-prenorm"))

    static func selection(_ path: String, skip: Int = 0, count: Int = 100) -> WindowSelection {
        try! WindowSelection.select(
            DataSet(name: "d", path: TestSupport.fixture(path)), tokenizer: loaded.tokenizer!,
            context: 32, skip: skip, count: count, vocabularySize: loaded.model.shape.vocabularySize)
    }

    static let forget = StatisticsCollector.collect(loaded.model, selection("data/code/docs.jsonl"), batchTokens: 50)
    static let retain = StatisticsCollector.collect(loaded.model, selection("data/prose"), batchTokens: 50)

    func doubles(_ name: String) throws -> [Double] {
        let t = Self.reference.tensors[name]!
        let raw = Self.reference.rawBytes(t)
        return (0..<(t.end - t.start) / 8).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
    }

    /// |got − want| ≤ relative · max(|want|, scale). Both sides run the model in Float32 (summed in
    /// Float64 after), so activations differ by a few Float32 roundings (2⁻²⁴ ≈ 6e-8 each) through
    /// two layers; 5e-6 is about 80 of them.
    /// `scale` is the magnitude of the terms behind a signed value that may cancel (Σ|a| for Σa),
    /// so cancellation is not mistaken for error.
    func expectClose(_ got: [Double], _ want: [Double], _ what: String, relative: Double = 5e-6, scale: [Double]? = nil) {
        #expect(got.count == want.count, "\(what)")
        var worst = 0.0
        for (i, (g, w)) in zip(got, want).enumerated() {
            worst = max(worst, abs(g - w) / max(abs(w), scale?[i] ?? 0, 1e-300))
        }
        #expect(worst <= relative, "\(what): worst relative difference \(worst)")
    }

    @Test("Float64 sums equal the reference to 5e-6 relative")
    func sums() throws {
        for (label, stats) in [("forget", Self.forget), ("retain", Self.retain)] {
            for kind in NeuronKind.allCases {
                let s = stats[kind]
                #expect(s.count == [Double](repeating: 100, count: 2))
                expectClose(
                    s.sum, try doubles("\(label).\(kind.rawValue).sum"), "\(label) \(kind) sum",
                    scale: try doubles("\(label).\(kind.rawValue).sum_abs"))
                expectClose(s.sumAbs, try doubles("\(label).\(kind.rawValue).sum_abs"), "\(label) \(kind) sum_abs")
                expectClose(s.sumSqrt, try doubles("\(label).\(kind.rawValue).sum_sqrt"), "\(label) \(kind) sum_sqrt")
                expectClose(s.sumSquares, try doubles("\(label).\(kind.rawValue).sum_sq"), "\(label) \(kind) sum_sq")
                #expect(s.countPositive == (try doubles("\(label).\(kind.rawValue).count_pos")), "\(label) \(kind) count_pos")
            }
        }
    }

    @Test("scores of every deterministic metric equal the reference", arguments: ["freq", "abs", "sqrt", "rms", "std", "mean"])
    func scores(metric: String) throws {
        for kind in NeuronKind.allCases {
            let eps = kind == .ff ? 1e-3 : 1e-4
            let s = Scores.compute(
                ImportanceMetric(rawValue: metric)!, forget: Self.forget[kind], retain: Self.retain[kind],
                eps: eps, seed: 0, step: 1, kind: kind)
            // |mean_F − mean_R| cancels: its scale is mean|a_F| + mean|a_R|
            let scale = metric == "mean" ? zip(Self.forget[kind].abs, Self.retain[kind].abs).map { $0 + $1 } : nil
            expectClose(s, try doubles("score.\(kind.rawValue).\(metric)"), "\(kind) \(metric)", scale: scale)
        }
    }

    @Test("first-step masks are identical", arguments: ["freq", "abs", "sqrt", "rms", "std", "mean"])
    func masks(metric: String) throws {
        let shape = Self.loaded.model.shape
        for (kind, frac) in [(NeuronKind.ff, 0.05), (.attn, 0.02)] {
            let s = Scores.compute(
                ImportanceMetric(rawValue: metric)!, forget: Self.forget[kind], retain: Self.retain[kind],
                eps: kind == .ff ? 1e-3 : 1e-4, seed: 0, step: 1, kind: kind)
            let k = Int(frac * Double(s.count))
            let picked = Selection.top(k, scores: s) { _ in false }.indices
            var mask = [Int](repeating: 0, count: s.count)
            for i in picked { mask[i] = 1 }
            #expect(mask == (try Self.reference.intValues("mask.\(kind.rawValue).\(metric)")), "\(kind) \(metric)")
        }
        #expect(shape.layers == 2)
    }

    @Test("head mode (mean and median) selects the reference heads", arguments: [AttentionSelection.mean, .median])
    func heads(mode: AttentionSelection) throws {
        let shape = Self.loaded.model.shape
        let s = Scores.compute(.abs, forget: Self.forget.attn, retain: Self.retain.attn, eps: 1e-4, seed: 0, step: 1, kind: .attn)
        let k = Int(0.25 * Double(shape.layers * shape.heads))
        let picked = Selection.topHeads(k, scores: s, headWidth: shape.headWidth, by: mode) { _ in false }.indices
        var mask = [Int](repeating: 0, count: s.count)
        for i in picked { mask[i] = 1 }
        #expect(mask == (try Self.reference.intValues("mask.heads.\(mode.rawValue)")))
    }

    @Test("shards merge by exact addition and give the statistics of the whole")
    func merge() throws {
        let a = StatisticsCollector.collect(Self.loaded.model, Self.selection("data/prose", skip: 0, count: 37))
        let b = StatisticsCollector.collect(Self.loaded.model, Self.selection("data/prose", skip: 37, count: 63))
        var merged = a
        try merged.merge(b)
        for kind in NeuronKind.allCases {
            #expect(merged[kind].count == Self.retain[kind].count)
            #expect(merged[kind].sumAbs == zip(a[kind].sumAbs, b[kind].sumAbs).map { $0 + $1 })
            // the shards ran in other batches, so activations differ in the last float32 bits
            expectClose(merged[kind].sum, Self.retain[kind].sum, "merged sum", scale: Self.retain[kind].sumAbs)
            expectClose(merged[kind].sumSquares, Self.retain[kind].sumSquares, "merged sum_sq")
            expectClose(merged[kind].countPositive, Self.retain[kind].countPositive, "merged count_pos", relative: 0.01)
        }
        var wrong = Statistics(shape: ModelShape(layers: 1, ffWidth: 3, heads: 1, headWidth: 2, vocabularySize: 5, maxPositions: 8))
        #expect(throws: ScalpelError.self) { try wrong.merge(a) }
    }

    @Test("statistics files round-trip exactly")
    func statisticsFile() throws {
        let path = TestSupport.temporaryFolder() + "/s.safetensors"
        try Self.forget.write(to: path)
        #expect(try Statistics(path: path) == Self.forget)
    }

    @Test("statistics do not depend on the thread count")
    func threads() {
        let before = Parallel.threads
        defer { Parallel.threads = before }
        Parallel.threads = 1
        let one = StatisticsCollector.collect(Self.loaded.model, Self.selection("data/prose"))
        Parallel.threads = 3
        let three = StatisticsCollector.collect(Self.loaded.model, Self.selection("data/prose"))
        #expect(one == three)
    }
}

@Suite("Pruner")
struct PrunerTests {
    @Test("zeroing with a mean offset equals replacing the activation by the mean")
    func offsetIsExact() throws {
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/opt-prenorm"))
        let proj = loaded.model.ffOutput(layer: 1)
        let rows = proj.weight.shape[0], cols = proj.weight.shape[1]
        let w = proj.weight.values, b = proj.bias!.values
        let a = (0..<cols).map { Float(($0 * 7919) % 13) / 5 - 1 }
        let neuron = 17, mean: Float = 0.625
        Pruner.apply(loaded.model, kind: .ff, neurons: [cols + neuron]) { _ in mean }
        var replaced = a
        replaced[neuron] = mean
        let w2 = proj.weight.values, b2 = proj.bias!.values
        for r in 0..<rows {
            var before: Float = b[r], after: Float = b2[r]
            for c in 0..<cols { before += w[r * cols + c] * replaced[c]; after += w2[r * cols + c] * a[c] }
            #expect(abs(before - after) < 1e-5)
            #expect(w2[r * cols + neuron] == 0)
        }
    }
}
