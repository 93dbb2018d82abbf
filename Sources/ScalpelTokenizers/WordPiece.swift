import Foundation
import ScalpelCore

/// BERT's WordPiece model: greedy longest-match-first over each word, continuation pieces
/// prefixed with `##`, `[UNK]` for a word that cannot be covered or is too long.
final class WordPieceModel: TokenModel {
    let vocab: [TokenKey: Int]
    let tokens: [Int: String]
    let unkID: Int
    let prefix: String
    let maxCharacters: Int

    init(json: [String: Any], path: String) throws {
        guard let vocab = json["vocab"] as? [String: Any] else {
            throw ScalpelError.invalidFile(path: path, reason: "WordPiece model has no \"vocab\" object")
        }
        var v: [TokenKey: Int] = [:], inverse: [Int: String] = [:]
        for (k, id) in vocab {
            guard let n = id as? Int, (0..<Int(Int32.max)).contains(n) else {
                throw ScalpelError.invalidFile(path: path, reason: "vocab entry '\(k)' is not an integer id in [0, 2^31)")
            }
            v[TokenKey(k)] = n
            inverse[n] = k
        }
        self.vocab = v
        tokens = inverse
        let unk = json["unk_token"] as? String ?? "[UNK]"
        guard let u = v[TokenKey(unk)] else {
            throw ScalpelError.invalidFile(path: path, reason: "WordPiece unk_token '\(unk)' is not in the vocab")
        }
        unkID = u
        prefix = json["continuing_subword_prefix"] as? String ?? "##"
        maxCharacters = json["max_input_chars_per_word"] as? Int ?? 100
    }

    func tokenize(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maxCharacters { return [unkID] }
        var out: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = prefix + piece }
                if let id = vocab[TokenKey(piece)] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unkID] }
            out.append(id)
            start = end
        }
        return out
    }
}
