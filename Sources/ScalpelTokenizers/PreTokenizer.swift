import CRegex
import Foundation
import ScalpelCore

/// A piece of text during pre-tokenization; `atStart` when it begins at offset 0 of the input.
struct Piece {
    var text: String
    var atStart: Bool
}

/// The `pre_tokenizer` of tokenizer.json: cuts normalized text into pieces for the model.
indirect enum PreTokenizer {
    /// GPT-2 byte-level: optional prefix space, GPT-2 pattern split (when `useRegex`), bytes → characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// SentencePiece's ▁ for spaces, prepended always, first (only at the start of the input) or never.
    case metaspace(replacement: String, prepend: String, split: Bool)
    /// Split on a literal or a regular expression.
    case split(Splitter)
    /// Digits isolated, one by one or in runs.
    case digits(individual: Bool)
    /// BERT: split on whitespace, isolate each punctuation character.
    case bert
    case sequence([PreTokenizer])

    static let supported = ["ByteLevel", "Metaspace", "Split", "Digits", "BertPreTokenizer", "Sequence"]

    init?(json: Any?, path: String) throws {
        guard let json = json as? [String: Any] else { return nil }
        let type = json["type"] as? String ?? ""
        switch type {
        case "ByteLevel":
            self = .byteLevel(
                addPrefixSpace: json["add_prefix_space"] as? Bool ?? true,
                useRegex: json["use_regex"] as? Bool ?? true)
        case "Metaspace":
            var prepend = json["prepend_scheme"] as? String ?? "always"
            if json["prepend_scheme"] == nil, let add = json["add_prefix_space"] as? Bool { prepend = add ? "always" : "never" }
            guard ["always", "first", "never"].contains(prepend) else {
                throw ScalpelError.unsupported(
                    path: path, field: "Metaspace prepend_scheme", value: prepend, supported: ["always", "first", "never"])
            }
            self = .metaspace(replacement: json["replacement"] as? String ?? "▁", prepend: prepend, split: json["split"] as? Bool ?? true)
        case "Split":
            self = .split(try Splitter(json: json, path: path))
        case "Digits":
            self = .digits(individual: json["individual_digits"] as? Bool ?? false)
        case "BertPreTokenizer":
            self = .bert
        case "Sequence":
            let items = json["pretokenizers"] as? [Any] ?? []
            self = .sequence(try items.compactMap { try PreTokenizer(json: $0, path: path) })
        default:
            throw ScalpelError.unsupported(path: path, field: "pre_tokenizer", value: type, supported: PreTokenizer.supported)
        }
    }

    /// Splits every piece further (ByteLevel also maps it to the byte alphabet).
    func split(_ pieces: [Piece]) throws -> [Piece] {
        switch self {
        case .sequence(let list):
            return try list.reduce(pieces) { try $1.split($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            var out: [Piece] = []
            for piece in pieces {
                var scalars = Array(piece.text.unicodeScalars)
                if addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
                if useRegex {
                    for (k, r) in ByteLevel.split(scalars).enumerated() {
                        out.append(Piece(text: ByteLevel.encode(scalars[r]), atStart: piece.atStart && k == 0))
                    }
                } else if !scalars.isEmpty {
                    out.append(Piece(text: ByteLevel.encode(scalars[...]), atStart: piece.atStart))
                }
            }
            return out
        case .metaspace(let replacement, let prepend, let split):
            var out: [Piece] = []
            for piece in pieces {
                var text = piece.text.replacingOccurrences(of: " ", with: replacement)
                if !text.hasPrefix(replacement) && (prepend == "always" || (prepend == "first" && piece.atStart)) {
                    text = replacement + text
                }
                if split {
                    let s = Splitter(pattern: .literal(replacement), behavior: .mergedWithNext, invert: false)
                    out += try s.split(Piece(text: text, atStart: piece.atStart))
                } else {
                    out.append(Piece(text: text, atStart: piece.atStart))
                }
            }
            return out
        case .split(let splitter):
            return try pieces.flatMap { try splitter.split($0) }
        case .bert:
            var out: [Piece] = []
            for piece in pieces {
                var current = String.UnicodeScalarView()
                func flush() { if !current.isEmpty { out.append(Piece(text: String(current), atStart: false)); current = .init() } }
                for u in piece.text.unicodeScalars {
                    if u.properties.isWhitespace { flush(); continue }
                    if PreTokenizer.isBertPunctuation(u) { flush(); out.append(Piece(text: String(u), atStart: false)); continue }
                    current.append(u)
                }
                flush()
            }
            return out
        case .digits(let individual):
            let s = Splitter(pattern: .numeric, behavior: individual ? .isolated : .contiguous, invert: false)
            return try pieces.flatMap { try s.split($0) }
        }
    }
}

extension PreTokenizer {
    /// ASCII punctuation or any Unicode punctuation (P*), as BERT defines it.
    static func isBertPunctuation(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }
}

/// HF's `Split` pre-tokenizer: matches of a pattern, kept, removed or merged with a neighbour.
struct Splitter {
    enum Pattern {
        case literal(String)
        case regex(BoundedRegex)
        /// each Unicode numeric character (for `Digits`)
        case numeric
    }
    enum Behavior: String { case removed, isolated, mergedWithPrevious, mergedWithNext, contiguous }

    let pattern: Pattern
    let behavior: Behavior
    let invert: Bool

    init(pattern: Pattern, behavior: Behavior, invert: Bool) {
        self.pattern = pattern; self.behavior = behavior; self.invert = invert
    }

    init(json: [String: Any], path: String) throws {
        let p = json["pattern"] as? [String: Any] ?? [:]
        if let s = p["String"] as? String {
            pattern = .literal(s)
        } else if let r = p["Regex"] as? String {
            pattern = .regex(try BoundedRegex(pattern: r, path: path))
        } else {
            throw ScalpelError.invalidFile(path: path, reason: "Split pre-tokenizer has no String or Regex pattern")
        }
        let name = json["behavior"] as? String ?? "Isolated"
        let map: [String: Behavior] = [
            "Removed": .removed, "Isolated": .isolated, "MergedWithPrevious": .mergedWithPrevious,
            "MergedWithNext": .mergedWithNext, "Contiguous": .contiguous,
        ]
        guard let b = map[name] else {
            throw ScalpelError.unsupported(path: path, field: "Split behavior", value: name, supported: map.keys.sorted())
        }
        behavior = b
        invert = json["invert"] as? Bool ?? false
    }

    /// (range, isMatch) parts covering `s`, in UTF-16 offsets.
    private func parts(_ s: String) throws -> [(Range<Int>, Bool)] {
        let ns = s as NSString
        var matches: [Range<Int>] = []
        switch pattern {
        case .literal(let lit):
            guard !lit.isEmpty else { break }
            var search = NSRange(location: 0, length: ns.length)
            while true {
                let r = ns.range(of: lit, options: [.literal], range: search)
                if r.location == NSNotFound { break }
                matches.append(r.location..<(r.location + r.length))
                search = NSRange(location: r.location + r.length, length: ns.length - r.location - r.length)
            }
        case .regex(let re):
            for m in try re.matches(in: s) where !m.isEmpty { matches.append(m) }
        case .numeric:
            var offset = 0
            for scalar in s.unicodeScalars {
                let w = scalar.utf16.count
                if scalar.properties.numericType != nil { matches.append(offset..<(offset + w)) }
                offset += w
            }
        }
        var out: [(Range<Int>, Bool)] = []
        var last = 0
        for m in matches {
            if m.lowerBound > last { out.append((last..<m.lowerBound, invert)) }
            out.append((m, !invert))
            last = m.upperBound
        }
        if last < ns.length { out.append((last..<ns.length, invert)) }
        return out
    }

    func split(_ piece: Piece) throws -> [Piece] {
        let ns = piece.text as NSString
        let all = try parts(piece.text)
        var ranges: [Range<Int>] = []
        switch behavior {
        case .isolated:
            ranges = all.map(\.0)
        case .removed:
            ranges = all.filter { !$0.1 }.map(\.0)
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in all {
                if isMatch && previousMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    ranges.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in all {
                if isMatch && !previousMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    ranges.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            var reversed: [Range<Int>] = []
            for (r, isMatch) in all.reversed() {
                if isMatch && !previousMatch, let last = reversed.last {
                    reversed[reversed.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    reversed.append(r)
                }
                previousMatch = isMatch
            }
            ranges = reversed.reversed()
        }
        return ranges.filter { !$0.isEmpty }.map {
            Piece(
                text: ns.substring(with: NSRange(location: $0.lowerBound, length: $0.count)), atStart: piece.atStart && $0.lowerBound == 0)
        }
    }
}

/// A regular expression (ICU's syntax and engine, as NSRegularExpression) whose searches are
/// bounded: a pattern that backtracks catastrophically on some text (`(a+)+$`) fails with a
/// clear error, as HF `tokenizers` does with its retry limit, instead of running for minutes.
final class BoundedRegex: @unchecked Sendable {
    /// ICU's work limit per search, in its time-limit units (about 10⁴ match steps each): a
    /// tokenizer pattern finds each piece in a few steps; `(a+)+$` on 5,000 characters hits it at once.
    static let stepLimit: Int32 = 10_000
    let pattern: String
    let path: String
    private let re: OpaquePointer
    private let lock = NSLock()

    init(pattern: String, path: String) throws {
        self.pattern = pattern; self.path = path
        let units = Array(pattern.utf16)
        var message = [CChar](repeating: 0, count: 256)
        guard
            let re = units.withUnsafeBufferPointer({
                sc_regex_compile($0.baseAddress, Int32(units.count), BoundedRegex.stepLimit, &message, 256)
            })
        else {
            throw ScalpelError.invalidFile(
                path: path, reason: "Split pre-tokenizer regex does not compile (\(String(cString: message))): \(pattern)")
        }
        self.re = re
    }

    deinit { sc_regex_free(re) }

    /// The ranges (UTF-16 offsets) of successive matches in `text`.
    func matches(in text: String) throws -> [Range<Int>] {
        let units = Array(text.utf16)
        guard units.count < Int(Int32.max) else {
            throw ScalpelError.invalidData(
                path: path, reason: "a piece of text of \(units.count) UTF-16 units is too long for the Split regex")
        }
        lock.lock(); defer { lock.unlock() }
        return try units.withUnsafeBufferPointer { buffer in
            guard Int(sc_regex_set_text(re, buffer.baseAddress, Int32(buffer.count))) == Int(SC_REGEX_NONE) else {
                throw ScalpelError.invalidFile(path: path, reason: "the Split regex cannot search this text")
            }
            var out: [Range<Int>] = []
            var start: Int32 = 0, end: Int32 = 0
            while true {
                switch Int(sc_regex_next(re, &start, &end)) {
                case Int(SC_REGEX_FOUND): out.append(Int(start)..<Int(end))
                case Int(SC_REGEX_NONE): return out
                case Int(SC_REGEX_LIMIT):
                    throw ScalpelError.invalidFile(
                        path: path,
                        reason:
                            "Split pre-tokenizer regex exceeded its backtracking limit on a text of \(units.count) UTF-16 units (the pattern backtracks catastrophically): \(pattern)"
                    )
                default:
                    throw ScalpelError.invalidFile(path: path, reason: "Split pre-tokenizer regex failed while searching: \(pattern)")
                }
            }
        }
    }
}
