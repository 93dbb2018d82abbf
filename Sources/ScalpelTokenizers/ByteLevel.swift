/// GPT-2's byte-level alphabet and its pre-tokenization pattern.
public enum ByteLevel {
    /// byte → printable character (GPT-2's `bytes_to_unicode`): printable Latin-1 bytes map to
    /// themselves, the other 68 bytes to U+0100 onwards in byte order.
    public static let byteToChar: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Character(Unicode.Scalar(UInt32(b))!)
            } else {
                table[b] = Character(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToChar`, keyed by scalar value.
    public static let charToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, c) in byteToChar.enumerated() { map[c.unicodeScalars.first!.value] = UInt8(b) }
        return map
    }()

    /// The string of byte-characters for the UTF-8 bytes of `scalars`.
    public static func encode(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var s = String()
        var utf8: [UInt8] = []
        for scalar in scalars {
            utf8.removeAll(keepingCapacity: true)
            utf8.append(contentsOf: String(Character(scalar)).utf8)
            for b in utf8 { s.append(byteToChar[Int(b)]) }
        }
        return s
    }

    /// Splits `text` with GPT-2's pattern
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    /// matched by hand (no regex engine): returns the half-open ranges of the pieces.
    public static func split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        let n = s.count
        var i = 0
        while i < n {
            let start = i
            // contractions
            if s[i] == "'" && i + 1 < n {
                let c1 = s[i + 1]
                if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" {
                    pieces.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let c2 = s[i + 2]
                    if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") {
                        pieces.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // optional single space, then a run of one class
            var j = i
            if s[j] == " " && j + 1 < n { j += 1 }
            let kind = CharClass(s[j])
            if j > i && kind == .space {
                j = i  // the space belongs to a whitespace run
            }
            let k = CharClass(s[j])
            if k != .space {
                var e = j + 1
                while e < n && CharClass(s[e]) == k { e += 1 }
                pieces.append(start..<e); i = e; continue
            }
            // whitespace: \s+(?!\S) then \s+
            var e = i
            while e < n && CharClass(s[e]) == .space { e += 1 }
            if e < n && e - i > 1 { e -= 1 }
            pieces.append(i..<e); i = e
        }
        return pieces
    }

    enum CharClass: Equatable {
        case letter, number, space, other

        init(_ c: Unicode.Scalar) {
            let v = c.value
            if v < 128 {
                if (v >= 65 && v <= 90) || (v >= 97 && v <= 122) {
                    self = .letter
                } else if v >= 48 && v <= 57 {
                    self = .number
                } else if v == 32 || (v >= 9 && v <= 13) {
                    self = .space
                } else {
                    self = .other
                }
                return
            }
            let p = c.properties
            if p.isWhitespace { self = .space; return }
            switch p.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
                self = .letter
            case .decimalNumber, .letterNumber, .otherNumber:
                self = .number
            default:
                self = .other
            }
        }
    }
}
