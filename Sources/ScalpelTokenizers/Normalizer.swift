import Foundation
import ScalpelCore

/// The `normalizer` of tokenizer.json, applied to text outside added tokens.
indirect enum Normalizer {
    case nfc, nfd, nfkc, nfkd, lowercase
    case replace(String, String)
    case prepend(String)
    case strip(left: Bool, right: Bool)
    case stripAccents
    /// BERT's normalizer: clean text, space around CJK characters, strip accents, lowercase.
    case bert(clean: Bool, chinese: Bool, stripAccents: Bool, lowercase: Bool)
    case sequence([Normalizer])

    static let supported = [
        "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Replace", "Prepend", "Strip", "StripAccents", "BertNormalizer", "Sequence",
    ]

    init?(json: Any?, path: String) throws {
        guard let json = json as? [String: Any] else { return nil }
        let type = json["type"] as? String ?? ""
        switch type {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(json["prepend"] as? String ?? "")
        case "Strip": self = .strip(left: json["strip_left"] as? Bool ?? true, right: json["strip_right"] as? Bool ?? true)
        case "StripAccents": self = .stripAccents
        case "BertNormalizer":
            let lower = json["lowercase"] as? Bool ?? true
            self = .bert(
                clean: json["clean_text"] as? Bool ?? true, chinese: json["handle_chinese_chars"] as? Bool ?? true,
                stripAccents: json["strip_accents"] as? Bool ?? lower, lowercase: lower)
        case "Replace":
            guard let pattern = (json["pattern"] as? [String: Any])?["String"] as? String else {
                throw ScalpelError.unsupported(
                    path: path, field: "normalizer Replace pattern", value: "\(json["pattern"] ?? "nil")", supported: ["String"])
            }
            self = .replace(pattern, json["content"] as? String ?? "")
        case "Sequence":
            let items = json["normalizers"] as? [Any] ?? []
            self = .sequence(try items.compactMap { try Normalizer(json: $0, path: path) })
        default:
            throw ScalpelError.unsupported(path: path, field: "normalizer", value: type, supported: Normalizer.supported)
        }
    }

    func apply(_ s: String) -> String {
        switch self {
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        case .replace(let a, let b): return s.replacingOccurrences(of: a, with: b)
        case .prepend(let p): return s.isEmpty ? s : p + s
        case .strip(let left, let right):
            var scalars = Substring(s).unicodeScalars[...]
            while left, let f = scalars.first, f.properties.isWhitespace { scalars = scalars.dropFirst() }
            while right, let l = scalars.last, l.properties.isWhitespace { scalars = scalars.dropLast() }
            return String(String.UnicodeScalarView(scalars))
        case .stripAccents:
            return Normalizer.removeNonspacingMarks(s)
        case .bert(let clean, let chinese, let strip, let lowercase):
            var out = String.UnicodeScalarView()
            for u in s.unicodeScalars {
                if clean {
                    if u.value == 0 || u.value == 0xFFFD { continue }
                    let cat = u.properties.generalCategory
                    let isControl = (cat == .control || cat == .format) && !["\t", "\n", "\r"].contains(u)
                    if isControl { continue }
                    if u.properties.isWhitespace { out.append(" "); continue }
                }
                if chinese && Normalizer.isCJK(u) { out.append(" "); out.append(u); out.append(" "); continue }
                out.append(u)
            }
            var text = String(out)
            if strip { text = Normalizer.removeNonspacingMarks(text) }
            if lowercase { text = text.lowercased() }
            return text
        case .sequence(let list): return list.reduce(s) { $1.apply($0) }
        }
    }

    /// NFD, then drop nonspacing marks (Mn).
    static func removeNonspacingMarks(_ s: String) -> String {
        String(
            String.UnicodeScalarView(
                s.decomposedStringWithCanonicalMapping.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }))
    }

    /// The CJK ideograph blocks BERT pads with spaces.
    static func isCJK(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}
