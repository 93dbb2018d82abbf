import Foundation
import ScalpelCore

/// A data set named on the command line: a file or a folder of documents (METHOD.md §6).
///
/// - A `.jsonl` file holds one document per non-blank line, its text in `textField`.
/// - Any other file is one document (decoded as UTF-8; invalid bytes become U+FFFD).
/// - A folder is read recursively in sorted path order, skipping hidden files and folders,
///   keeping only `extensions` when given.
public struct DataSet: Sendable {
    public let name: String
    public let path: String
    public var textField: String
    public var extensions: Set<String>?

    public init(name: String, path: String, textField: String = "text", extensions: Set<String>? = nil) {
        self.name = name; self.path = path; self.textField = textField; self.extensions = extensions
    }

    /// Parses `NAME=PATH` or `PATH` (the name is then the file or folder name without extension).
    public init(argument: String, textField: String = "text", extensions: Set<String>? = nil) {
        if let eq = argument.firstIndex(of: "="), !argument[..<eq].contains("/") {
            self.init(
                name: String(argument[..<eq]), path: String(argument[argument.index(after: eq)...]),
                textField: textField, extensions: extensions)
        } else {
            let base = ((argument as NSString).lastPathComponent as NSString).deletingPathExtension
            self.init(name: base.isEmpty ? argument : base, path: argument, textField: textField, extensions: extensions)
        }
    }

    /// The files of the data set, in reading order.
    public func files() throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ScalpelError.fileNotFound(path: path)
        }
        guard isDir.boolValue else { try InputFile.requireRegular(path); return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else {
            throw ScalpelError.invalidData(path: path, reason: "cannot read folder")
        }
        var found: [String] = []
        while let rel = walker.nextObject() as? String {
            let parts = rel.split(separator: "/")
            if parts.contains(where: { $0.hasPrefix(".") }) { continue }
            let full = (path as NSString).appendingPathComponent(rel)
            // regular files only: a FIFO or socket in the folder is skipped, never opened
            guard InputFile.isRegular(full) else { continue }
            if let extensions, !extensions.contains((rel as NSString).pathExtension) { continue }
            found.append(rel)
        }
        return found.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { (path as NSString).appendingPathComponent($0) }
    }

    /// Calls `body` with each document in order, and the file it came from (`FILE:LINE` for
    /// `.jsonl`), until it returns false.
    public func forEachDocument(_ body: (_ text: String, _ source: String) throws -> Bool) throws {
        for file in try files() {
            if file.hasSuffix(".jsonl") {
                var stop = false
                // read line by line: a data set of many gigabytes costs the memory of its longest line
                try InputFile.forEachLine(file) { line, lineNumber in
                    if line.allSatisfy({ [0x20, 0x09, 0x0D, 0x0B, 0x0C].contains($0) }) { return true }
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) else {
                        throw ScalpelError.invalidData(path: "\(file):\(lineNumber)", reason: "line is not valid JSON")
                    }
                    guard let dict = object as? [String: Any] else {
                        throw ScalpelError.invalidData(path: "\(file):\(lineNumber)", reason: "line is not a JSON object")
                    }
                    guard let value = dict[textField] else {
                        throw ScalpelError.invalidData(
                            path: "\(file):\(lineNumber)", reason: "object has no field '\(textField)' (use --text-field to pick another)")
                    }
                    guard let doc = value as? String else {
                        throw ScalpelError.invalidData(path: "\(file):\(lineNumber)", reason: "field '\(textField)' is not a string")
                    }
                    if try !body(doc, "\(file):\(lineNumber)") { stop = true; return false }
                    return true
                }
                if stop { return }
            } else {
                if try !body(String(decoding: try InputFile.read(file), as: UTF8.self), file) { return }
            }
        }
    }
}
