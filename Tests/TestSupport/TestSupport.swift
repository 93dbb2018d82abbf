import Foundation

/// Paths and helpers shared by the test targets.
public enum TestSupport {
    /// The repository root (two levels above this file's folder).
    public static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    /// A path under Tests/Fixtures.
    public static func fixture(_ relative: String) -> String {
        root + "/Tests/Fixtures/" + relative
    }

    /// A fresh temporary folder.
    public static func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "scalpel-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The result of running a program.
    public struct Output {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// The program was killed for running past the time limit (a hang).
        public var timedOut = false
        /// The program ended by a signal (a crash: SIGSEGV, SIGILL for a Swift trap, SIGABRT, ...).
        public var crashed: Bool { !timedOut && terminationReason == .uncaughtSignal }
        var terminationReason: Process.TerminationReason = .exit
    }

    /// Runs `executable` with `arguments` and waits (stdout and stderr captured).
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        timeout: TimeInterval = 900
    ) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // a watchdog kills a program that runs past the limit, so a hang fails the test instead of stalling it
        let finished = NSCondition()
        nonisolated(unsafe) var done = false, killed = false
        let pid = p.processIdentifier
        let watchdog = Thread {
            finished.lock()
            let deadline = Date().addingTimeInterval(timeout)
            while !done && finished.wait(until: deadline) {}
            if !done { killed = true; kill(pid, SIGKILL) }
            finished.unlock()
        }
        watchdog.start()
        // read before waiting so a full pipe cannot block the child
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        finished.lock(); done = true; finished.signal(); finished.unlock()
        var result = Output(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
        finished.lock(); result.timedOut = killed; finished.unlock()
        result.terminationReason = p.terminationReason
        return result
    }

    /// Starts `executable` in the background, its output discarded (for tests that kill it).
    public static func launch(_ executable: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// The `scalpel` executable built beside the tests.
    public static var scalpelExecutable: String? {
        let dir = Bundle.main.bundleURL.path
        for candidate in [dir + "/scalpel", root + "/.build/debug/scalpel", root + "/.build/release/scalpel"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }

    /// A Python 3 that can import all of `modules`, if there is one.
    public static func python(with modules: [String]) -> String? {
        for candidate in ["/usr/bin/env"] {
            let check = "import " + modules.joined(separator: ", ")
            if let r = try? run(candidate, ["python3", "-c", check]), r.status == 0 { return candidate }
        }
        return nil
    }

    /// `scalpel prune` arguments for a fixture model on the small text fixtures (forget: code,
    /// retain: prose), with the run folder `out`; add the method's options after them.
    public static func fixturePruneArguments(
        model: String, out: String, collect: Int = 80, evaluate: Int = 60, context: Int = 32
    ) -> [String] {
        [
            "prune", "--model", model, "--forget", fixture("data/code/docs.jsonl"), "--retain", fixture("data/prose"),
            "--collect-tokens", String(collect), "--eval-tokens", String(evaluate), "--context", String(context), "--out", out,
        ]
    }

    /// Waits (at most `timeout` seconds) until the run in `folder` has committed step `step`
    /// (history.json is the commit point), then kills the process running it with SIGKILL.
    public static func killAfterStep(_ step: Int, of folder: String, _ process: Process, timeout: TimeInterval = 120) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let d = FileManager.default.contents(atPath: folder + "/history.json"),
                String(decoding: d, as: UTF8.self).contains("\"step\" : \(step)")
            {
                break
            }
            usleep(500)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
