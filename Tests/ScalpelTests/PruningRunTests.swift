import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels
@testable import Scalpel

/// The `scalpel prune` loop end to end on the fixture model.
@Suite("Pruning runs", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct PruningRunTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    static let model = TestSupport.fixture("models/opt-prenorm")
    static let forget = TestSupport.fixture("data/code/docs.jsonl")
    static let retain = TestSupport.fixture("data/prose")

    func arguments(out: String, extra: [String] = [], model: String = Self.model) -> [String] {
        [
            "prune", "--model", model, "--forget", Self.forget, "--retain", Self.retain,
            "--collect-tokens", "100", "--eval-tokens", "80", "--context", "32", "--steps", "4",
            "--ff-frac", "0.05", "--attn-frac", "0.02", "--out", out,
        ] + extra
    }

    func prune(_ out: String, extra: [String] = [], environment: [String: String] = [:], model: String = Self.model) throws
        -> TestSupport.Output
    {
        try TestSupport.run(exe, arguments(out: out, extra: extra, model: model), environment: environment)
    }

    func data(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("the run folder holds history, csv, masks, run.json and a checkpoint")
    func runFolder() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try prune(out)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("step  0") && r.stdout.contains("step  4") && r.stdout.contains("Top1 Max Δ"))
        let history = try JSONSerialization.jsonObject(with: data(out + "/history.json")) as! [String: Any]
        let steps = history["steps"] as! [[String: Any]]
        #expect(steps.count == 5)
        #expect(steps.map { $0["step"] as! Int } == [0, 1, 2, 3, 4])
        let last = steps[4]
        #expect((last["pruned"] as! [String: Int]) == ["ff": 4 * 16, "attn": 4 * 2])
        let perLayer = last["pruned_per_layer"] as! [String: [Int]]
        #expect(perLayer["ff"]!.reduce(0, +) == 64 && perLayer["ff"]!.count == 2)
        let metrics = last["metrics"] as! [String: [String: Any]]
        #expect(Set(metrics["forget"]!.keys).isSuperset(of: ["loss", "top1", "top10", "top1_skip50"]))
        #expect((metrics["retain"]!["predictions"] as! Int) == 80)
        #expect(history["top1_max_delta"] != nil)
        #expect((last["thresholds"] as! [String: Any])["ff"] != nil)
        let csv = try String(contentsOfFile: out + "/history.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 6)
        let run = try JSONSerialization.jsonObject(with: data(out + "/run.json")) as! [String: Any]
        let hashes = run["sha256"] as! [String: String]
        #expect(hashes["model/model.safetensors"] == (try SHA256.file(Self.model + "/model.safetensors")))
        #expect(hashes.keys.contains { $0.hasPrefix("forget:") } && hashes.keys.contains { $0.hasPrefix("retain:") })
        let mask = try SafetensorsFile(path: out + "/masks.safetensors")
        #expect(mask.tensors["ff"]?.dtype == .u8 && mask.tensors["ff"]?.shape == [2, 160])
        #expect(mask.tensors["attn"]?.shape == [2, 4, 16])
        #expect(try mask.intValues("ff").reduce(0, +) == 64)
        // the exported checkpoint loads in Scalpel and has the pruned columns zeroed
        let pruned = try ModelRegistry.load(out + "/model")
        let ffMask = try mask.intValues("ff")
        for layer in 0..<2 {
            let w = pruned.model.ffOutput(layer: layer).weight
            for i in 0..<160 where ffMask[layer * 160 + i] == 1 {
                #expect((0..<64).allSatisfy { w[$0 * 160 + i] == 0 })
            }
        }
    }

    @Test("the same command twice gives byte-identical masks and metrics")
    func determinism() throws {
        let a = TestSupport.temporaryFolder() + "/a", b = TestSupport.temporaryFolder() + "/b"
        #expect(try prune(a, extra: ["--threads", "1"]).status == 0)
        #expect(try prune(b, extra: ["--threads", "2"]).status == 0)
        #expect(try data(a + "/masks.safetensors") == (try data(b + "/masks.safetensors")))
        #expect(try data(a + "/model/model.safetensors") == (try data(b + "/model/model.safetensors")))
    }

    @Test("a run killed after a step and resumed ends as an uninterrupted run")
    func resumeAfterCrash() throws {
        let whole = TestSupport.temporaryFolder() + "/whole", cut = TestSupport.temporaryFolder() + "/cut"
        let extra = ["--offset", "mean", "--steps", "120", "--ff-frac", "0.004"]
        #expect(try prune(whole, extra: extra).status == 0)
        let p = try TestSupport.launch(exe, arguments(out: cut, extra: extra))
        // SIGKILL as soon as step 2 is committed (history.json is the commit point)
        TestSupport.killAfterStep(2, of: cut, p)
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: cut + "/model"))
        let resumed = try TestSupport.run(exe, ["prune", "--resume", cut])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("step 120") && !resumed.stdout.contains("step  1 "))
        #expect(try data(whole + "/masks.safetensors") == (try data(cut + "/masks.safetensors")))
        #expect(try data(whole + "/model/model.safetensors") == (try data(cut + "/model/model.safetensors")))
        let h1 = try JSONSerialization.jsonObject(with: data(whole + "/history.json")) as! [String: Any]
        let h2 = try JSONSerialization.jsonObject(with: data(cut + "/history.json")) as! [String: Any]
        let m1 = (h1["steps"] as! [[String: Any]]).map { $0["metrics"] as! NSDictionary }
        let m2 = (h2["steps"] as! [[String: Any]]).map { $0["metrics"] as! NSDictionary }
        #expect(m1 == m2)
    }

    @Test(
        "the exported model loads in transformers with logits equal to Scalpel's",
        .enabled(
            if: TestSupport.python(with: ["torch", "transformers", "safetensors"]) != nil,
            "needs python3 with torch, transformers, safetensors"),
        arguments: ["opt-prenorm", "neox-parallel", "gpt2", "llama-gqa", "roberta-mlm"])
    func exportLoadsInTransformers(fixture: String) throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let model = TestSupport.fixture("models/" + fixture)
        let offset = fixture == "llama-gqa" ? "zero" : "mean"  // Llama has no output-projection biases
        // a masked LM predicts ~15% of positions: smaller portions
        let sizes = fixture == "roberta-mlm" ? ["--collect-tokens", "12", "--eval-tokens", "12"] : []
        let run = try prune(out, extra: ["--offset", offset] + sizes, model: model)
        #expect(run.status == 0, "\(run.stderr)")
        let ids = [2, 11, 300, 45, 871, 9, 9, 500, 1000, 3]
        let pruned = try ModelRegistry.load(out + "/model")
        let ours = pruned.model.logits([ids])
        let file = TestSupport.temporaryFolder() + "/hf.safetensors"
        let r = try TestSupport.run(
            "/usr/bin/env",
            [
                "python3", TestSupport.root + "/Tools/checks/check_export.py", out + "/model",
                ids.map(String.init).joined(separator: ","), file,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let theirs = try SafetensorsFile(path: file).floatTensor("logits")
        #expect(theirs.shape == ours.shape)
        var worst: Float = 0
        for i in 0..<ours.count { worst = max(worst, abs(ours[i] - theirs[i])) }
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
        // and pruning changed the model: the original's logits differ
        let original = try ModelRegistry.load(model).model.logits([ids])
        #expect((0..<ours.count).contains { abs(ours[$0] - original[$0]) > 1e-3 })
    }

    // MARK: bad input

    func expectError(_ extra: [String], out: String? = nil, containing fragment: String) throws {
        let o = out ?? TestSupport.temporaryFolder() + "/run"
        let r = try prune(o, extra: extra)
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(fragment), "\(r.stderr)")
    }

    @Test func offsetMeanWithoutBias() throws {
        let r = try prune(
            TestSupport.temporaryFolder() + "/run", extra: ["--offset", "mean"], model: TestSupport.fixture("models/llama-gqa"))
        #expect(r.status != 0 && r.stderr.contains("--offset mean needs output-projection biases"), "\(r.stderr)")
    }

    @Test func fractionOutOfRange() throws { try expectError(["--ff-frac", "1.5"], containing: "--ff-frac must be in [0, 1] (got 1.5)") }
    @Test func unknownMetric() throws {
        try expectError(
            ["--ff-metric", "magic"],
            containing: "--ff-metric: unknown metric 'magic' (choose from freq, abs, sqrt, rms, std, mean, random)")
    }
    @Test func tooLittleData() throws {
        try expectError(
            ["--collect-tokens", "1000"], containing: "data set has 181 predictions at context 32, but predictions [0, 1000) were asked for"
        )
    }
    @Test func sameForgetAndRetain() throws {
        let r = try TestSupport.run(
            exe,
            [
                "prune", "--model", Self.model, "--forget", Self.retain, "--retain", Self.retain + "/", "--out",
                TestSupport.temporaryFolder() + "/x",
            ])
        #expect(r.status != 0 && r.stderr.contains("--forget and --retain are the same data set"), "\(r.stderr)")
    }
    @Test func outputExistsAndIsNotARun() throws {
        let dir = TestSupport.temporaryFolder()
        try "keep me".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        try expectError([], out: dir, containing: "already exists and is not an empty folder")
        #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "keep me")
    }
    @Test func outputIsARun() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        #expect(try prune(out, extra: ["--steps", "1"]).status == 0)
        let before = try data(out + "/history.json")
        try expectError([], out: out, containing: "holds a run: continue it with --resume")
        #expect(try data(out + "/history.json") == before)
    }
    @Test func resumeWhatIsNotARun() throws {
        let dir = TestSupport.temporaryFolder()
        let r = try TestSupport.run(exe, ["prune", "--resume", dir])
        #expect(r.status != 0 && r.stderr.contains("not a Scalpel run folder to resume"), "\(r.stderr)")
    }
}

@Suite("Pruning options", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct PruningOptionTests {
    let exe = TestSupport.scalpelExecutable ?? ""

    @Test("--no-recollect prunes down the first step's ranking (the reference's top 3k)")
    func oneShot() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try TestSupport.run(
            exe,
            [
                "prune", "--model", PruningRunTests.model, "--forget", PruningRunTests.forget,
                "--retain", PruningRunTests.retain, "--collect-tokens", "100", "--eval-tokens", "80",
                "--context", "32", "--steps", "3", "--ff-frac", "0.05", "--no-recollect", "--out", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let reference = try SafetensorsFile(path: TestSupport.fixture("pruning/reference.safetensors"))
        let t = reference.tensors["score.ff.abs"]!
        let raw = reference.rawBytes(t)
        let scores = (0..<(t.end - t.start) / 8).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
        let top = Set(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(48))
        let mask = try SafetensorsFile(path: out + "/masks.safetensors").intValues("ff")
        #expect(Set(mask.indices.filter { mask[$0] == 1 }) == top)
    }

    @Test("head mode prunes whole heads")
    func headMode() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try TestSupport.run(
            exe,
            [
                "prune", "--model", PruningRunTests.model, "--forget", PruningRunTests.forget,
                "--retain", PruningRunTests.retain, "--collect-tokens", "100", "--eval-tokens", "80",
                "--context", "32", "--steps", "2", "--ff-frac", "0", "--attn-frac", "0.25",
                "--attn-heads", "median", "--out", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let mask = try SafetensorsFile(path: out + "/masks.safetensors").intValues("attn")
        // 2 layers × 4 heads × 16: two heads per step, whole heads only
        #expect(mask.reduce(0, +) == 4 * 16)
        for h in 0..<8 {
            let head = mask[(h * 16)..<((h + 1) * 16)]
            #expect(Set(head).count == 1)
        }
    }

    @Test("collect writes statistics and --merge adds shards")
    func collectAndMerge() throws {
        let dir = TestSupport.temporaryFolder()
        let common = ["collect", "--model", PruningRunTests.model, "--data", PruningRunTests.retain, "--context", "32"]
        #expect(try TestSupport.run(exe, common + ["--tokens", "40", "--out", dir + "/a.safetensors"]).status == 0)
        #expect(try TestSupport.run(exe, common + ["--tokens", "60", "--skip", "40", "--out", dir + "/b.safetensors"]).status == 0)
        let m = try TestSupport.run(
            exe, ["collect", "--merge", dir + "/a.safetensors", dir + "/b.safetensors", "--out", dir + "/ab.safetensors"])
        #expect(m.status == 0, "\(m.stderr)")
        let a = try Statistics(path: dir + "/a.safetensors"), b = try Statistics(path: dir + "/b.safetensors")
        let ab = try Statistics(path: dir + "/ab.safetensors")
        #expect(ab.ff.count == [100, 100])
        #expect(ab.attn.sum == zip(a.attn.sum, b.attn.sum).map { $0 + $1 })
        let bad = try TestSupport.run(
            exe,
            [
                "collect", "--merge", dir + "/a.safetensors", TestSupport.fixture("safetensors/dtypes.safetensors"), "--out",
                dir + "/x.safetensors",
            ])
        #expect(bad.status != 0 && bad.stderr.contains("not a statistics file"), "\(bad.stderr)")
    }
}

@Suite("Random baseline")
struct RandomScoreTests {
    @Test("random scores are seeded: same seed, same scores; another seed, others")
    func seeded() {
        let s = NeuronSums(shape: [2, 50])
        let a = Scores.compute(.random, forget: s, retain: s, eps: 0, seed: 7, step: 1, kind: .ff)
        let b = Scores.compute(.random, forget: s, retain: s, eps: 0, seed: 7, step: 1, kind: .ff)
        let c = Scores.compute(.random, forget: s, retain: s, eps: 0, seed: 8, step: 1, kind: .ff)
        #expect(a == b && a != c)
        #expect(a.allSatisfy { (0..<1).contains($0) })
    }
}
