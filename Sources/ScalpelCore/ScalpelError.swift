import Foundation

/// Every failure Scalpel reports to a user: what was expected, what was found, and where.
///
/// `description` is a single line suitable for a command-line error message.
public enum ScalpelError: Error, CustomStringConvertible, Equatable {
    /// A file or folder the user named does not exist or cannot be read.
    case fileNotFound(path: String)
    /// A file exists but its content is not what the format requires.
    case invalidFile(path: String, reason: String)
    /// A checkpoint lacks a tensor the architecture needs.
    case missingTensor(path: String, name: String)
    /// A tensor has a shape other than the configuration implies.
    case wrongShape(path: String, name: String, expected: [Int], found: [Int])
    /// A configuration names something Scalpel does not implement.
    case unsupported(path: String, field: String, value: String, supported: [String])
    /// A data set cannot serve what was asked of it.
    case invalidData(path: String, reason: String)
    /// A command-line argument is out of range or inconsistent.
    case invalidArgument(String)
    /// A Hugging Face Hub repository cannot be found in the cache or fetched.
    case hub(id: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file or folder"
        case .invalidFile(let path, let reason):
            return "\(path): \(reason)"
        case .missingTensor(let path, let name):
            return "\(path): missing tensor '\(name)'"
        case .wrongShape(let path, let name, let expected, let found):
            return "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case .unsupported(let path, let field, let value, let supported):
            let list = supported.isEmpty ? "" : " (supported: \(supported.joined(separator: ", ")))"
            return "\(path): unsupported \(field) '\(value)'\(list)"
        case .invalidData(let path, let reason):
            return "\(path): \(reason)"
        case .invalidArgument(let message):
            return message
        case .hub(let id, let reason):
            return "\(id): \(reason)"
        }
    }
}
