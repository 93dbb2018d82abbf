import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

@main
struct Main {
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)  // one line per step, as it happens, even into a file or pipe
        do {
            var command = try ScalpelCommand.parseAsRoot()
            try command.run()
        } catch let error as ScalpelError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        } catch {
            if let line = systemErrorLine(error) {
                FileHandle.standardError.write(Data("error: \(line)\n".utf8))
                exit(1)
            }
            // help and version print as usual; a usage mistake is one line (status 64, EX_USAGE)
            let code = ScalpelCommand.exitCode(for: error)
            guard code != .success else { ScalpelCommand.exit(withError: error) }
            let message = ScalpelCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            let line = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
            FileHandle.standardError.write(Data("error: \(line) (see --help)\n".utf8))
            exit(code.rawValue)
        }
    }

    /// One line for an error that came from Foundation or the system (a file operation, JSON
    /// encoding) rather than from argument parsing: the path and the system's reason, never a dump.
    static func systemErrorLine(_ error: Error) -> String? {
        if let e = error as? CocoaError {
            let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? e.userInfo[NSURLErrorKey].map { "\($0)" } ?? "a file"
            if let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                return "\(path): \(String(cString: strerror(Int32(underlying.code))))"
            }
            switch e.code {
            case .fileWriteOutOfSpace: return "\(path): no space left on device"
            case .fileWriteNoPermission, .fileReadNoPermission: return "\(path): permission denied"
            case .fileWriteVolumeReadOnly: return "\(path): read-only file system"
            case .fileNoSuchFile, .fileReadNoSuchFile: return "\(path): no such file or folder"
            case .fileWriteFileExists: return "\(path): already exists"
            default: return "\(path): file operation failed (code \(e.code.rawValue))"
            }
        }
        if let e = error as? POSIXError { return String(cString: strerror(e.code.rawValue)) }
        if error is EncodingError { return "a value cannot be written as JSON (a number that is not finite?)" }
        if error is DecodingError { return "a JSON file does not have the expected fields" }
        return nil
    }
}

struct ScalpelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Selective pruning: remove a capability from a transformer, keep the rest.",
        subcommands: [Eval.self, Logits.self, Generate.self, Collect.self, Prune.self, Shard.self, Report.self, Demo.self, Sgemm.self]
    )
}
