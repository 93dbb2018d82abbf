import Foundation
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

/// What the model writes before pruning and after the last step (`completions.json`): greedy
/// continuations of a few prompts cut from the forget and retain evaluation portions, so that a
/// reader sees the forgotten ability go and the retained one stay (causal language models only).
public struct Completions: Codable, Sendable, Equatable {
    public struct Completion: Codable, Sendable, Equatable {
        /// The new tokens (greedy), and their text (special tokens left out).
        public var ids: [Int]
        public var text: String
        /// The step whose model wrote it (0: before pruning).
        public var step: Int
    }

    public struct Sample: Codable, Sendable, Equatable {
        /// "forget" or "retain".
        public var role: String
        public var prompt: String
        public var promptIds: [Int]
        public var before: Completion?
        public var after: Completion?

        enum CodingKeys: String, CodingKey { case role, prompt, promptIds = "prompt_ids", before, after }
    }

    public var samples: [Sample]
    /// New tokens per completion at most.
    public var maxNewTokens: Int

    enum CodingKeys: String, CodingKey { case samples, maxNewTokens = "max_new_tokens" }

    public static let fileName = "completions.json"

    /// `perRole` prompts from each role's evaluation windows (evenly spaced, the first
    /// `promptTokens` tokens of each), for continuations of `maxNewTokens` tokens.
    static func prompts(
        _ windows: PerRole<[Window]>, perRole: Int, promptTokens: Int, maxNewTokens: Int, tokenizer: Tokenizer
    ) -> Completions {
        var samples: [Sample] = []
        for role in DataRole.allCases {
            let w = windows[role]
            guard !w.isEmpty else { continue }
            let picks = (0..<min(perRole, w.count)).map { $0 * w.count / min(perRole, w.count) }
            for i in picks {
                let ids = Array(w[i].tokens.prefix(promptTokens))
                samples.append(
                    Sample(
                        role: role.rawValue, prompt: tokenizer.decode(ids, skipSpecialTokens: true), promptIds: ids, before: nil, after: nil
                    ))
            }
        }
        return Completions(samples: samples, maxNewTokens: maxNewTokens)
    }

    /// Fills `before` (step 0) or `after` (a later step) of every sample with the model as it is now.
    mutating func generate(_ model: LanguageModel, tokenizer: Tokenizer, stopTokens: Set<Int>, step: Int) throws {
        let settings = GenerationSettings(maxNewTokens: maxNewTokens, stopTokens: stopTokens)
        for i in samples.indices {
            let g = try Generator.generate(model, prompt: samples[i].promptIds, settings: settings)
            let c = Completion(ids: g.ids, text: tokenizer.decode(g.ids, skipSpecialTokens: true), step: step)
            if step == 0 { samples[i].before = c } else { samples[i].after = c }
        }
    }

    public static func load(folder: String) throws -> Completions? {
        let path = folder + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(Completions.self, from: InputFile.read(path, limit: 1 << 26))
        } catch let e as ScalpelError {
            throw e
        } catch {
            throw ScalpelError.invalidFile(path: path, reason: "not a completions file (\(error))")
        }
    }

    func write(folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(self), to: folder + "/" + Self.fileName)
    }
}
