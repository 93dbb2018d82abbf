import Foundation
import ScalpelCore

/// Reads a `config.json` into a `Decodable` configuration, turning decoding failures into
/// one-line errors that name the file and the field.
public enum ConfigFile {
    public static func decode<C: Decodable>(_ type: C.Type, from data: Data, path: String) throws -> C {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ScalpelError.invalidFile(path: path, reason: "missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(expected, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ScalpelError.invalidFile(path: path, reason: "field '\(field)' is not of type \(expected)")
        } catch let DecodingError.valueNotFound(expected, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ScalpelError.invalidFile(path: path, reason: "field '\(field)' is null, expected \(expected)")
        } catch {
            throw ScalpelError.invalidFile(path: path, reason: "not valid JSON")
        }
    }
}
