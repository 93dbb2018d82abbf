import ScalpelCore

/// The `pre_tokenizer` of tokenizer.json: cuts normalized text into pieces for the model.
indirect enum PreTokenizer {
    /// GPT-2 byte-level: optional prefix space, GPT-2 pattern split (when `useRegex`), bytes → characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case sequence([PreTokenizer])

    static let supported = ["ByteLevel", "Sequence"]

    init?(json: Any?, path: String) throws {
        guard let json = json as? [String: Any] else { return nil }
        let type = json["type"] as? String ?? ""
        switch type {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: json["add_prefix_space"] as? Bool ?? true,
                              useRegex: json["use_regex"] as? Bool ?? true)
        case "Sequence":
            let items = json["pretokenizers"] as? [Any] ?? []
            self = .sequence(try items.compactMap { try PreTokenizer(json: $0, path: path) })
        default:
            throw ScalpelError.unsupported(path: path, field: "pre_tokenizer", value: type, supported: PreTokenizer.supported)
        }
    }

    /// Pieces of `text`, already mapped to the model's alphabet.
    func split(_ pieces: [String]) -> [String] {
        switch self {
        case .sequence(let list):
            return list.reduce(pieces) { $1.split($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            var out: [String] = []
            for piece in pieces {
                var scalars = Array(piece.unicodeScalars)
                if addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
                if useRegex {
                    for r in ByteLevel.split(scalars) { out.append(ByteLevel.encode(scalars[r])) }
                } else if !scalars.isEmpty {
                    out.append(ByteLevel.encode(scalars[...]))
                }
            }
            return out
        }
    }
}
