import Foundation

/// The keys of a JSON object's top level, in file order, duplicates kept. Foundation's parser
/// silently keeps one of two equal keys; formats that forbid duplicates (a safetensors header,
/// a shard index) check with this. Returns nil when `data` is not a JSON object.
public enum JSONKeys {
    public static func topLevel(_ data: Data) -> [String]? {
        let bytes = [UInt8](data)
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        // a string starting at bytes[i] == '"'; returns its raw bytes between the quotes
        func string() -> [UInt8]? {
            guard i < bytes.count, bytes[i] == 0x22 else { return nil }
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != 0x22 {
                if bytes[i] == 0x5C { i += 1 }
                i += 1
            }
            guard i < bytes.count else { return nil }
            defer { i += 1 }
            return Array(bytes[start..<i])
        }
        // any value: strings, nested brackets, literals and numbers
        func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            if bytes[i] == 0x22 { return string() != nil }
            if bytes[i] == 0x7B || bytes[i] == 0x5B {
                var depth = 0
                while i < bytes.count {
                    switch bytes[i] {
                    case 0x22: if string() == nil { return false }; continue
                    case 0x7B, 0x5B: depth += 1
                    case 0x7D, 0x5D:
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            }
            while i < bytes.count, ![0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            return true
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else { return nil }
        i += 1
        var keys: [String] = []
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D { return keys }
        while true {
            skipSpace()
            guard let raw = string() else { return nil }
            // decode escapes through Foundation so "\u0061" and "a" compare equal
            let quoted = Data([0x22] + raw + [0x22])
            guard let key = try? JSONSerialization.jsonObject(with: quoted, options: [.fragmentsAllowed]) as? String else { return nil }
            keys.append(key)
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { return nil }
            i += 1
            guard skipValue() else { return nil }
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { return keys }
            return nil
        }
    }

    /// The first key that occurs twice, if any.
    public static func firstDuplicate(_ keys: [String]) -> String? {
        var seen = Set<String>()
        for k in keys where !seen.insert(k).inserted { return k }
        return nil
    }
}
