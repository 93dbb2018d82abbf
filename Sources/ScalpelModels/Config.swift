import Foundation
import ScalpelCore

/// Typed reads from a `config.json` object with Hugging Face's defaults; a field of the wrong
/// type is an error naming the file and field.
public struct ConfigReader {
    public let json: [String: Any]
    public let path: String

    public init(json: [String: Any], path: String) { self.json = json; self.path = path }

    /// JSON true/false (JSONSerialization gives NSNumbers of type "c" for them).
    private func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    private func wrong(_ key: String, _ type: String) -> ScalpelError {
        .invalidFile(path: path, reason: "field '\(key)' is not of type \(type)")
    }

    public func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
        guard let v = json[key], !(v is NSNull) else {
            guard let fallback else { throw ScalpelError.invalidFile(path: path, reason: "missing field '\(key)'") }
            return fallback
        }
        guard let n = v as? NSNumber, !isBoolean(n), case let d = n.doubleValue, d == d.rounded(), Swift.abs(d) < 9.0e15,
            let i = Int(exactly: d)
        else { throw wrong(key, "Int") }
        return i
    }

    /// Largest size any dimension of a supported model may have (vocabularies of 256k, widths of
    /// 50k and position limits of 1M fit; a corrupt 2^62 does not).
    public static let sizeLimit = 1 << 24

    /// A size (layers, widths, heads, vocabulary, positions): an integer in 1...`sizeLimit`.
    public func count(_ key: String, _ fallback: Int? = nil) throws -> Int {
        let v = try int(key, fallback)
        guard (1...ConfigReader.sizeLimit).contains(v) else {
            throw ScalpelError.invalidFile(path: path, reason: "field '\(key)' is \(v); it must be between 1 and \(ConfigReader.sizeLimit)")
        }
        return v
    }

    /// The width of one attention head, `width / heads`; an error naming both fields unless `heads` divides `width`.
    public func headWidth(width: Int, _ widthKey: String, heads: Int, _ headsKey: String) throws -> Int {
        guard width % heads == 0 else {
            throw ScalpelError.invalidFile(path: path, reason: "\(widthKey) \(width) is not divisible by \(headsKey) \(heads)")
        }
        return width / heads
    }

    /// An optional size: nil when absent or null, else as `count`.
    public func optionalCount(_ key: String) throws -> Int? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try count(key)
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try int(key)
    }

    public func double(_ key: String, _ fallback: Double) throws -> Double {
        guard let v = json[key], !(v is NSNull) else { return fallback }
        guard let n = v as? NSNumber, !isBoolean(n) else { throw wrong(key, "Double") }
        return n.doubleValue
    }

    /// An explicit `null` is an error: transformers reads it as None (falsy), not as the default.
    public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        guard let v = json[key] else { return fallback }
        if v is NSNull {
            throw ScalpelError.invalidFile(
                path: path, reason: "field '\(key)' is null; give true or false, or leave it out for the default")
        }
        guard let n = v as? NSNumber, isBoolean(n) else { throw wrong(key, "Bool") }
        let b = n.boolValue
        return b
    }

    public func string(_ key: String, _ fallback: String) throws -> String {
        guard let v = json[key] else { return fallback }
        if v is NSNull {
            throw ScalpelError.invalidFile(path: path, reason: "field '\(key)' is null; give a string, or leave it out for the default")
        }
        guard let s = v as? String else { throw wrong(key, "String") }
        return s
    }
}
