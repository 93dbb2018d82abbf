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
        let (fd, size) = try InputFile.openRegular(path)
        defer { close(fd) }
        self.size = size
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
    /// Gives back the memory of the whole pages inside bytes [offset, offset + count): they are
    /// read again from the file if touched later. Only for ranges nothing has written to (a private
    /// mapping's written pages would be lost), e.g. a tensor just converted into a copy.
    public func release(_ offset: Int, _ count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + offset + page - 1) / page * page
        let end = (Int(bitPattern: base) + offset + count) / page * page
        guard size > 0, end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_DONTNEED)
    }

    public func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}
