import Foundation
import ScalpelCore

/// A tokenizer read from a Hugging Face `tokenizer.json`, producing the same ids as the
/// `tokenizers` library: added tokens are split out first, the rest is normalized,
/// pre-tokenized and run through the model, and the post-processor adds special tokens.
public final class Tokenizer: @unchecked Sendable {
    public let path: String
    private let model: TokenModel
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let postProcessor: PostProcessor?
    private let added: [AddedToken]
    /// First scalar of an added token → indices into `added`, longest first.
    private let addedByFirst: [Unicode.Scalar: [Int]]
    private let idToToken: [Int: String]
    private let decoder: Decoder?
    private let lock = NSLock()

    struct AddedToken {
        let id: Int
        let content: [Unicode.Scalar]
        let singleWord, lstrip, rstrip, special: Bool
    }

    /// Reads `tokenizer.json` at `path`. Throws with the path and the unsupported part.
    public convenience init(path: String) throws {
        try self.init(json: InputFile.jsonObject(path), path: path)
    }

    public init(json: [String: Any], path: String) throws {
        self.path = path
        guard let modelJSON = json["model"] as? [String: Any] else {
            throw ScalpelError.invalidFile(path: path, reason: "no \"model\" object")
        }
        let type = modelJSON["type"] as? String ?? (modelJSON["merges"] != nil ? "BPE" : "?")
        switch type {
        case "BPE": model = try BPEModel(json: modelJSON, path: path)
        case "WordPiece": model = try WordPieceModel(json: modelJSON, path: path)
        default: throw ScalpelError.unsupported(path: path, field: "tokenizer model", value: type, supported: ["BPE", "WordPiece"])
        }
        normalizer = try Normalizer(json: json["normalizer"], path: path)
        preTokenizer = try PreTokenizer(json: json["pre_tokenizer"], path: path)
        postProcessor = try PostProcessor(json: json["post_processor"], path: path)
        var added: [AddedToken] = []
        for item in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = item["id"] as? Int, let content = item["content"] as? String, !content.isEmpty else { continue }
            added.append(
                AddedToken(
                    id: id, content: Array(content.unicodeScalars),
                    singleWord: item["single_word"] as? Bool ?? false,
                    lstrip: item["lstrip"] as? Bool ?? false,
                    rstrip: item["rstrip"] as? Bool ?? false,
                    special: item["special"] as? Bool ?? false))
        }
        self.added = added
        var byFirst: [Unicode.Scalar: [Int]] = [:]
        for (i, t) in added.enumerated() { byFirst[t.content[0], default: []].append(i) }
        addedByFirst = byFirst.mapValues { $0.sorted { added[$0].content.count > added[$1].content.count } }
        var inverse = model.tokens
        for t in added { inverse[t.id] = String(String.UnicodeScalarView(t.content)) }
        idToToken = inverse
        decoder = try Decoder(json: json["decoder"], path: path)
    }

    /// Ids of the added tokens marked special (`<s>`, `[CLS]`, ...).
    public var specialTokenIDs: Set<Int> { Set(added.filter(\.special).map(\.id)) }

    /// The id of a token string, if it is in the vocabulary or an added token.
    public func id(of token: String) -> Int? {
        if let t = added.first(where: { $0.content.elementsEqual(token.unicodeScalars) }) { return t.id }
        return model.vocab[TokenKey(token)]
    }

    /// Token ids of `text`, with the post-processor's special tokens when `addSpecialTokens`.
    public func encode(_ text: String, addSpecialTokens: Bool = true) throws -> [Int] {
        let scalars = Array(text.unicodeScalars)
        lock.lock()
        defer { lock.unlock() }
        var ids = try encodeUnlocked(scalars[...], atStart: true)
        if addSpecialTokens, let postProcessor { ids = postProcessor.apply(ids) }
        return ids
    }

    /// Ids of `scalars` without the post-processor; `atStart` when they begin the document.
    private func encodeUnlocked(_ scalars: ArraySlice<Unicode.Scalar>, atStart: Bool) throws -> [Int] {
        var ids: [Int] = []
        let base = scalars.startIndex
        for segment in splitAdded(Array(scalars)) {
            switch segment {
            case .added(let id): ids.append(id)
            case .text(let range):
                var s = String(String.UnicodeScalarView(scalars[(base + range.lowerBound)..<(base + range.upperBound)]))
                if let normalizer { s = normalizer.apply(s) }
                let start = Piece(text: s, atStart: atStart && range.lowerBound == 0)
                let pieces = try preTokenizer?.split([start]) ?? [start]
                for piece in pieces where !piece.text.isEmpty { ids += model.tokenize(piece.text) }
            }
        }
        return ids
    }

    /// The ids `encode(text)` gives, handed to `body` in consecutive parts as the text is
    /// tokenized, until `body` returns false: memory and work follow what the caller takes, not
    /// the length of the document. Long texts are cut near every `chunk` scalars, only where the
    /// scalars around the cut tokenize the same apart as together (`safeCut`); where no such place
    /// is found, the part grows until one is. Do not call the tokenizer from `body` (its lock is held).
    public func encode(_ text: String, chunk: Int = 1 << 16, _ body: ([Int]) throws -> Bool) throws {
        let wrap: (before: [Int], after: [Int]) = postProcessor?.wrapping ?? ([], [])
        lock.lock()
        defer { lock.unlock() }
        let step = max(chunk, 2 * Tokenizer.cutMargin)
        // scalars are read from the text only as parts need them: memory follows the part, not the document
        var iterator = text.unicodeScalars.makeIterator()
        var buffer: [Unicode.Scalar] = []
        var ended = false
        func fill(_ n: Int) {
            while buffer.count < n, let u = iterator.next() { buffer.append(u) }
            if buffer.count < n { ended = true }
        }
        var first = true
        repeat {
            var cut: Int?
            var target = step
            while true {
                fill(target + Tokenizer.cutMargin)
                if target + Tokenizer.cutMargin > buffer.count { break }  // the rest is short: it is the last part
                // look for a cut in the last half of each stretch only: the search costs O(step)
                if let found = try safeCut(buffer, near: target, after: max(Tokenizer.cutMargin, target - step / 2), documentStart: first) {
                    cut = found; break
                }
                target += step
            }
            let c = cut ?? buffer.count
            var ids = try encodeUnlocked(buffer[0..<c], atStart: first)
            buffer.removeFirst(c)
            if first { ids = wrap.before + ids }
            let last = ended && buffer.isEmpty
            if last { ids += wrap.after }
            first = false
            if try !body(ids) { return }
            if last { return }
        } while true
    }

    /// Scalars on each side of a cut that must tokenize the same apart as together.
    static let cutMargin = 256

    /// A place in [after, target] at which the text may be cut: after a line break or before a
    /// space, where the `cutMargin` scalars on either side tokenize to the same ids apart as
    /// together (so no token, added token, pre-tokenizer match or normalization spans the cut).
    private func safeCut(_ s: [Unicode.Scalar], near target: Int, after: Int, documentStart: Bool) throws -> Int? {
        var tried = 0
        var b = target
        while b > after && tried < 16 {
            defer { b -= 1 }
            let prev = s[b - 1], here = s[b]
            let candidate = (prev == "\n" && !here.properties.isWhitespace) || (here == " " && !prev.properties.isWhitespace)
            guard candidate else { continue }
            tried += 1
            let lo = max(0, b - Tokenizer.cutMargin), hi = min(s.count, b + Tokenizer.cutMargin)
            let apart = try encodeUnlocked(s[lo..<b], atStart: documentStart && lo == 0) + encodeUnlocked(s[b..<hi], atStart: false)
            if try apart == encodeUnlocked(s[lo..<hi], atStart: documentStart && lo == 0) { return b }
        }
        return nil
    }

    /// The text of `ids`, through the tokenizer's decoder; with `skipSpecialTokens`, added tokens
    /// marked special (BOS, EOS, padding) are left out, as `decode(ids, skip_special_tokens=True)`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let special = skipSpecialTokens ? Set(added.filter(\.special).map(\.id)) : []
        let tokens = ids.filter { !special.contains($0) }.compactMap { idToToken[$0] }
        return (decoder?.apply(tokens) ?? tokens).joined()
    }

    enum Segment { case added(Int), text(Range<Int>) }

    /// Leftmost-longest matches of added tokens, honouring `lstrip`, `rstrip` and `single_word`.
    private func splitAdded(_ s: [Unicode.Scalar]) -> [Segment] {
        if added.isEmpty { return s.isEmpty ? [] : [.text(0..<s.count)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < s.count {
            guard let candidates = addedByFirst[s[i]] else { i += 1; continue }
            var matched: AddedToken?
            for c in candidates {
                let t = added[c]
                guard i + t.content.count <= s.count, s[i..<(i + t.content.count)].elementsEqual(t.content) else { continue }
                if t.singleWord {
                    let before = i > 0 ? s[i - 1] : nil
                    let after = i + t.content.count < s.count ? s[i + t.content.count] : nil
                    if let b = before, isWordChar(b) { continue }
                    if let a = after, isWordChar(a) { continue }
                }
                matched = t
                break
            }
            guard let t = matched else { i += 1; continue }
            var start = i, end = i + t.content.count
            if t.lstrip { while start > textStart && s[start - 1].properties.isWhitespace { start -= 1 } }
            if t.rstrip { while end < s.count && s[end].properties.isWhitespace { end += 1 } }
            if start > textStart { out.append(.text(textStart..<start)) }
            out.append(.added(t.id))
            textStart = end
            i = end
        }
        if textStart < s.count { out.append(.text(textStart..<s.count)) }
        return out
    }

    private func isWordChar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }
}
