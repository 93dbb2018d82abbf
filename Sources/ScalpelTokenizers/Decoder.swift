import Foundation
import ScalpelCore

/// The `decoder` of tokenizer.json: token strings back to text.
indirect enum Decoder {
    case byteLevel
    case replace(String, String)
    case byteFallback
    case fuse
    case strip(content: Character, start: Int, stop: Int)
    case metaspace(replacement: String, prependScheme: String)
    case wordPiece(prefix: String)
    case sequence([Decoder])

    init?(json: Any?, path: String) throws {
        guard let json = json as? [String: Any] else { return nil }
        let type = json["type"] as? String ?? ""
        switch type {
        case "ByteLevel": self = .byteLevel
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Replace":
            guard let pattern = (json["pattern"] as? [String: Any])?["String"] as? String else {
                throw ScalpelError.unsupported(path: path, field: "decoder Replace pattern", value: "regex", supported: ["String"])
            }
            self = .replace(pattern, json["content"] as? String ?? "")
        case "Strip":
            self = .strip(
                content: (json["content"] as? String ?? " ").first ?? " ", start: max(0, json["start"] as? Int ?? 0),
                stop: max(0, json["stop"] as? Int ?? 0))
        case "Metaspace":
            self = .metaspace(
                replacement: json["replacement"] as? String ?? "▁", prependScheme: json["prepend_scheme"] as? String ?? "always")
        case "WordPiece":
            self = .wordPiece(prefix: json["prefix"] as? String ?? "##")
        case "Sequence":
            self = .sequence(try (json["decoders"] as? [Any] ?? []).compactMap { try Decoder(json: $0, path: path) })
        default:
            throw ScalpelError.unsupported(
                path: path, field: "decoder", value: type,
                supported: ["ByteLevel", "ByteFallback", "Fuse", "Replace", "Strip", "Metaspace", "WordPiece", "Sequence"])
        }
    }

    /// Transforms the token strings (HF's `decode_chain`).
    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let list):
            return list.reduce(tokens) { $1.apply($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                for u in t.unicodeScalars {
                    if let b = ByteLevel.charToByte[u.value] { bytes.append(b) } else { bytes.append(contentsOf: String(u).utf8) }
                }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .wordPiece(let prefix):
            return tokens.enumerated().map { i, t in
                t.hasPrefix(prefix) ? String(t.dropFirst(prefix.count)) : (i == 0 ? t : " " + t)
            }
        case .replace(let a, let b):
            return tokens.map { $0.replacingOccurrences(of: a, with: b) }
        case .fuse:
            return [tokens.joined()]
        case .strip(let c, let start, let stop):
            return tokens.map { t in
                var chars = Array(t)
                var s = 0
                while s < start && s < chars.count && chars[s] == c { s += 1 }
                chars.removeFirst(s)
                var e = 0
                while e < stop && e < chars.count && chars[chars.count - 1 - e] == c { e += 1 }
                chars.removeLast(e)
                return String(chars)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, t in
                var s = t.replacingOccurrences(of: replacement, with: " ")
                if i == 0 && scheme != "never" && s.hasPrefix(" ") { s.removeFirst() }
                return s
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for t in tokens {
                if t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) {
                    pending.append(b)
                } else {
                    flush(); out.append(t)
                }
            }
            flush()
            return out
        }
    }
}
