import Foundation
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

/// How each new token is chosen.
public struct GenerationSettings: Sendable, Equatable {
    /// Tokens to generate at most (fewer when a stop token comes or the position limit is reached).
    public var maxNewTokens = 64
    /// Stop tokens are not chosen before this many new tokens (their logits are set to −∞, as
    /// transformers' `min_new_tokens`).
    public var minNewTokens = 0
    /// 0: greedy (the most likely token, the lowest id among equals, as `torch.argmax`); above 0:
    /// sample from softmax(logits / temperature).
    public var temperature: Double = 0
    /// Sampling only: keep the most likely tokens whose probabilities first reach `topP` (nucleus).
    public var topP: Double = 1
    /// Sampling only: keep the `topK` most likely tokens (0: all).
    public var topK = 0
    /// Sampling only: the seed of the generator, so that a run repeats.
    public var seed: UInt64 = 0
    /// Generation stops after any of these tokens (it is kept in the output).
    public var stopTokens: Set<Int> = []

    public init(
        maxNewTokens: Int = 64, minNewTokens: Int = 0, temperature: Double = 0, topP: Double = 1, topK: Int = 0, seed: UInt64 = 0,
        stopTokens: Set<Int> = []
    ) {
        self.maxNewTokens = maxNewTokens; self.minNewTokens = minNewTokens; self.temperature = temperature; self.topP = topP;
        self.topK = topK
        self.seed = seed; self.stopTokens = stopTokens
    }

    /// Throws on settings outside their ranges, naming the option.
    public func validate() throws {
        guard maxNewTokens >= 0 else { throw ScalpelError.invalidArgument("--max-new-tokens must be ≥ 0 (got \(maxNewTokens))") }
        guard minNewTokens >= 0 else { throw ScalpelError.invalidArgument("--min-new-tokens must be ≥ 0 (got \(minNewTokens))") }
        guard temperature >= 0, temperature.isFinite else {
            throw ScalpelError.invalidArgument("--temperature must be a finite number ≥ 0 (got \(temperature))")
        }
        guard topP > 0, topP <= 1 else { throw ScalpelError.invalidArgument("--top-p must be in (0, 1] (got \(topP))") }
        guard topK >= 0 else { throw ScalpelError.invalidArgument("--top-k must be ≥ 0 (got \(topK))") }
    }
}

/// What one generation produced, and how long it took.
public struct Generation: Sendable {
    /// The prompt's token ids (as the tokenizer encodes it, special tokens included).
    public let promptIds: [Int]
    /// The new tokens only (a stop token, when one came, last).
    public let ids: [Int]
    /// Seconds for the prompt's forward pass (prefill), and for each new token after the first.
    public let promptSeconds: Double
    public let tokenSeconds: [Double]
    /// Why generation ended.
    public let stop: Stop

    public enum Stop: String, Sendable { case maxNewTokens = "max_new_tokens", stopToken = "stop_token", positionLimit = "position_limit" }
}

/// Incremental decoding with a key/value cache (`KVCache`): the prompt in one forward pass, then
/// one position per new token, each attending to the cached keys and values.
public enum Generator {
    /// Generates up to `settings.maxNewTokens` tokens after `prompt` (causal language models only).
    public static func generate(_ model: LanguageModel, prompt: [Int], settings: GenerationSettings) throws -> Generation {
        guard model.task == .causal, model.hasHead else {
            throw ScalpelError.invalidArgument("generation needs a causal language model with an LM head")
        }
        guard !prompt.isEmpty else { throw ScalpelError.invalidArgument("the prompt encodes to no tokens") }
        let shape = model.shape
        guard prompt.count <= shape.maxPositions else {
            throw ScalpelError.invalidArgument(
                "the prompt has \(prompt.count) tokens, more than the model's \(shape.maxPositions) positions")
        }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= shape.vocabularySize }) {
            throw ScalpelError.invalidArgument("prompt token id \(bad) is outside the model's vocabulary of \(shape.vocabularySize)")
        }
        try settings.validate()
        let cache = KVCache(layers: shape.layers, capacity: min(shape.maxPositions, prompt.count + settings.maxNewTokens))
        var rng = SplitMix64(seed: settings.seed)
        let V = shape.vocabularySize, width = model.headInputWidth
        var logits = [Float](repeating: 0, count: V)
        var ids: [Int] = []
        var tokenSeconds: [Double] = []
        var promptSeconds = 0.0
        var input = prompt
        var stop = Generation.Stop.maxNewTokens
        while ids.count < settings.maxNewTokens {
            if cache.length + input.count > shape.maxPositions { stop = .positionLimit; break }
            let start = DispatchTime.now().uptimeNanoseconds
            let hidden = model.hiddenStates([input], probe: nil, cache: cache)
            // logits: [V] of the last position only
            logits.withUnsafeMutableBufferPointer { out in
                model.logits(hidden: hidden.pointer + (input.count - 1) * width, rows: 1, into: out.baseAddress!)
            }
            if ids.count < settings.minNewTokens {
                for t in settings.stopTokens where t >= 0 && t < V { logits[t] = -.infinity }
            }
            let next = settings.temperature == 0 ? argmax(logits) : sample(logits, settings, &rng)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if ids.isEmpty { promptSeconds = seconds } else { tokenSeconds.append(seconds) }
            ids.append(next)
            if settings.stopTokens.contains(next) { stop = .stopToken; break }
            input = [next]
        }
        return Generation(promptIds: prompt, ids: ids, promptSeconds: promptSeconds, tokenSeconds: tokenSeconds, stop: stop)
    }

    /// The index of the largest logit, the first among equals (NaN never wins).
    static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var value = -Float.infinity
        for (i, x) in logits.enumerated() where x > value {
            best = i; value = x
        }
        return best
    }

    /// A token drawn from softmax(logits / temperature), restricted to the top-k and then to the
    /// nucleus of probability top-p (in that order, as transformers' sampling applies them).
    static func sample(_ logits: [Float], _ settings: GenerationSettings, _ rng: inout SplitMix64) -> Int {
        // candidates sorted by logit, highest first (ties: lower id first)
        var order = logits.indices.filter { !logits[$0].isNaN }
        order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if settings.topK > 0 && order.count > settings.topK { order.removeLast(order.count - settings.topK) }
        guard let first = order.first else { return 0 }
        let t = settings.temperature, top = Double(logits[first]) / t
        var p = order.map { exp(Double(logits[$0]) / t - top) }
        let total = p.reduce(0, +)
        p = p.map { $0 / total }
        if settings.topP < 1 {
            // the smallest prefix whose probability reaches topP (at least one token)
            var cumulative = 0.0
            var keep = p.count
            for (i, x) in p.enumerated() {
                cumulative += x
                if cumulative >= settings.topP { keep = i + 1; break }
            }
            p.removeLast(p.count - keep); order.removeLast(order.count - keep)
            let kept = p.reduce(0, +)
            p = p.map { $0 / kept }
        }
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var cumulative = 0.0
        for (i, x) in p.enumerated() {
            cumulative += x
            if u < cumulative { return order[i] }
        }
        return order[order.count - 1]
    }

    /// The tokens that end generation for a checkpoint: `eos_token_id` (one id or a list) of its
    /// `generation_config.json` when it has one, else of its `config.json` (as transformers does).
    public static func stopTokens(folder: String, config: [String: Any]) throws -> Set<Int> {
        let path = (folder as NSString).appendingPathComponent("generation_config.json")
        var source = config
        if FileManager.default.fileExists(atPath: path) { source = try InputFile.jsonObject(path, limit: 1 << 20) }
        func ids(_ value: Any?) -> Set<Int> {
            if let n = value as? NSNumber { return [n.intValue] }
            if let list = value as? [Any] { return Set(list.compactMap { ($0 as? NSNumber)?.intValue }) }
            return []
        }
        let found = ids(source["eos_token_id"])
        return found.isEmpty ? ids(config["eos_token_id"]) : found
    }
}
