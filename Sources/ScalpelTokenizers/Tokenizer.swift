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
        guard FileManager.default.fileExists(atPath: path) else { throw ScalpelError.fileNotFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ScalpelError.invalidFile(path: path, reason: "not a JSON object")
        }
        try self.init(json: json, path: path)
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
            added.append(AddedToken(id: id, content: Array(content.unicodeScalars),
                                    singleWord: item["single_word"] as? Bool ?? false,
                                    lstrip: item["lstrip"] as? Bool ?? false,
                                    rstrip: item["rstrip"] as? Bool ?? false,
                                    special: item["special"] as? Bool ?? false))
        }
        self.added = added
        var byFirst: [Unicode.Scalar: [Int]] = [:]
        for (i, t) in added.enumerated() { byFirst[t.content[0], default: []].append(i) }
        for k in byFirst.keys { byFirst[k]!.sort { added[$0].content.count > added[$1].content.count } }
        addedByFirst = byFirst
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
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int] = []
        lock.lock()
        defer { lock.unlock() }
        for segment in splitAdded(scalars) {
            switch segment {
            case .added(let id): ids.append(id)
            case .text(let range):
                var s = String(String.UnicodeScalarView(scalars[range]))
                if let normalizer { s = normalizer.apply(s) }
                let start = Piece(text: s, atStart: range.lowerBound == 0)
                let pieces = preTokenizer?.split([start]) ?? [start]
                for piece in pieces where !piece.text.isEmpty { ids += model.tokenize(piece.text) }
            }
        }
        if addSpecialTokens, let postProcessor { ids = postProcessor.apply(ids) }
        return ids
    }

    /// The text of `ids`, through the tokenizer's decoder.
    public func decode(_ ids: [Int]) -> String {
        let tokens = ids.compactMap { idToToken[$0] }
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
