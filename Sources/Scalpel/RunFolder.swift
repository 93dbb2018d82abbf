import Foundation
import ScalpelCore

/// A run folder's life: created whole or not at all, owned by one process at a time, cleaned of
/// what an interrupted process left, and tied to the exact inputs it was started with.
///
/// - A new folder is assembled as `.NAME.tmp-PID` beside its destination (lock, `run.json`,
///   `history.json`, `masks.safetensors`) and renamed into place, so a folder that exists is
///   always resumable; a killed start leaves only a temporary folder, removed by the next start.
/// - `.lock` inside the folder is held (`flock`) for the life of the process: a second run on
///   the same folder fails with "in use by pid N".
public final class RunFolder {
    public let path: String
    private var lockDescriptor: Int32 = -1

    /// Files a process writes and renames into place; any left behind belong to a dead process.
    static func isLeftover(_ name: String) -> Bool { name.contains(".tmp-") || name.hasPrefix("model.old-") }

    private init(path: String) { self.path = path }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    /// Takes `.lock` in `folder`, or throws naming the process that holds it.
    private func lock(_ folder: String) throws {
        let lockPath = folder + "/.lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ScalpelError.invalidFile(path: folder, reason: "cannot create the run's lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw ScalpelError.invalidArgument(
                "\(path) is in use by pid \(holder.isEmpty ? "?" : holder) (another scalpel run on the same folder)")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { Foundation.write(fd, $0, strlen($0)) }
        lockDescriptor = fd
    }

    /// Removes temporary folders `.NAME.tmp-PID` beside `path` whose process is gone.
    private static func removeStaleSiblings(of path: String) {
        let url = URL(fileURLWithPath: path)
        AtomicFile.removeStale(in: url.deletingLastPathComponent().path, prefix: ".\(url.lastPathComponent).tmp-")
    }

    /// Creates the run folder at `path`: `populate` writes its first files into a temporary folder
    /// (given as argument), which is then renamed to `path`. Refuses an existing folder that is
    /// not empty. The returned folder holds the lock.
    public static func create(_ path: String, populate: (String) throws -> Void) throws -> RunFolder {
        let fm = FileManager.default
        removeStaleSiblings(of: path)
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if !isDir.boolValue || !contents.isEmpty {
                let isRun = fm.fileExists(atPath: path + "/history.json")
                throw ScalpelError.invalidArgument(
                    "\(path) already exists"
                        + (isRun
                            ? " and holds a run: continue it with --resume \(path), or choose another --out"
                            : " and is not an empty folder: choose another --out"))
            }
        }
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        guard fm.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw ScalpelError.invalidArgument("cannot create \(path): its parent folder \(parent) does not exist")
        }
        let tmp = parent + "/.\(url.lastPathComponent).tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        guard mkdir(tmp, 0o755) == 0 else {
            throw ScalpelError.invalidFile(path: path, reason: "cannot create the run folder (\(String(cString: strerror(errno))))")
        }
        let folder = RunFolder(path: path)
        do {
            try folder.lock(tmp)
            try populate(tmp)
            // rename onto a missing or empty folder only: a concurrent start that got there first wins
            guard rename(tmp, path) == 0 else {
                let reason =
                    errno == ENOTEMPTY || errno == EEXIST
                    ? "another run was created there at the same time" : String(cString: strerror(errno))
                throw ScalpelError.invalidArgument("cannot create \(path): \(reason)")
            }
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        return folder
    }

    /// Opens an existing run folder to continue it: takes the lock, then removes what an
    /// interrupted process left (temporary files and folders).
    public static func resume(_ path: String) throws -> RunFolder {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path + "/history.json") else {
            throw ScalpelError.invalidFile(path: path, reason: "not a Scalpel run folder to resume (no history.json)")
        }
        removeStaleSiblings(of: path)
        let folder = RunFolder(path: path)
        try folder.lock(path)
        for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where isLeftover(name) {
            try? fm.removeItem(atPath: path + "/" + name)
        }
        return folder
    }
}

/// SHA-256 of every input of a run, keyed as `run.json` records them: `model/NAME` for each
/// file of a checkpoint folder (`model/NAME` for a single GGUF file) and `forget:PATH` /
/// `retain:PATH` for each data file.
public enum RunInputs {
    public static func hashes(_ config: PruneConfig) throws -> [String: String] {
        var out: [String: String] = [:]
        let digest = try StatisticsCache.checkpointDigest(config.model)
        for (name, h) in digest.files { out["model/" + name] = h }
        for (label, path) in [("forget", config.forget), ("retain", config.retain)] {
            let set = DataSet(name: label, path: path, textField: config.textField, extensions: config.extensions.map(Set.init))
            for file in try set.files() { out[label + ":" + file] = try SHA256.file(file) }
        }
        return out
    }

    /// The model's file digests among `hashes`, by file name (what `checkpointDigest` reuses).
    public static func modelFiles(_ hashes: [String: String]) -> [String: String] {
        var out: [String: String] = [:]
        for (key, h) in hashes where key.hasPrefix("model/") { out[String(key.dropFirst(6))] = h }
        return out
    }

    /// Throws, naming the first input whose content differs from what `recorded` says (or that
    /// was added or removed), so a resumed run never mixes two models or two data sets.
    public static func verify(_ config: PruneConfig, recorded: [String: String], runJSON: String) throws {
        let now = try hashes(config)
        for key in Set(now.keys).union(recorded.keys).sorted() where now[key] != recorded[key] {
            let what = key.hasPrefix("model/") ? "model file" : "data file"
            let name = key.hasPrefix("model/") ? String(key.dropFirst(6)) : String(key.split(separator: ":", maxSplits: 1).last ?? "")
            let change = recorded[key] == nil ? "was added" : now[key] == nil ? "is gone" : "has changed"
            throw ScalpelError.invalidArgument(
                "cannot resume: \(what) \(name) \(change) since the run started (\(runJSON) records the SHA-256 of every input); start a new run instead"
            )
        }
    }
}
