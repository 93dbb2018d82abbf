import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue prompts with a causal language model (greedy or sampled), optionally with a run's pruning applied.",
        discussion: """
            Decoding is incremental: the prompt runs once, then each new token costs one position, which attends to the \
            cached keys and values of the positions before it. --masks applies a pruning run's masks (zeroed or \
            mean-offset neurons) to the model as loaded, without an export.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt (encoded with the checkpoint's tokenizer, special tokens added).")
    var prompt: String?

    @Option(help: "A .jsonl file of prompts: each line {\"prompt\": \"…\"} or a JSON string.")
    var prompts: String?

    @Option(name: .customLong("max-new-tokens"), parsing: .unconditional, help: "Tokens to generate at most per prompt.")
    var maxNewTokens: Int = 64

    @Option(
        name: .customLong("min-new-tokens"), parsing: .unconditional,
        help: "Do not stop (choose EOS) before this many new tokens, as transformers' min_new_tokens.")
    var minNewTokens: Int = 0

    @Option(parsing: .unconditional, help: "0: greedy; above 0: sample from softmax(logits / temperature).")
    var temperature: Double = 0

    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Sampling: keep the most likely tokens up to this probability.")
    var topP: Double = 1

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Sampling: keep the k most likely tokens (0: all).")
    var topK: Int = 0

    @Option(parsing: .unconditional, help: "Seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "A pruning run's masks.safetensors (RUN_DIR/masks.safetensors), applied before generating.")
    var masks: String?

    @Option(help: "Write the generations as JSON: {\"generations\": [{\"prompt\", \"prompt_ids\", \"ids\", \"text\", \"stop\", timings}]}.")
    var json: String?

    func validate() throws {
        guard (prompt == nil) != (prompts == nil) else { throw ValidationError("give exactly one of --prompt or --prompts") }
    }

    func run() throws {
        try modelOptions.apply()
        let settingsWithoutStop = GenerationSettings(
            maxNewTokens: maxNewTokens, minNewTokens: minNewTokens, temperature: temperature, topP: topP, topK: topK, seed: seed)
        try settingsWithoutStop.validate()
        if let json { try OutputPath.check(json, option: "--json", inputs: [modelOptions.model] + (prompts.map { [$0] } ?? [])) }
        let texts = try prompt.map { [$0] } ?? PromptFile.read(prompts ?? "")
        let loaded = try modelOptions.load()
        let model = try loaded.requireLanguageModel()
        try loaded.requireHead()
        let tokenizer = try loaded.requireTokenizer()
        if let masks {
            let mask = try Mask(path: masks, shape: model.shape)
            Pruner.replay(mask, onto: model)
            print("applied \(masks): \(mask.prunedCount(.ff)) FF and \(mask.prunedCount(.attn)) attention neurons pruned")
        }
        var settings = settingsWithoutStop
        settings.stopTokens = try Generator.stopTokens(folder: loaded.folder, config: model.configJSON)
        var records: [[String: Any]] = []
        var newTokens = 0, decodeSeconds = 0.0, decodeTokens = 0, promptSeconds = 0.0
        for text in texts {
            let ids = try tokenizer.encode(text)
            let g = try Generator.generate(model, prompt: ids, settings: settings)
            let completion = tokenizer.decode(g.ids, skipSpecialTokens: true)
            print("── prompt (\(ids.count) tokens): \(text)")
            print("── completion (\(g.ids.count) tokens, \(g.stop.rawValue)): \(completion)")
            records.append([
                "prompt": text, "prompt_ids": ids, "ids": g.ids, "text": completion, "stop": g.stop.rawValue,
                "prompt_seconds": g.promptSeconds, "token_seconds": g.tokenSeconds,
            ])
            newTokens += g.ids.count
            promptSeconds += g.promptSeconds
            decodeSeconds += g.tokenSeconds.reduce(0, +); decodeTokens += g.tokenSeconds.count
        }
        let rate = decodeSeconds > 0 ? Double(decodeTokens) / decodeSeconds : 0
        print(
            String(
                format: "%d prompts, %d new tokens; prompts %.2f s; decoding %.1f tokens/s (%.1f ms per token)",
                texts.count, newTokens, promptSeconds, rate, decodeTokens > 0 ? 1000 * decodeSeconds / Double(decodeTokens) : 0))
        Profile.report()
        if let json {
            let data = try JSONSerialization.data(withJSONObject: ["generations": records], options: [.prettyPrinted, .sortedKeys])
            try writeAtomically(data, to: json)
            print("wrote \(json)")
        }
    }
}

/// Prompts from a .jsonl file: one per line, a JSON string or an object with a "prompt" field.
enum PromptFile {
    static func read(_ path: String) throws -> [String] {
        var prompts: [String] = []
        try InputFile.forEachLine(path) { line, number in
            let value = try? JSONSerialization.jsonObject(with: line, options: [.fragmentsAllowed])
            if let s = value as? String {
                prompts.append(s)
            } else if let o = value as? [String: Any], let s = o["prompt"] as? String {
                prompts.append(s)
            } else if !String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ScalpelError.invalidFile(
                    path: path, reason: "line \(number) is neither a JSON string nor an object with a \"prompt\" string")
            }
            return true
        }
        guard !prompts.isEmpty else { throw ScalpelError.invalidFile(path: path, reason: "no prompts") }
        return prompts
    }
}
