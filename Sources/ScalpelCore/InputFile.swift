import Foundation

/// Reading what a user names as input, safely: only regular files are opened (a FIFO, device or
/// socket would block or never end), sizes are bounded, and every failure names the file.
public enum InputFile {
    /// Throws unless `path` is a regular file (symbolic links followed); returns its size in bytes.
    @discardableResult
    public static func requireRegular(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw ScalpelError.fileNotFound(path: path) }
            throw ScalpelError.invalidFile(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return Int(st.st_size)
        case S_IFDIR: throw ScalpelError.invalidFile(path: path, reason: "is a folder, expected a file")
        default: throw ScalpelError.invalidFile(path: path, reason: "is not a regular file (a pipe, device or socket); give a file")
        }
    }

    /// Opens the regular file at `path` for reading: `(descriptor, size)`. The open does not block
    /// (O_NONBLOCK), and the descriptor itself is checked to be a regular file, so a FIFO swapped in
    /// after `requireRegular` cannot hang the caller. The caller closes the descriptor.
    public static func openRegular(_ path: String) throws -> (fd: Int32, size: Int) {
        try requireRegular(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ScalpelError.invalidFile(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ScalpelError.invalidFile(path: path, reason: "is not a regular file")
        }
        return (fd, Int(st.st_size))
    }

    /// True when `path` exists and is a regular file.
    public static func isRegular(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// The whole content of the regular file at `path`, at most `limit` bytes.
    public static func read(_ path: String, limit: Int = 1 << 31) throws -> Data {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        guard size <= limit else {
            throw ScalpelError.invalidFile(path: path, reason: "is \(size) bytes, more than the \(limit) this kind of file may have")
        }
        var data = Data(count: size)
        var done = 0
        while done < size {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { data.count = done; break }  // the file shrank while being read
                throw ScalpelError.invalidFile(path: path, reason: "read failed (\(String(cString: strerror(errno))))")
            }
            done += n
        }
        return data
    }

    /// Calls `body` with each line of the regular file at `path` (without its LF, nor the CR of a
    /// CRLF) and its 1-based number, until `body` returns false. The file is read in 8 MiB
    /// blocks: memory follows the longest line, not the file.
    public static func forEachLine(_ path: String, _ body: (_ line: Data, _ number: Int) throws -> Bool) throws {
        let (fd, _) = try openRegular(path)
        defer { close(fd) }
        var pending = Data()
        var number = 0
        var block = [UInt8](repeating: 0, count: 8 << 20)
        func emit(_ line: Data) throws -> Bool {
            number += 1
            var l = line
            if l.last == 0x0D { l.removeLast() }
            return try body(l, number)
        }
        while true {
            let n = block.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ScalpelError.invalidFile(path: path, reason: "read failed (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where block[i] == 0x0A {
                pending.append(contentsOf: block[start..<i])
                if try !emit(pending) { return }
                pending.removeAll(keepingCapacity: true)
                start = i + 1
            }
            pending.append(contentsOf: block[start..<n])
            guard pending.count < 1 << 31 else {
                throw ScalpelError.invalidFile(path: path, reason: "line \(number + 1) is longer than 2 GiB")
            }
        }
        if !pending.isEmpty { _ = try emit(pending) }
    }

    /// The file parsed as a JSON object (at most `limit` bytes), or a one-line error naming it.
    public static func jsonObject(_ path: String, limit: Int = 1 << 30) throws -> [String: Any] {
        let data = try read(path, limit: limit)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ScalpelError.invalidFile(path: path, reason: "not a JSON object")
        }
        return object
    }
}

/// Checked arithmetic for sizes read from files: overflow is an error, never a trap.
public enum CheckedSize {
    /// The product of `dims` (each ≥ 0), or nil when it overflows or exceeds `limit`.
    public static func product(_ dims: [Int], limit: Int = Int.max) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= limit else { return nil }
            n = p
        }
        return n
    }

    /// a · b, or nil on overflow.
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (p, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : p
    }

    /// a + b, or nil on overflow.
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (s, o) = a.addingReportingOverflow(b)
        return o ? nil : s
    }
}
