import Foundation

/// A file written beside its destination and renamed into place by `commit()`: readers see the
/// old file or the whole new one, never a part. Errors are one line naming the destination and
/// the system's reason ("No space left on device"); a failed or abandoned write leaves no temporary file.
public final class AtomicFile {
    public let path: String
    /// `.NAME.tmp-PID` in the destination's folder.
    public let temporaryPath: String
    private var fd: Int32
    private var done = false

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFile.failure(path, "cannot create a file in its folder") }
    }

    deinit { if !done { abort() } }

    static func failure(_ path: String, _ what: String) -> ScalpelError {
        .invalidFile(path: path, reason: "\(what) (\(String(cString: strerror(errno))))")
    }

    /// Appends `count` bytes from `bytes`.
    public func write(_ bytes: UnsafeRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let n = Foundation.write(fd, bytes + done, Swift.min(count - done, 1 << 30))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { let e = AtomicFile.failure(path, "cannot write"); abort(); throw e }
            done += n
        }
    }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { try write(base, count: raw.count) }
        }
    }

    /// Flushes the file to disk and renames it into place.
    public func commit() throws {
        guard !done else { return }
        guard fsync(fd) == 0 else { let e = AtomicFile.failure(path, "cannot write"); abort(); throw e }
        close(fd); fd = -1
        guard rename(temporaryPath, path) == 0 else {
            let e = AtomicFile.failure(path, "cannot move the finished file into place"); abort(); throw e
        }
        done = true
    }

    /// Removes the temporary file.
    public func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        done = true
    }
}

extension AtomicFile {
    /// Removes the temporary files and folders in `folder` (names `PREFIX….tmp-PID`, the scheme
    /// `AtomicFile` and run folders use) whose writing process is gone.
    public static func removeStale(in folder: String, prefix: String = "") {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) {
            guard let r = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[r.upperBound...]), pid != getpid(),
                kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }
}

/// Writes `data` to `path` atomically: a temporary file beside it, then rename.
public func writeAtomically(_ data: Data, to path: String) throws {
    let file = try AtomicFile(path: path)
    try file.write(data)
    try file.commit()
}
