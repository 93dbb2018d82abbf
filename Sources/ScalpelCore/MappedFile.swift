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
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw ScalpelError.fileNotFound(path: path) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw ScalpelError.invalidFile(path: path, reason: "cannot stat") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ScalpelError.invalidFile(path: path, reason: "is a folder, expected a file") }
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

/// Writes `data` to `path` atomically: a temporary file beside it, then rename.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let tmp = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try data.write(to: tmp)
        if rename(tmp.path, url.path) != 0 {
            throw ScalpelError.invalidFile(path: path, reason: "cannot rename temporary file into place (\(String(cString: strerror(errno))))")
        }
    } catch let error as ScalpelError {
        try? FileManager.default.removeItem(at: tmp)
        throw error
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw ScalpelError.invalidFile(path: path, reason: "cannot write: \(error.localizedDescription)")
    }
}
