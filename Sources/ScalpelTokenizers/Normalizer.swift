import Foundation
import ScalpelCore

/// The `normalizer` of tokenizer.json, applied to text outside added tokens.
indirect enum Normalizer {
    case nfc, nfd, nfkc, nfkd, lowercase
    case replace(String, String)
    case prepend(String)
    case sequence([Normalizer])

    static let supported = ["NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Replace", "Prepend", "Sequence"]

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
        case "Replace":
            guard let pattern = (json["pattern"] as? [String: Any])?["String"] as? String else {
                throw ScalpelError.unsupported(path: path, field: "normalizer Replace pattern", value: "\(json["pattern"] ?? "nil")", supported: ["String"])
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
        case .sequence(let list): return list.reduce(s) { $1.apply($0) }
        }
    }
}
