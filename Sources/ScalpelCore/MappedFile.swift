import Foundation

/// A whole file mapped read-write-private: pages are shared with the page cache until
/// written, and writes never reach the file.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeMutableRawPointer
    public let size: Int

    /// Maps `path`. Throws `fileNotFound` or `invalidFile` naming the path.
    public init(path: String) throws {
        self.path = path
        // a FIFO or device would block the open or never end: only regular files are mapped
        try InputFile.requireRegular(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw ScalpelError.fileNotFound(path: path) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw ScalpelError.invalidFile(path: path, reason: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ScalpelError.invalidFile(path: path, reason: "is not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16)
            return
        }
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil { throw ScalpelError.invalidFile(path: path, reason: "cannot map file") }
        base = p!
    }

    deinit {
        if size == 0 { base.deallocate() } else { munmap(base, size) }
    }

    /// The bytes at [offset, offset + count).
    public func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}

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

/// Writes `data` to `path` atomically: a temporary file beside it, then rename.
public func writeAtomically(_ data: Data, to path: String) throws {
    let file = try AtomicFile(path: path)
    try file.write(data)
    try file.commit()
}
