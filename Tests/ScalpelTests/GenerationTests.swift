import Foundation
@testable import Scalpel
import ScalpelCore
import ScalpelModels
import TestSupport
import Testing

/// Greedy generation against transformers' `generate(do_sample=False, max_new_tokens=40)`
/// (Tests/Fixtures/generation/greedy.json, written by Tools/fixtures/make_generation_fixtures.py).
/// Where Tools/setup/fetch_smollm2.sh puts the real model, when it has been fetched.
private let smolLM2Path: String? = {
    let path = TestSupport.root + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    return FileManager.default.fileExists(atPath: path) ? path : nil
}()

@Suite("Generation")
struct GenerationTests {
    struct Reference {
        let models: [String: [[String: Any]]]
        let smolLM2: [[String: Any]]
    }

    static func reference() throws -> Reference {
        let json = try InputFile.jsonObject(TestSupport.fixture("generation/greedy.json"))
        return Reference(
            models: json["models"] as? [String: [[String: Any]]] ?? [:], smolLM2: json["smollm2"] as? [[String: Any]] ?? [])
    }

    static let causalModels = [
        "opt-prenorm", "opt-postnorm-proj", "opt-nobias-untied", "gpt2", "gpt2-layer-scaled", "neox-parallel", "neox-sequential",
        "llama-gqa", "llama-linear-bias", "mistral-headdim", "qwen2",
    ]

    static func ints(_ value: Any?) -> [Int] { (value as? [NSNumber])?.map(\.intValue) ?? [] }

    @Test("greedy ids equal transformers' generate on every causal fixture", arguments: causalModels)
    func fixtureModels(_ name: String) throws {
        let reference = try Self.reference()
        let cases = try #require(reference.models[name])
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/\(name)"))
        let model = loaded.model
        let stop = try Generator.stopTokens(folder: loaded.folder, config: model.configJSON)
        #expect(!cases.isEmpty)
        for c in cases {
            let prompt = Self.ints(c["prompt_ids"]), expected = Self.ints(c["ids"])
            let g = try Generator.generate(model, prompt: prompt, settings: GenerationSettings(maxNewTokens: 40, stopTokens: stop))
            #expect(g.ids == expected, "\(name) prompt \(prompt)")
            #expect(g.promptIds == prompt)
        }
    }

    @Test(
        "greedy text on SmolLM2-135M (GGUF) equals transformers', stopping at EOS",
        .enabled(if: smolLM2Path != nil, "skipped: run Tools/setup/fetch_smollm2.sh"))
    func smolLM2() throws {
        let reference = try Self.reference()
        let loaded = try ModelRegistry.load(try #require(smolLM2Path))
        let tokenizer = try #require(loaded.tokenizer)
        let stop = try Generator.stopTokens(folder: loaded.folder, config: loaded.model.configJSON)
        #expect(reference.smolLM2.count == 3)
        var sawStop = false
        for c in reference.smolLM2 {
            let text = try #require(c["prompt"] as? String)
            let prompt = try tokenizer.encode(text)
            #expect(prompt == Self.ints(c["prompt_ids"]))
            let g = try Generator.generate(loaded.model, prompt: prompt, settings: GenerationSettings(maxNewTokens: 40, stopTokens: stop))
            #expect(g.ids == Self.ints(c["ids"]), "prompt \(text.debugDescription)")
            #expect(tokenizer.decode(g.ids, skipSpecialTokens: true) == c["text"] as? String)
            if g.stop == .stopToken { sawStop = true }
        }
        #expect(sawStop, "one reference completion ends with EOS before 40 tokens")
    }

    @Test("the cache gives the full forward pass's logits at every position")
    func cacheMatchesFullPass() throws {
        // one token at a time through the cache against one pass over the whole sequence
        for name in ["opt-prenorm", "neox-parallel", "llama-gqa", "gpt2"] {
            let model = try ModelRegistry.load(TestSupport.fixture("models/\(name)")).model
            let ids = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43]
            let full = model.logits([ids])
            let V = model.shape.vocabularySize, w = model.headInputWidth
            let cache = KVCache(layers: model.shape.layers, capacity: 4)  // grows twice
            var worst: Float = 0
            var out = [Float](repeating: 0, count: V)
            // a 5-token prefix, then single tokens
            var position = 0
            for chunk in [Array(ids[0..<5])] + ids[5...].map({ [$0] }) {
                let h = model.hiddenStates([chunk], probe: nil, cache: cache)
                for r in 0..<chunk.count {
                    out.withUnsafeMutableBufferPointer { model.logits(hidden: h.pointer + r * w, rows: 1, into: $0.baseAddress!) }
                    for v in 0..<V { worst = max(worst, abs(out[v] - full.pointer[(position + r) * V + v])) }
                }
                position += chunk.count
            }
            #expect(cache.length == ids.count)
            #expect(worst < 1e-4, "\(name): largest difference \(worst)")
        }
    }

    @Test("sampling is seeded, honours top-k and top-p, and greedy is temperature 0")
    func sampling() throws {
        let logits: [Float] = [1, 5, 3, 5, -2, 0]
        #expect(Generator.argmax(logits) == 1)
        var seen = Set<Int>()
        var rng = SplitMix64(seed: 7)
        for _ in 0..<400 { seen.insert(Generator.sample(logits, GenerationSettings(temperature: 1, topK: 2), &rng)) }
        #expect(seen == [1, 3])
        // p = softmax: ids 1 and 3 hold 0.4627 each, id 2 0.0626: the nucleus of 0.4 is {1}, of 0.9 {1, 3}, of 0.95 {1, 3, 2}
        for (topP, expected) in [(0.4, Set([1])), (0.9, [1, 3]), (0.95, [1, 2, 3])] {
            seen = []
            for _ in 0..<400 { seen.insert(Generator.sample(logits, GenerationSettings(temperature: 1, topP: topP), &rng)) }
            #expect(seen == expected, "top-p \(topP)")
        }
        var a = SplitMix64(seed: 3), b = SplitMix64(seed: 3)
        let s = GenerationSettings(temperature: 2)
        #expect((0..<50).map { _ in Generator.sample(logits, s, &a) } == (0..<50).map { _ in Generator.sample(logits, s, &b) })
    }
}

/// `scalpel generate` as a user runs it: prompts from a file, JSON out, a run's masks applied.
@Suite("scalpel generate", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct GenerateCommandTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    let model = TestSupport.fixture("models/llama-gqa")

    func generations(_ path: String) throws -> [[String: Any]] {
        let json = try InputFile.jsonObject(path)
        return try #require(json["generations"] as? [[String: Any]])
    }

    @Test("--masks gives the ids of the run's exported model; --prompts reads JSON lines; bad input is one line")
    func masksAndPrompts() throws {
        let dir = TestSupport.temporaryFolder()
        let prompts = dir + "/prompts.jsonl"
        try Data("{\"prompt\": \"def add(a, b):\"}\n\"The old man\"\n\n".utf8).write(to: URL(fileURLWithPath: prompts))
        let run = dir + "/run"
        let pruned = try TestSupport.run(
            exe, TestSupport.fixturePruneArguments(model: model, out: run) + ["--ff-frac", "0.2", "--attn-frac", "0.1", "--steps", "2"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        func generate(_ extra: [String], _ out: String) throws -> [[String: Any]] {
            let r = try TestSupport.run(exe, ["generate", "--prompts", prompts, "--max-new-tokens", "12", "--json", out] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("tokens/s"))
            return try generations(out)
        }
        let base = try generate(["--model", model], dir + "/base.json")
        let masked = try generate(["--model", model, "--masks", run + "/masks.safetensors"], dir + "/masked.json")
        let exported = try generate(["--model", run + "/model"], dir + "/exported.json")
        #expect(base.count == 2 && masked.count == 2)
        #expect(base.map { $0["prompt"] as? String } == ["def add(a, b):", "The old man"])
        let ids = { (g: [[String: Any]]) in g.map { ($0["ids"] as? [Int]) ?? [] } }
        #expect(ids(masked) == ids(exported))
        #expect(ids(masked) != ids(base), "pruning 40% of the FF neurons changes what the model writes")
        #expect(base.allSatisfy { ($0["prompt_ids"] as? [Int])?.isEmpty == false && $0["text"] is String })

        // a mask of another model's shape, a bad prompts line, both options: one line, status 1 or 64
        let bad = try TestSupport.run(
            exe, ["generate", "--model", TestSupport.fixture("models/opt-prenorm"), "--prompt", "x", "--masks", run + "/masks.safetensors"])
        #expect(bad.status == 1 && bad.stderr.contains("masks.safetensors") && !bad.crashed, "\(bad.stderr)")
        try Data("{\"text\": 3}\n".utf8).write(to: URL(fileURLWithPath: prompts))
        let badLine = try TestSupport.run(exe, ["generate", "--model", model, "--prompts", prompts])
        #expect(badLine.status == 1 && badLine.stderr.contains("line 1"), "\(badLine.stderr)")
        let both = try TestSupport.run(exe, ["generate", "--model", model, "--prompts", prompts, "--prompt", "x"])
        #expect(both.status == 64, "\(both.stderr)")
        let encoder = try TestSupport.run(exe, ["generate", "--model", TestSupport.fixture("models/bert-mlm"), "--prompt", "x"])
        #expect(encoder.status == 1 && encoder.stderr.contains("causal"), "\(encoder.stderr)")
    }
}

/// `completions.json` and the report's side-by-side section.
@Suite("Run completions", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct RunCompletionsTests {
    let exe = TestSupport.scalpelExecutable ?? ""

    @Test("a run writes greedy completions before and after, equal to generating with the base and the exported model")
    func beforeAndAfter() throws {
        let dir = TestSupport.temporaryFolder()
        let run = dir + "/run"
        let model = TestSupport.fixture("models/llama-gqa")
        let r = try TestSupport.run(
            exe,
            TestSupport.fixturePruneArguments(model: model, out: run) + [
                "--ff-frac", "0.2", "--steps", "2", "--completions", "2", "--completion-tokens", "12",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let completions = try #require(try Completions.load(folder: run))
        #expect(completions.samples.map(\.role) == ["forget", "forget", "retain", "retain"])
        #expect(completions.maxNewTokens == 12)
        let base = try ModelRegistry.load(model), pruned = try ModelRegistry.load(run + "/model")
        let stop = try Generator.stopTokens(folder: model, config: base.model.configJSON)
        for s in completions.samples {
            #expect((1...32).contains(s.promptIds.count))
            let before = try #require(s.before), after = try #require(s.after)
            #expect(before.step == 0 && after.step == 2)
            let settings = GenerationSettings(maxNewTokens: 12, stopTokens: stop)
            #expect(before.ids == (try Generator.generate(base.model, prompt: s.promptIds, settings: settings)).ids)
            #expect(after.ids == (try Generator.generate(pruned.model, prompt: s.promptIds, settings: settings)).ids)
            #expect(after.text == base.tokenizer?.decode(after.ids, skipSpecialTokens: true))
        }
        let report = try TestSupport.run(exe, ["report", run])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("What the model writes") && html.contains("after step 2"))
        let first = try #require(completions.samples.first?.after?.text)
        #expect(html.contains(RunReport.escape(first)))

        // --completions 0: no file, no section
        let none = dir + "/none"
        let r0 = try TestSupport.run(
            exe, TestSupport.fixturePruneArguments(model: model, out: none) + ["--ff-frac", "0.2", "--steps", "1", "--completions", "0"])
        #expect(r0.status == 0, "\(r0.stderr)")
        #expect(!FileManager.default.fileExists(atPath: none + "/" + Completions.fileName))
    }
}
