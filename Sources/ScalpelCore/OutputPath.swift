import Foundation

/// Checks made on an output path before any work: its folder exists and can be written, and it
/// is not (and does not lie inside) one of the command's inputs, so a run never replaces the
/// checkpoint or data set it reads, and never learns that its output is unwritable at the end.
public enum OutputPath {
    /// The path with symbolic links and `.`/`..` resolved (for a path that does not exist yet, its folder's).
    static func resolved(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if let real = realpath(url.path, nil) { defer { free(real) }; return String(cString: real) }
        let parent = url.deletingLastPathComponent().path
        if let real = realpath(parent, nil) { defer { free(real) }; return String(cString: real) + "/" + url.lastPathComponent }
        return url.path
    }

    /// Throws a one-line error naming `option` unless `path` can be written and is none of `inputs`.
    public static func check(_ path: String, option: String, inputs: [String]) throws {
        let target = resolved(path)
        for input in inputs where !input.isEmpty {
            let source = resolved(input)
            if target == source || target.hasPrefix(source.hasSuffix("/") ? source : source + "/") {
                throw ScalpelError.invalidArgument(
                    target == source || FileManager.default.fileExists(atPath: target)
                        ? "\(option) \(path) would overwrite the input \(input); choose another path"
                        : "\(option) \(path) lies inside the input \(input), which must not change; choose another path")
            }
        }
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw ScalpelError.invalidArgument("\(option) \(path): the folder \(parent) does not exist")
        }
        // create and remove a file there: the real test (root passes access(W_OK) on a read-only
        // mount or /proc, where creating the output at the end would fail after all the work)
        let probe = parent + "/.\(URL(fileURLWithPath: target).lastPathComponent).probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ScalpelError.invalidArgument(
                "\(option) \(path): cannot create files in the folder \(parent) (\(String(cString: strerror(errno))))")
        }
        close(fd)
        unlink(probe)
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDir), !isDir.boolValue, access(target, W_OK) != 0 {
            throw ScalpelError.invalidArgument("\(option) \(path) exists and is not writable")
        }
    }
}
