import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels

@testable import Scalpel

/// `scalpel prune --dtype bf16`: the same guarantees as Float32 runs (thread count, compaction,
/// resume, cache, export).
@Suite("BF16 runs", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct BF16RunTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    static let smolLM2 = TestSupport.root + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    func prune(_ out: String, model: String = TestSupport.fixture("models/opt-prenorm"), _ extra: [String]) throws -> TestSupport.Output {
        try TestSupport.run(
            exe,
            [
                "prune", "--model", model, "--forget", TestSupport.fixture("data/code/docs.jsonl"), "--retain",
                TestSupport.fixture("data/prose"), "--collect-tokens", "80", "--eval-tokens", "60", "--context", "32",
                "--ff-frac", "0.05", "--attn-frac", "0.02", "--dtype", "bf16", "--out", out,
            ] + extra)
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    func metrics(_ run: String) throws -> [NSDictionary] {
        let h = try JSONSerialization.jsonObject(with: bytes(run + "/history.json")) as? [String: Any]
        return (h?["steps"] as? [[String: Any]] ?? []).compactMap { $0["metrics"] as? NSDictionary }
    }

    @Test(
        "SmolLM2 in BF16, --threads 1 and 3: identical masks and metrics",
        .enabled(if: FileManager.default.fileExists(atPath: smolLM2), "needs Tools/setup/fetch_smollm2.sh"))
    func threadCount() throws {
        let tmp = TestSupport.temporaryFolder()
        for threads in ["1", "3"] {
            let r = try prune(tmp + "/t" + threads, model: Self.smolLM2, ["--steps", "2", "--context", "64", "--threads", threads])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try bytes(tmp + "/t1/masks.safetensors") == (try bytes(tmp + "/t3/masks.safetensors")))
        #expect(try metrics(tmp + "/t1") == (try metrics(tmp + "/t3")))
        // and the run records its dtype
        #expect(try String(decoding: bytes(tmp + "/t1/run.json"), as: UTF8.self).contains("\"dtype\" : \"bf16\""))
    }

    @Test(
        "BF16 differs from Float32, compaction does not change the selection; the export keeps the checkpoint's dtype and loads in transformers"
    )
    func exportAndCompaction() throws {
        let tmp = TestSupport.temporaryFolder()
        #expect(try prune(tmp + "/bf16", ["--steps", "3"]).status == 0)
        #expect(try prune(tmp + "/full", ["--steps", "3", "--no-compact"]).status == 0)
        #expect(try bytes(tmp + "/bf16/masks.safetensors") == (try bytes(tmp + "/full/masks.safetensors")))
        let f32 = try TestSupport.run(
            exe,
            [
                "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", TestSupport.fixture("data/code/docs.jsonl"),
                "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "80", "--eval-tokens", "60", "--context", "32",
                "--ff-frac", "0.05", "--attn-frac", "0.02", "--steps", "1", "--out", tmp + "/f32",
            ])
        #expect(f32.status == 0)
        #expect(try metrics(tmp + "/f32")[0] != (try metrics(tmp + "/bf16")[0]), "BF16 step-0 metrics equal Float32's: BF16 did not run")
        // a Float32 checkpoint run in BF16 is exported in Float32: its own values, pruned columns zeroed
        let export = try SafetensorsFile(path: tmp + "/bf16/model/model.safetensors")
        #expect(export.tensors["model.decoder.layers.0.fc2.weight"]?.dtype == .f32)
        #expect(try String(decoding: bytes(tmp + "/bf16/model/config.json"), as: UTF8.self).contains("\"dtype\" : \"float32\""))
        let masks = try SafetensorsFile(path: tmp + "/bf16/masks.safetensors")
        let ff = try masks.intValues("ff")  // [layers, d_ff], layer 0 first
        let exported = try export.floatTensor("model.decoder.layers.0.fc2.weight")
        let width = exported.shape[1]
        let original = try TensorStore(folder: TestSupport.fixture("models/opt-prenorm")).tensor("model.decoder.layers.0.fc2.weight")
        let rows = exported.shape[0]
        #expect(exported.shape == [rows, width] && ff.count >= width)
        let pruned = (0..<width).filter { ff[$0] != 0 }, kept = (0..<width).filter { ff[$0] == 0 }
        #expect(!pruned.isEmpty && !kept.isEmpty)
        #expect(pruned.allSatisfy { j in (0..<rows).allSatisfy { exported[$0 * width + j] == 0 } })
        #expect(kept.allSatisfy { j in (0..<rows).allSatisfy { exported[$0 * width + j] == original[$0 * width + j] } })
        // a BF16 checkpoint run in BF16 is exported in BF16
        let stored16 = tmp + "/stored16"
        #expect(try prune(stored16, model: TestSupport.fixture("models/opt-postnorm-proj"), ["--steps", "1"]).status == 0)
        let export16 = try SafetensorsFile(path: stored16 + "/model/model.safetensors")
        #expect(export16.tensors["model.decoder.layers.0.fc2.weight"]?.dtype == .bf16)
        #expect(try String(decoding: bytes(stored16 + "/model/config.json"), as: UTF8.self).contains("\"dtype\" : \"bfloat16\""))
        // transformers (in Float32) and Scalpel (in Float32) agree on the exported weights
        let ids = [2, 11, 300, 45, 871, 9, 9, 500, 1000, 3]
        let ours = try ModelRegistry.load(tmp + "/bf16/model").model.logits([ids])
        let file = tmp + "/hf.safetensors"
        let r = try TestSupport.run(
            "/usr/bin/env",
            [
                "python3", TestSupport.root + "/Tools/checks/check_export.py", tmp + "/bf16/model",
                ids.map(String.init).joined(separator: ","), file,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let theirs = try SafetensorsFile(path: file).floatTensor("logits")
        #expect(theirs.shape == ours.shape)
        #expect((0..<ours.count).allSatisfy { abs(ours[$0] - theirs[$0]) < 1e-4 })
    }

    @Test("a BF16 run killed after a step and resumed ends as an uninterrupted one; the cache keeps BF16 apart")
    func resumeAndCache() throws {
        let tmp = TestSupport.temporaryFolder()
        #expect(try prune(tmp + "/whole", ["--steps", "40", "--ff-frac", "0.01", "--attn-frac", "0"]).status == 0)
        let cut = tmp + "/cut"
        let p = try TestSupport.launch(
            exe,
            [
                "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", TestSupport.fixture("data/code/docs.jsonl"),
                "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "80", "--eval-tokens", "60", "--context", "32",
                "--ff-frac", "0.01", "--attn-frac", "0", "--dtype", "bf16", "--steps", "40", "--out", cut,
            ])
        TestSupport.killAfterStep(2, of: cut, p)
        let resumed = try TestSupport.run(exe, ["prune", "--resume", cut])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(tmp + "/whole/masks.safetensors") == (try bytes(cut + "/masks.safetensors")))
        #expect(try metrics(tmp + "/whole") == (try metrics(cut)))
        // a statistics cache filled by a Float32 run is not used by a BF16 one
        let cache = tmp + "/cache"
        let common = ["--steps", "1", "--stats-cache", cache]
        #expect(
            try TestSupport.run(
                exe,
                [
                    "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", TestSupport.fixture("data/code/docs.jsonl"),
                    "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "80", "--eval-tokens", "60", "--context", "32",
                    "--out", tmp + "/c32",
                ] + common
            ).status == 0)
        let before = try FileManager.default.contentsOfDirectory(atPath: cache).count
        #expect(try prune(tmp + "/c16", common).status == 0)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: cache).count == before + 2, "BF16 statistics stored under their own keys")
    }
}
