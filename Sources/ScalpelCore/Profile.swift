import Foundation

/// Wall time per named phase of the forward pass, collected only when `SCALPEL_PROFILE=1`
/// is set, and printed to standard error by `report()`.
public enum Profile {
    public static let enabled = ProcessInfo.processInfo.environment["SCALPEL_PROFILE"] == "1"
    nonisolated(unsafe) private static var totals: [String: Double] = [:]

    /// Runs `body`, adding its wall time to `phase` when profiling.
    @inline(__always)
    public static func measure<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { totals[phase, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// The totals so far, largest first.
    public static var summary: [(phase: String, seconds: Double)] {
        totals.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }

    /// Prints the totals to standard error (when profiling).
    public static func report() {
        guard enabled else { return }
        let all = totals.values.reduce(0, +)
        var text = "profile (wall seconds per phase):\n"
        for (phase, s) in summary {
            text +=
                "  " + phase.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: "%8.3f  %5.1f%%\n", s, 100 * s / max(all, 1e-9))
        }
        FileHandle.standardError.write(Data(text.utf8))
    }
}
