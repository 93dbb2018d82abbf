import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
public final class ProgressBar {
    private let label: String
    private let total: Int
    private var done = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let enabled: Bool
    private let bytes: Bool

    /// A bar for `total` units: tokens, or bytes with `bytes` (shown in MB).
    public init(label: String, total: Int, bytes: Bool = false, enabled: Bool = isatty(2) != 0) {
        self.label = label
        self.total = max(total, 1)
        self.bytes = bytes
        self.enabled = enabled
    }

    /// Adds `count` units of work done and redraws at most ten times a second.
    public func advance(_ count: Int) {
        done += count
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) < 0.1 && done < total { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line =
            bytes
            ? String(
                format: "\r%@ %@ %3.0f%% %.1f/%.1f MB  %.1f MB/s ", label, bar, fraction * 100, Double(done) / 1e6, Double(total) / 1e6,
                rate / 1e6)
            : String(format: "\r%@ %@ %3.0f%% %d/%d  %.0f tok/s ", label, bar, fraction * 100, done, total, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the line.
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
