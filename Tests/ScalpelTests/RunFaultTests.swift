import Foundation
import Testing
import TestSupport
@testable import ScalpelCore
@testable import Scalpel

/// Fault injection on run folders: kills, concurrent runs, changed inputs, tampered caches and histories.
extension FaultInjectionTests {
    @Test("a run stops when nothing is left to prune, whatever --steps says")
    func nothingLeft() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try run(pruneArguments(out: out, extra: ["--steps", "1000000", "--ff-frac", "0.4", "--attn-frac", "0"]), timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("nothing left to prune"))
        let history = try JSONSerialization.jsonObject(with: bytes(out + "/history.json")) as! [String: Any]
        #expect((history["steps"] as! [Any]).count <= 4)
    }

    // MARK: run folders

    @Test("kill -9 at 24 moments, then resume (or restart): always the uninterrupted run's bytes, no leftovers")
    func killAnywhere() throws {
        let whole = TestSupport.temporaryFolder() + "/whole"
        #expect(try run(pruneArguments(out: whole)).status == 0)
        let start = Date()
        _ = try run(pruneArguments(out: TestSupport.temporaryFolder() + "/timing"))
        let duration = Date().timeIntervalSince(start)
        for k in 0..<24 {
            let parent = TestSupport.temporaryFolder(), cut = parent + "/cut"
            let p = try TestSupport.launch(exe, pruneArguments(out: cut))
            usleep(UInt32(duration * 1.1 * 1_000_000 * Double(k) / 24))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            // a folder that exists is resumable; one that does not can be started again
            let r = FileManager.default.fileExists(atPath: cut) ? try run(["prune", "--resume", cut]) : try run(pruneArguments(out: cut))
            #expect(r.status == 0, "kill \(k): \(r.stderr)")
            #expect(try bytes(whole + "/masks.safetensors") == (try bytes(cut + "/masks.safetensors")), "kill \(k)")
            #expect(try bytes(whole + "/model/model.safetensors") == (try bytes(cut + "/model/model.safetensors")), "kill \(k)")
            let h1 = try JSONSerialization.jsonObject(with: bytes(whole + "/history.json")) as! [String: Any]
            let h2 = try JSONSerialization.jsonObject(with: bytes(cut + "/history.json")) as! [String: Any]
            #expect(
                (h1["steps"] as! [[String: Any]]).map { $0["metrics"] as! NSDictionary }
                    == (h2["steps"] as! [[String: Any]]).map { $0["metrics"] as! NSDictionary })
            let left =
                (try FileManager.default.contentsOfDirectory(atPath: cut)).filter { $0.contains(".tmp-") || $0.contains(".old-") }
                + (try FileManager.default.contentsOfDirectory(atPath: parent)).filter { $0.contains(".tmp-") }
            #expect(left.isEmpty, "kill \(k): leftovers \(left)")
        }
    }

    @Test("two runs on one folder: one runs, the other is refused; a resume of a live run is refused")
    func concurrentRuns() throws {
        for _ in 0..<3 {
            let out = TestSupport.temporaryFolder() + "/run"
            let group = DispatchGroup()
            nonisolated(unsafe) var results: [TestSupport.Output] = []
            let lock = NSLock()
            for _ in 0..<2 {
                DispatchQueue.global().async(group: group) {
                    let r = try! TestSupport.run(exe, pruneArguments(out: out), timeout: 120)
                    lock.lock(); results.append(r); lock.unlock()
                }
            }
            group.wait()
            #expect(results.filter { $0.status == 0 }.count == 1, "\(results.map(\.stderr))")
            for r in results where r.status != 0 {
                #expect(
                    r.stderr.contains("in use by pid") || r.stderr.contains("at the same time") || r.stderr.contains("already exists"),
                    "\(r.stderr)")
                #expect(!r.crashed)
            }
            let history = try JSONSerialization.jsonObject(with: bytes(out + "/history.json")) as! [String: Any]
            #expect((history["steps"] as! [Any]).count == 7)
        }
        // a resume while a run holds the folder
        let out = TestSupport.temporaryFolder() + "/live"
        let p = try TestSupport.launch(exe, pruneArguments(out: out, extra: ["--steps", "200", "--ff-frac", "0.002"]))
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out + "/history.json") && Date() < deadline { usleep(1000) }
        let r = try run(["prune", "--resume", out])
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        if p.terminationReason == .uncaughtSignal {  // it was still running when the resume came
            expectCleanError(r, "in use by pid \(p.processIdentifier)")
        }
    }

    @Test("resume refuses a changed model or data set, naming the file")
    func changedInputs() throws {
        let dir = try copyModel()
        let data = TestSupport.temporaryFolder() + "/docs.jsonl"
        try FileManager.default.copyItem(atPath: Self.forget, toPath: data)
        let out = TestSupport.temporaryFolder() + "/run"
        #expect(try run(pruneArguments(model: dir, forget: data, out: out, extra: ["--steps", "2"])).status == 0)
        #expect(try run(["prune", "--resume", out]).status == 0)  // unchanged: accepted
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data))
        try handle.seekToEnd(); try handle.write(contentsOf: Data("{\"text\": \"one more\"}\n".utf8)); try handle.close()
        expectCleanError(try run(["prune", "--resume", out]), "docs.jsonl has changed")
        try FileManager.default.removeItem(atPath: data)
        try FileManager.default.copyItem(atPath: Self.forget, toPath: data)
        var config = try String(contentsOfFile: dir + "/generation_config.json", encoding: .utf8)
        config += " "
        try config.write(toFile: dir + "/generation_config.json", atomically: true, encoding: .utf8)
        expectCleanError(try run(["prune", "--resume", out]), "generation_config.json has changed")
    }

    @Test("a tampered statistics cache is detected and recomputed: the masks are those of an uncached run")
    func tamperedCache() throws {
        let cache = TestSupport.temporaryFolder() + "/cache"
        let plain = TestSupport.temporaryFolder() + "/plain"
        #expect(try run(pruneArguments(out: plain)).status == 0)
        #expect(try run(pruneArguments(out: TestSupport.temporaryFolder() + "/fill", extra: ["--stats-cache", cache])).status == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".safetensors") }.sorted()
        #expect(files.count >= 4)
        // NaN sums in one, a count of −1 in another, two swapped, one truncated
        func edit(_ name: String, _ tensor: String, _ value: Double) throws {
            let path = cache + "/" + name
            let f = try SafetensorsFile(path: path)
            let t = f.tensors[tensor]!
            let headerLength = Int(try bytes(path).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try h.seek(toOffset: UInt64(8 + headerLength + t.start))
            try h.write(contentsOf: withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) })
            try h.close()
        }
        try edit(files[0], "ff.sum", .nan)
        try edit(files[1], "attn.count", -1)
        let a = try bytes(cache + "/" + files[2]), b = try bytes(cache + "/" + files[3])
        try b.write(to: URL(fileURLWithPath: cache + "/" + files[2])); try a.write(to: URL(fileURLWithPath: cache + "/" + files[3]))
        let out = TestSupport.temporaryFolder() + "/tampered"
        let r = try run(pruneArguments(out: out, extra: ["--stats-cache", cache]))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.components(separatedBy: "statistics cache entry").count - 1 >= 4, "\(r.stdout)")
        #expect(try bytes(plain + "/masks.safetensors") == (try bytes(out + "/masks.safetensors")))
        // and the cache was repaired: a third run reads every entry without warnings
        let again = try run(pruneArguments(out: TestSupport.temporaryFolder() + "/again", extra: ["--stats-cache", cache]))
        #expect(again.status == 0 && !again.stdout.contains("statistics cache entry"), "\(again.stdout)")
    }

    @Test(
        "a full disk during a run or its export: a clean error, nothing left behind, and resume completes it",
        .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func diskFull() throws {
        let whole = TestSupport.temporaryFolder() + "/whole"
        #expect(try run(pruneArguments(out: whole)).status == 0)
        let mountPoint = TestSupport.temporaryFolder()
        let mounted = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=120k", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "cannot mount a tmpfs: \(mounted.stderr)")
        defer { _ = try? TestSupport.run("/bin/umount", [mountPoint]) }
        let out = mountPoint + "/run"
        let r = try run(pruneArguments(out: out))
        expectCleanError(r, "No space left on device")
        let leftovers =
            ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { $0.contains(".tmp-") || $0.contains(".old-") }
            + (try FileManager.default.contentsOfDirectory(atPath: mountPoint)).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(try TestSupport.run("/bin/mount", ["-o", "remount,size=8m", mountPoint]).status == 0)
        let resumed = FileManager.default.fileExists(atPath: out) ? try run(["prune", "--resume", out]) : try run(pruneArguments(out: out))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(whole + "/masks.safetensors") == (try bytes(out + "/masks.safetensors")))
        #expect(try bytes(whole + "/model/model.safetensors") == (try bytes(out + "/model/model.safetensors")))
    }

    @Test("report and resume refuse a history.json that was cut short or edited; a run with no finished step resumes")
    func editedHistory() throws {
        let base = TestSupport.temporaryFolder() + "/run"
        #expect(try run(pruneArguments(out: base, extra: ["--steps", "2"])).status == 0)
        func edited(_ edit: (inout [String: Any]) -> Void) throws -> String {
            let dir = TestSupport.temporaryFolder() + "/run"
            try FileManager.default.copyItem(atPath: base, toPath: dir)
            var h = try JSONSerialization.jsonObject(with: bytes(dir + "/history.json")) as! [String: Any]
            edit(&h)
            try JSONSerialization.data(withJSONObject: h).write(to: URL(fileURLWithPath: dir + "/history.json"))
            return dir
        }
        let empty = try edited {
            $0["steps"] = [Any](); $0["stopped"] = NSNull(); $0["top1_max_delta"] = NSNull()
        }
        expectCleanError(try run(["report", empty]), "no finished step yet")
        #expect(try run(["prune", "--resume", empty]).status == 0)  // evaluates step 0 and carries on
        let noRetain = try edited { h in
            var steps = h["steps"] as! [[String: Any]]
            var metrics = steps[1]["metrics"] as! [String: Any]
            metrics["retain"] = nil
            steps[1]["metrics"] = metrics
            h["steps"] = steps
        }
        expectCleanError(try run(["report", noRetain]), "lacks retain metrics")
        expectCleanError(try run(["prune", "--resume", noRetain]), "lacks retain metrics")
    }
}
