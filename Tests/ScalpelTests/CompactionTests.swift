import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels
@testable import Scalpel

/// Compaction (pruned FF neurons out of the matmuls, pruned heads skipped) against the full-size
/// model with zeroed columns, and the statistics cache.
@Suite("Compaction and statistics cache")
struct CompactionTests {
    static let sequences: [[Int]] = [Array(1...40), Array(5...30).map { $0 * 3 % 97 }, [7, 9, 11]]

    /// A mask with every third FF neuron of layer 0, all of layer 1's first 40%, one whole head
    /// and a few lone attention neurons pruned, with non-zero offsets.
    static func mask(_ shape: ModelShape) -> Mask {
        var m = Mask(shape: shape)
        let f = shape.ffWidth, dh = shape.headWidth
        for i in stride(from: 0, to: f, by: 3) { m.prune(.ff, i, step: 1, offset: 0.25) }
        if shape.layers > 1 { for i in 0..<(f * 2 / 5) { m.prune(.ff, f + i, step: 2, offset: 0) } }
        for j in 0..<dh { m.prune(.attn, dh + j, step: 1, offset: -0.5) }  // layer 0, head 1
        m.prune(.attn, 3, step: 2, offset: 0)
        return m
    }

    @Test(
        "compacted forward equals the zeroed-column forward; expanding restores every weight bit for bit",
        arguments: ["opt-prenorm", "llama-gqa", "neox-parallel", "gpt2", "opt-postnorm-proj", "llama-linear-bias", "bert-mlm"])
    func forward(_ name: String) throws {
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/" + name))
        let model = loaded.model
        let mask = Self.mask(model.shape)
        Pruner.replay(mask, onto: model)
        let before = model.stateDict().map { ($0.name, $0.tensor.values) }
        let full = model.logits(Self.sequences).values
        model.compact(mask.prunedNeurons)
        // the paths under test ran: FF compacted everywhere; head 1 of layer 0 taken out of q/k/v
        // where the layout allows it, else only its attention skipped
        let stack = (model as! any StackBacked).stack
        #expect(stack.ffCompaction[0]?.live == model.shape.ffWidth - (model.shape.ffWidth + 2) / 3)
        #expect(stack.ffCompaction.count < 2 || stack.ffCompaction[1]?.live == model.shape.ffWidth - model.shape.ffWidth * 2 / 5)
        if stack.headsCompactable {
            #expect(stack.headCompaction[0]?.live == model.shape.heads - 1 && stack.headCompaction[0]?.order.last == 1)
        } else {
            #expect(stack.prunedHeads?[0][1] == true)
        }
        let compacted = model.logits(Self.sequences).values
        // only the float summation order differs: within the project's parity tolerance (1e-4)
        let diff = zip(full, compacted).map { abs($0 - $1) }.max()!
        #expect(diff <= 1e-4, "max |Δlogit| = \(diff)")
        model.compact(nil)
        let after = model.stateDict().map { ($0.name, $0.tensor.values) }
        #expect(before.map(\.0) == after.map(\.0))
        for (b, a) in zip(before, after) { #expect(b.1 == a.1, "\(b.0) changed by compact/expand") }
    }

    @Test(
        "statistics of unpruned neurons agree with and without compaction; pruned ones are their replacement value",
        arguments: ["llama-gqa", "opt-prenorm", "gpt2"])
    func statistics(_ name: String) throws {
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/" + name))
        let model = loaded.model
        let mask = Self.mask(model.shape)
        Pruner.replay(mask, onto: model)
        func collect() -> Statistics {
            let c = StatisticsCollector(shape: model.shape)
            var rows: [Range<Int>] = []
            var base = 0
            for s in Self.sequences { rows.append(base..<(base + s.count)); base += s.count }
            c.rows = rows
            _ = model.hiddenStates(Self.sequences, probe: c)
            var s = c.statistics
            s.setPruned(mask)
            return s
        }
        let full = collect()
        model.compact(mask.prunedNeurons)
        let compacted = collect()
        model.compact(nil)
        let positions = Double(Self.sequences.reduce(0) { $0 + $1.count })
        for kind in NeuronKind.allCases {
            let a = full[kind], b = compacted[kind]
            #expect(a.count == b.count)
            for (x, y) in [
                (a.sum, b.sum), (a.sumAbs, b.sumAbs), (a.sumSqrt, b.sumSqrt), (a.sumSquares, b.sumSquares),
                (a.countPositive, b.countPositive),
            ] {
                let worst = zip(x, y).map { abs($0 - $1) / max(1e-3, abs($0)) }.max()!
                #expect(worst <= 1e-4, "\(kind) relative difference \(worst)")
            }
        }
        // FF neuron 0 is pruned with offset 0.25: sum = N·0.25, all positive
        #expect(abs(compacted.ff.sum[0] - 0.25 * positions) < 1e-9 && compacted.ff.countPositive[0] == positions)
        // attention head 1 of layer 0 is replaced by −0.5
        let dh = model.shape.headWidth
        #expect(abs(compacted.attn.mean[dh] + 0.5) < 1e-12 && compacted.attn.freq[dh] == 0)
    }
}

/// `scalpel prune --stats-cache` end to end.
@Suite("Statistics cache runs", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct StatisticsCacheRunTests {
    let exe = TestSupport.scalpelExecutable ?? ""

    func prune(forget: String, out: String, cache: String, extra: [String] = []) throws -> [[String: Any]] {
        let r = try TestSupport.run(
            exe,
            [
                "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", forget,
                "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "100", "--eval-tokens", "80",
                "--context", "32", "--steps", "3", "--ff-frac", "0.1", "--attn-frac", "0.05",
                "--stats-cache", cache, "--out", out,
            ] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        let history =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/history.json"))) as! [String: Any]
        return history["steps"] as! [[String: Any]]
    }

    func entries(_ cache: String) -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []) }

    @Test("a repeated run is served from the cache with identical results; another forget set reuses step-1 retain statistics")
    func reuse() throws {
        let tmp = TestSupport.temporaryFolder()
        let cache = tmp + "/cache"
        let code = TestSupport.fixture("data/code/docs.jsonl")
        let first = try prune(forget: code, out: tmp + "/a", cache: cache)
        let afterFirst = entries(cache)
        #expect(afterFirst.count == 6, "3 steps × forget and retain: \(afterFirst.count)")
        let second = try prune(forget: code, out: tmp + "/b", cache: cache)
        #expect(entries(cache) == afterFirst, "a repeated run must not collect anything")
        for (a, b) in zip(first, second) {
            #expect(NSDictionary(dictionary: a["metrics"] as! [String: Any]) == NSDictionary(dictionary: b["metrics"] as! [String: Any]))
            #expect(
                NSDictionary(dictionary: a["pruned_per_layer"] as! [String: Any])
                    == NSDictionary(dictionary: b["pruned_per_layer"] as! [String: Any]))
        }
        // without the cache and without compaction the same run gives the same selections
        let plain = try prune(forget: code, out: tmp + "/c", cache: tmp + "/other-cache", extra: ["--no-compact"])
        for (a, b) in zip(first, plain) {
            #expect(
                NSDictionary(dictionary: a["pruned_per_layer"] as! [String: Any])
                    == NSDictionary(dictionary: b["pruned_per_layer"] as! [String: Any]))
        }
        // a different forget set: its own entries, but step 1's retain statistics come from the cache
        let other = tmp + "/other.txt"
        try String(repeating: "def main():\n    return [x * 2 for x in range(10)]\n", count: 30).write(
            toFile: other, atomically: true, encoding: .utf8)
        _ = try prune(forget: other, out: tmp + "/d", cache: cache)
        #expect(
            entries(cache).count == afterFirst.count + 5,
            "3 forget + 2 retain (steps 2, 3) new entries: \(entries(cache).count - afterFirst.count)")
    }
}

/// `--threads` changes who computes what, never the result: a compacted run on real SmolLM2
/// weights (large enough that every matmul is split across workers) gives the same bytes.
@Suite(
    "Thread count",
    .enabled(
        if: TestSupport.scalpelExecutable != nil
            && FileManager.default.fileExists(atPath: TestSupport.root + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "needs the scalpel executable and .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf (Tools/setup/fetch_smollm2.sh)"))
struct ThreadCountTests {
    @Test("prune with --threads 1 and --threads 3: identical masks and metrics")
    func identical() throws {
        let tmp = TestSupport.temporaryFolder()
        var results: [(Data, [[String: Any]])] = []
        for threads in ["1", "3"] {
            let out = tmp + "/t" + threads
            let r = try TestSupport.run(
                TestSupport.scalpelExecutable!,
                [
                    "prune", "--model", TestSupport.root + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "--forget", TestSupport.fixture("data/code/docs.jsonl"), "--retain", TestSupport.fixture("data/prose"),
                    "--collect-tokens", "80", "--eval-tokens", "60", "--context", "64", "--steps", "2",
                    "--ff-frac", "0.05", "--attn-frac", "0.05", "--attn-heads", "mean", "--threads", threads, "--out", out,
                ])
            #expect(r.status == 0, "\(r.stderr)")
            let history =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/history.json"))) as! [String: Any]
            results.append((try Data(contentsOf: URL(fileURLWithPath: out + "/masks.safetensors")), history["steps"] as! [[String: Any]]))
        }
        #expect(results[0].0 == results[1].0, "masks differ between 1 and 3 threads")
        for (a, b) in zip(results[0].1, results[1].1) {
            #expect(NSDictionary(dictionary: a["metrics"] as! [String: Any]) == NSDictionary(dictionary: b["metrics"] as! [String: Any]))
        }
    }
}
