import CKernels
import Foundation
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

/// A multiple-choice data set (`--mc NAME=FILE.jsonl`): one item per line,
/// `{"context": str, "choices": [str, ...], "answer": int}`. A choice's continuation is the choice
/// string exactly as written (a leading space, if any, is the file's).
public struct MultipleChoiceSet: Sendable {
    public struct Item: Sendable, Equatable {
        public let context: String
        public let choices: [String]
        public let answer: Int
    }

    public let name: String
    public let path: String
    public let items: [Item]

    /// Reads `NAME=PATH` (or `PATH`, named after the file); every malformed line is an error naming the file and line.
    public init(argument: String) throws {
        let named = DataSet(argument: argument)
        try self.init(name: named.name, path: named.path)
    }

    public init(name: String, path: String) throws {
        self.name = name
        self.path = path
        var items: [Item] = []
        try InputFile.forEachLine(path) { line, number in
            let text = String(decoding: line, as: UTF8.self)
            if text.trimmingCharacters(in: .whitespaces).isEmpty { return true }
            func bad(_ why: String) -> ScalpelError { .invalidFile(path: path, reason: "line \(number): \(why)") }
            guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { throw bad("not a JSON object") }
            guard let context = o["context"] as? String else { throw bad("no \"context\" string") }
            guard let choices = o["choices"] as? [Any], !choices.isEmpty, choices.allSatisfy({ $0 is String }) else {
                throw bad("\"choices\" must be a non-empty list of strings")
            }
            let strings = choices.compactMap { $0 as? String }
            // an integer, not a boolean nor a fraction (JSON true is a one-byte "c" number)
            guard let number = o["answer"] as? NSNumber, !"cBfd".contains(String(cString: number.objCType)),
                case let answer = number.intValue, (0..<strings.count).contains(answer)
            else { throw bad("\"answer\" must be the index of a choice (0..<\(strings.count))") }
            guard strings.allSatisfy({ !$0.isEmpty }) else { throw bad("a choice is empty: it has no tokens to score") }
            items.append(Item(context: context, choices: strings, answer: answer))
            return true
        }
        guard !items.isEmpty else { throw ScalpelError.invalidFile(path: path, reason: "no items") }
        self.items = items
    }
}

/// Scores of one multiple-choice set, as lm-evaluation-harness computes them for a causal LM.
public struct MultipleChoiceScores: Codable, Sendable, Equatable {
    /// Fraction of items whose highest log-likelihood choice is the answer.
    public var acc: Double
    /// The same with each log-likelihood divided by its choice's length in characters.
    public var accNorm: Double
    public var items: Int
    /// Per item, the log-likelihood of each choice's continuation given the context (not kept in
    /// a run's history.json).
    public var loglikelihoods: [[Double]]?

    enum CodingKeys: String, CodingKey { case acc, accNorm = "acc_norm", items, loglikelihoods }
}

/// Log-likelihoods of continuations, computed the way lm-evaluation-harness (0.4.13) computes them
/// for a Hugging Face causal LM (`_encode_pair`, `loglikelihood`, `HFLM.tok_encode`, `_loglikelihood_tokens`):
/// - trailing whitespace of the context moves to the front of the continuation;
/// - context + continuation are encoded together, with the special tokens the tokenizer adds by
///   default (none when the text already starts with the prefix token's text), and the
///   continuation's tokens are those after the context's own encoding;
/// - an empty context is the prefix token (BOS, else EOS), the continuation encoded without special tokens;
/// - the input is the last `maxLength + 1` tokens minus the final one; the continuation's tokens
///   are scored by the log-softmax at the positions before them.
public struct MultipleChoiceEvaluator {
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    /// The harness's `prefix_token_id`: the BOS token, else EOS.
    public let prefixToken: Int
    /// Tokens per forward batch.
    public var batchTokens: Int

    /// The prefix token's text (`tok_encode` adds no special tokens to a text that starts with it).
    let prefixText: String

    public init(model: LanguageModel, tokenizer: Tokenizer, prefixToken: Int, batchTokens: Int = 4096) {
        self.model = model; self.tokenizer = tokenizer; self.prefixToken = prefixToken; self.batchTokens = batchTokens
        prefixText = tokenizer.decode([prefixToken])
    }

    /// The prefix token of a model: `bos_token_id` of its configuration, else `eos_token_id` (the first of a list), else 0.
    public static func prefixToken(config: [String: Any]) -> Int {
        func id(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue ?? (v as? [NSNumber])?.first?.intValue }
        return id(config["bos_token_id"]) ?? id(config["eos_token_id"]) ?? 0
    }

    /// `tok_encode`: the tokenizer's default special tokens, unless the text starts with the prefix token's text.
    func encode(_ text: String) throws -> [Int] {
        try tokenizer.encode(text, addSpecialTokens: prefixText.isEmpty || !text.hasPrefix(prefixText))
    }

    /// Python's `str.isspace` for one character.
    static func isPythonSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || (0x1C...0x1F).contains(s.value) }

    /// (context tokens, continuation tokens) of one request.
    func encodePair(_ context: String, _ continuation: String) throws -> (context: [Int], continuation: [Int]) {
        var ctx = Array(context.unicodeScalars)
        var cont = Array(continuation.unicodeScalars)
        var spaces = 0
        while spaces < ctx.count && Self.isPythonSpace(ctx[ctx.count - 1 - spaces]) { spaces += 1 }
        if spaces > 0 {
            cont = Array(ctx[(ctx.count - spaces)...]) + cont
            ctx.removeLast(spaces)
        }
        func string(_ s: [Unicode.Scalar]) -> String { String(String.UnicodeScalarView(s)) }
        let whole = try encode(string(ctx + cont))
        let contextTokens = try encode(string(ctx))
        return (contextTokens, Array(whole.dropFirst(min(contextTokens.count, whole.count))))
    }

    /// Scores of `set`; `progress` is told of items done.
    public func evaluate(_ set: MultipleChoiceSet, progress: ((Int) -> Void)? = nil) throws -> MultipleChoiceScores {
        let maxLength = model.shape.maxPositions, V = model.shape.vocabularySize, width = model.headInputWidth
        // every (item, choice) request: input tokens and the positions/targets of the continuation
        struct Request { let item: Int, choice: Int, input: [Int], targets: [Int] }
        var requests: [Request] = []
        for (i, item) in set.items.enumerated() {
            for (c, choice) in item.choices.enumerated() {
                var context: [Int], continuation: [Int]
                if item.context.isEmpty {
                    continuation = try tokenizer.encode(choice, addSpecialTokens: false)
                    if continuation.first == prefixToken {
                        context = [prefixToken]; continuation.removeFirst()
                    } else {
                        context = [prefixToken]
                    }
                } else {
                    (context, continuation) = try encodePair(item.context, choice)
                }
                guard !continuation.isEmpty else {
                    throw ScalpelError.invalidData(
                        path: set.path, reason: "item \(i + 1), choice \(c): the continuation encodes to no tokens after the context")
                }
                guard continuation.count <= maxLength else {
                    throw ScalpelError.invalidData(
                        path: set.path,
                        reason:
                            "item \(i + 1), choice \(c): \(continuation.count) continuation tokens exceed the model's \(maxLength) positions"
                    )
                }
                let all = Array((context + continuation).suffix(maxLength + 1))
                if let bad = all.first(where: { $0 < 0 || $0 >= V }) {
                    throw ScalpelError.invalidData(
                        path: set.path, reason: "item \(i + 1): token id \(bad) is outside the model's vocabulary of \(V)")
                }
                requests.append(Request(item: i, choice: c, input: Array(all.dropLast()), targets: continuation))
            }
        }
        var loglikelihoods = set.items.map { [Double](repeating: 0, count: $0.choices.count) }
        // batches of whole requests; the LM head runs only on the continuation's positions
        var start = 0
        while start < requests.count {
            var end = start, tokens = 0
            while end < requests.count && (end == start || tokens + requests[end].input.count <= batchTokens) {
                tokens += requests[end].input.count; end += 1
            }
            let batch = requests[start..<end]
            let hidden = model.hiddenStates(batch.map(\.input), probe: nil)
            // rows of hidden whose next token is a continuation token
            var rows: [(row: Int, target: Int, request: Int)] = []
            var base = 0
            for (k, r) in zip(batch.indices, batch) {
                let first = r.input.count - r.targets.count
                for (j, t) in r.targets.enumerated() { rows.append((base + first + j, t, k)) }
                base += r.input.count
            }
            let input = Tensor(zeros: [rows.count, width]), logits = Tensor(zeros: [rows.count, V])
            for (j, r) in rows.enumerated() { (input.pointer + j * width).update(from: hidden.pointer + r.row * width, count: width) }
            model.logits(hidden: input.pointer, rows: rows.count, into: logits.pointer)
            for (j, r) in rows.enumerated() {
                var rank = 0
                let loss = sc_cross_entropy_rank(logits.pointer + j * V, V, r.target, &rank)
                guard loss.isFinite else {
                    throw ScalpelError.invalidData(
                        path: set.path,
                        reason: "item \(requests[r.request].item + 1): non-finite logits (the model's weights hold NaN or infinity)")
                }
                loglikelihoods[requests[r.request].item][requests[r.request].choice] -= loss
            }
            // an item is done with the batch that holds its last choice
            progress?(batch.filter { $0.choice == set.items[$0.item].choices.count - 1 }.count)
            start = end
        }
        var acc = 0, accNorm = 0
        for (i, item) in set.items.enumerated() {
            let ll = loglikelihoods[i]
            if Self.argmax(ll) == item.answer { acc += 1 }
            let normalized = zip(ll, item.choices).map { $0 / Double($1.unicodeScalars.count) }
            if Self.argmax(normalized) == item.answer { accNorm += 1 }
        }
        let n = Double(set.items.count)
        return MultipleChoiceScores(
            acc: Double(acc) / n, accNorm: Double(accNorm) / n, items: set.items.count, loglikelihoods: loglikelihoods)
    }

    /// numpy's argmax: the first index of the largest value.
    static func argmax(_ x: [Double]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }
}
