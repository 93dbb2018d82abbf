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
