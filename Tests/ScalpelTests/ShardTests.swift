import Foundation
import Scalpel
import ScalpelModels
import ScalpelCore
import TestSupport
import Testing

/// Collection and evaluation in shards (`scalpel prune --executor`, `scalpel shard`): the same
/// masks and metrics, to the bit, whoever computes the shards and in whatever order.
@Suite("Shards", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct ShardTests {
    let exe = TestSupport.scalpelExecutable ?? ""

    func prune(_ out: String, model: String, _ extra: [String]) throws -> TestSupport.Output {
        try TestSupport.run(
            exe,
            TestSupport.fixturePruneArguments(model: model, out: out, collect: 96, evaluate: 72, context: 16) + [
                "--ff-frac", "0.05", "--attn-frac", "0.03", "--steps", "3", "--shard-tokens", "40", "--completions", "0",
            ] + extra)
    }

    /// What must be identical between two runs: per step the pruned counts, thresholds and metrics, and the masks' bytes.
    func outcome(_ run: String) throws -> (steps: [String], masks: Data?) {
        let h = try InputFile.jsonObject(run + "/history.json")
        let steps = (h["steps"] as? [[String: Any]] ?? []).map { s -> String in
            let kept = s.filter { ["step", "pruned", "thresholds", "metrics", "drops"].contains($0.key) }
            return String(decoding: (try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }
        return (steps, FileManager.default.contents(atPath: run + "/masks.safetensors"))
    }

    @Test(
        "an executor running scalpel shard (in order, or in parallel in reverse order) gives the run's exact masks and metrics",
        arguments: ["models/opt-prenorm", "models/llama-gqa"])
    func executors(_ model: String) throws {
        let dir = TestSupport.temporaryFolder()
        let local = try prune(dir + "/local", model: TestSupport.fixture(model), [])
        #expect(local.status == 0, "\(local.stderr)")
        let sequential = try prune(dir + "/sequential", model: TestSupport.fixture(model), ["--executor", "\(exe) shard --threads 1"])
        #expect(sequential.status == 0, "\(sequential.stderr)")
        // every task in its own process, started last to first, all at once
        let script = dir + "/parallel.sh"
        try Data(
            """
            #!/bin/sh
            n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['tasks']))" "$1")
            i=$((n - 1))
            while [ $i -ge 0 ]; do "\(exe)" shard "$1" --task $i --threads 1 > /dev/null & i=$((i - 1)); done
            wait
            """.utf8
        ).write(to: URL(fileURLWithPath: script))
        let parallel = try prune(dir + "/parallel", model: TestSupport.fixture(model), ["--executor", "sh \(script)"])
        #expect(parallel.status == 0, "\(parallel.stderr)")
        let a = try outcome(dir + "/local"), b = try outcome(dir + "/sequential"), c = try outcome(dir + "/parallel")
        #expect(a.steps.count == 4)
        #expect(a.steps == b.steps && a.steps == c.steps)
        #expect(a.masks != nil && a.masks == b.masks && a.masks == c.masks)
        #expect(!FileManager.default.fileExists(atPath: dir + "/sequential/.shards"), "the shard files are removed at the end")
    }

    @Test("a failing executor stops the run with one line, and --resume continues it to the same result")
    func failingExecutor() throws {
        let dir = TestSupport.temporaryFolder()
        let model = TestSupport.fixture("models/opt-prenorm")
        let failed = try prune(dir + "/run", model: model, ["--executor", "false"])
        #expect(failed.status == 1 && !failed.crashed, "\(failed.stderr)")
        #expect(failed.stderr.contains("--executor 'false' failed") && failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
        // the plan it was given: step 0's evaluation of forget, in several shards, with the run's settings
        let plan = try ShardPlan(path: dir + "/run/.shards/step-0-evaluate-forget/plan.json")
        #expect(plan.tasks.count >= 2 && plan.tasks.map(\.index) == Array(0..<plan.tasks.count))
        #expect(plan.config.shardTokens == 40 && plan.compact)
        let resumed = try TestSupport.run(exe, ["prune", "--resume", dir + "/run"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let local = try prune(dir + "/local", model: model, [])
        #expect(local.status == 0)
        #expect(try outcome(dir + "/run").steps == outcome(dir + "/local").steps)
        #expect(try outcome(dir + "/run").masks == outcome(dir + "/local").masks)
    }

    @Test("collect --masks gives the exported pruned model's statistics, with pruned neurons at their replacement value")
    func collectWithMasks() throws {
        let dir = TestSupport.temporaryFolder()
        let model = TestSupport.fixture("models/opt-prenorm")
        let run = try prune(dir + "/run", model: model, [])
        #expect(run.status == 0, "\(run.stderr)")
        func collect(_ m: String, _ extra: [String], _ out: String) throws -> Statistics {
            let r = try TestSupport.run(
                exe,
                ["collect", "--model", m, "--data", TestSupport.fixture("data/prose"), "--tokens", "64", "--context", "16", "--out", out]
                    + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try Statistics(path: out)
        }
        let masked = try collect(model, ["--masks", dir + "/run/masks.safetensors"], dir + "/masked.safetensors")
        let exported = try collect(dir + "/run/model", [], dir + "/exported.safetensors")
        let plain = try collect(model, [], dir + "/plain.safetensors")
        let mask = try Mask(path: dir + "/run/masks.safetensors", shape: try ModelRegistry.load(model).network.shape)
        var compared = 0
        for i in 0..<mask.ffStep.count where mask.ffStep[i] == 0 {
            #expect(masked.ff.sumAbs[i] == exported.ff.sumAbs[i] && masked.ff.sum[i] == exported.ff.sum[i])
            compared += 1
        }
        #expect(compared > 0 && mask.prunedCount(.ff) > 0)
        for i in 0..<mask.ffStep.count where mask.ffStep[i] != 0 { #expect(masked.ff.sumAbs[i] == 0) }
        #expect(masked.ff.sumAbs != plain.ff.sumAbs, "the mask changed the statistics")
    }
}
