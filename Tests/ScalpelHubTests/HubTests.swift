import Foundation
import TestSupport
import Testing

@testable import ScalpelHub

/// A stand-in Hub on 127.0.0.1 (Tests/hub_server.py) serving a fixture model.
final class HubServer {
    let process: Process
    let port: Int
    let commit: String
    let log: String
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(folder: String, repo: String, token: String? = nil, cutAfter: Int? = nil) throws {
        log = TestSupport.temporaryFolder() + "/requests.jsonl"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments =
            ["python3", TestSupport.root + "/Tests/hub_server.py", "--folder", folder, "--repo", repo, "--log", log]
            + (token.map { ["--token", $0] } ?? []) + (cutAfter.map { ["--cut-after", String($0)] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // "PORT <n> COMMIT <sha>"
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let words = String(decoding: line, as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard words.count == 4, let port = Int(words[1]) else {
            kill(p.processIdentifier, SIGKILL)
            throw HubTestError.serverDidNotStart
        }
        self.port = port
        commit = words[3]
    }

    /// The requests the server saw, in order.
    func requests() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    deinit {
        // SIGKILL: a child of the test process may start with SIGTERM blocked (the signal mask is inherited)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

enum HubTestError: Error { case serverDidNotStart }

private let hubPython = TestSupport.python(with: ["huggingface_hub"])

/// Scalpel's Hub client against the stand-in Hub and against `huggingface_hub` itself: either fills
/// a cache the other uses offline; an interrupted fetch resumes; gated, missing and offline cases
/// fail with one line.
@Suite(
    "Hugging Face Hub", .serialized,
    .enabled(if: TestSupport.scalpelExecutable != nil && hubPython != nil, "needs the scalpel executable and python3 with huggingface_hub"))
struct HubTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    let fixture = TestSupport.fixture("models/llama-gqa")
    let repo = "test-org/tiny-llama"

    func generate(_ model: String, _ environment: [String: String]) throws -> TestSupport.Output {
        try TestSupport.run(
            exe, ["generate", "--model", model, "--prompt", "def f(x):", "--max-new-tokens", "6"], environment: environment)
    }

    func python(_ code: String, _ environment: [String: String]) throws -> TestSupport.Output {
        try TestSupport.run("/usr/bin/env", ["python3", "-c", code], environment: environment)
    }

    /// What `scalpel generate` prints for the fixture folder itself: the reference output.
    func expectedCompletion() throws -> String {
        let r = try generate(fixture, [:])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.split(separator: "\n").first { $0.hasPrefix("── completion") }.map(String.init) ?? "none"
    }

    func completion(_ r: TestSupport.Output) -> String {
        r.stdout.split(separator: "\n").first { $0.hasPrefix("── completion") }.map(String.init) ?? "none: \(r.stderr)"
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test("Scalpel fetches into the cache as huggingface_hub lays it out, which then finds every file offline")
    func scalpelThenHuggingFaceHub() throws {
        let server = try HubServer(folder: fixture, repo: repo)
        let cache = TestSupport.temporaryFolder() + "/hub"
        let env = ["HF_ENDPOINT": server.endpoint, "HF_HUB_CACHE": cache]
        let r = try generate(repo, env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(completion(r) == (try expectedCompletion()))
        // the layout: refs/main → commit, snapshot symlinks into blobs named by ETag
        let folder = cache + "/models--test-org--tiny-llama"
        #expect((try? String(contentsOfFile: folder + "/refs/main", encoding: .utf8)) == server.commit)
        let snapshot = folder + "/snapshots/" + server.commit
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: snapshot + "/model.safetensors")
        #expect(link.hasPrefix("../../blobs/") && link.count == "../../blobs/".count + 64, "an LFS blob is named by its SHA-256: \(link)")
        for file in ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"] {
            #expect(bytes(snapshot + "/" + file) == bytes(fixture + "/" + file), "\(file)")
        }
        // huggingface_hub, offline, finds the same snapshot and every file
        let check = try python(
            """
            import os, sys
            from huggingface_hub import snapshot_download, hf_hub_download
            p = snapshot_download("\(repo)", local_files_only=True)
            print(p)
            for f in ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]:
                assert os.path.realpath(hf_hub_download("\(repo)", f, local_files_only=True)) == os.path.realpath(os.path.join(p, f)), f
            """, env.merging(["HF_HUB_OFFLINE": "1"]) { $1 })
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == snapshot)
        // a second run needs no network: the server is gone and HF_HUB_OFFLINE is not set
        let requestsBefore = server.requests().count
        let again = try generate(repo, env.merging(["HF_ENDPOINT": "http://127.0.0.1:9"]) { $1 })
        #expect(again.status == 0, "\(again.stderr)")
        #expect(server.requests().count == requestsBefore)
        // a commit id as the revision, offline
        let pinned = try generate("\(repo)@\(server.commit)", env.merging(["HF_HUB_OFFLINE": "1"]) { $1 })
        #expect(pinned.status == 0 && completion(pinned) == completion(r), "\(pinned.stderr)")
    }

    @Test("a cache huggingface_hub filled from the Hub is used by Scalpel offline")
    func huggingFaceHubThenScalpel() throws {
        let server = try HubServer(folder: fixture, repo: repo)
        let cache = TestSupport.temporaryFolder() + "/hub"
        let env = ["HF_ENDPOINT": server.endpoint, "HF_HUB_CACHE": cache]
        let fill = try python("from huggingface_hub import snapshot_download; print(snapshot_download('\(repo)'))", env)
        #expect(fill.status == 0, "\(fill.stderr)")
        let requests = server.requests().count
        let r = try generate(repo, env.merging(["HF_HUB_OFFLINE": "1"]) { $1 })
        #expect(r.status == 0, "\(r.stderr)")
        #expect(completion(r) == (try expectedCompletion()))
        #expect(server.requests().count == requests, "no request while offline")
    }

    @Test("an interrupted fetch leaves a .incomplete part that the next run resumes with a Range request")
    func resume() throws {
        let server = try HubServer(folder: fixture, repo: repo, cutAfter: 100_000)
        let cache = TestSupport.temporaryFolder() + "/hub"
        let env = ["HF_ENDPOINT": server.endpoint, "HF_HUB_CACHE": cache]
        let first = try generate(repo, env)
        #expect(first.status == 1 && !first.crashed, "\(first.stderr)")
        #expect(first.stderr.contains("interrupted") && first.stderr.contains("run the command again"), "\(first.stderr)")
        #expect(first.stderr.split(separator: "\n").count == 1, "one error line: \(first.stderr)")
        let blobs = cache + "/models--test-org--tiny-llama/blobs"
        let partial = try FileManager.default.contentsOfDirectory(atPath: blobs).filter { $0.hasSuffix(".incomplete") }
        #expect(partial.count == 1)
        let part = (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + (partial.first ?? ""))[.size] as? Int) ?? 0
        #expect(part == 100_000)
        let second = try generate(repo, env)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(completion(second) == (try expectedCompletion()))
        let ranges = server.requests().compactMap { $0["range"] as? String }
        #expect(ranges == ["bytes=100000-"])
        let snapshot = cache + "/models--test-org--tiny-llama/snapshots/" + server.commit
        #expect(bytes(snapshot + "/model.safetensors") == bytes(fixture + "/model.safetensors"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).allSatisfy { !$0.hasSuffix(".incomplete") })
    }

    @Test("two processes fetching into one cache at once both succeed, with whole files (one writer per blob)")
    func concurrentFetches() throws {
        let server = try HubServer(folder: fixture, repo: repo)
        let cache = TestSupport.temporaryFolder() + "/hub"
        let env = ProcessInfo.processInfo.environment.merging(["HF_ENDPOINT": server.endpoint, "HF_HUB_CACHE": cache]) { $1 }
        let processes = try (0..<3).map { _ -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["generate", "--model", repo, "--prompt", "def f(x):", "--max-new-tokens", "6"]
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let snapshot = cache + "/models--test-org--tiny-llama/snapshots/" + server.commit
        #expect(bytes(snapshot + "/model.safetensors") == bytes(fixture + "/model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: cache + "/.locks/models--test-org--tiny-llama"))
    }

    @Test("gated (401/403), missing (404) and offline-and-not-cached are one line each; HF_TOKEN is sent as a bearer token")
    func failures() throws {
        let server = try HubServer(folder: fixture, repo: repo, token: "hf_secret")
        let cache = TestSupport.temporaryFolder() + "/hub"
        let env = ["HF_ENDPOINT": server.endpoint, "HF_HUB_CACHE": cache, "HF_HOME": cache + "/home"]
        func oneLine(_ r: TestSupport.Output, _ parts: [String]) {
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && !r.crashed && lines.count == 1, "\(r.stderr)")
            for p in parts { #expect(r.stderr.contains(p), "\(p) in \(r.stderr)") }
        }
        oneLine(try generate(repo, env), ["test-org/tiny-llama", "401", "HF_TOKEN"])
        oneLine(try generate(repo, env.merging(["HF_TOKEN": "hf_wrong"]) { $1 }), ["403"])
        oneLine(try generate("test-org/nothing-here", env.merging(["HF_TOKEN": "hf_secret"]) { $1 }), ["404", "test-org/nothing-here"])
        oneLine(try generate("\(repo)@no-such-branch", env.merging(["HF_TOKEN": "hf_secret"]) { $1 }), ["404"])
        oneLine(try generate(repo, env.merging(["HF_HUB_OFFLINE": "1"]) { $1 }), ["HF_HUB_OFFLINE", cache])
        oneLine(try generate(repo, env.merging(["HF_ENDPOINT": "http://127.0.0.1:9"]) { $1 }), ["cannot reach"])
        // the token file `huggingface-cli login` writes is read as well
        try FileManager.default.createDirectory(atPath: cache + "/home", withIntermediateDirectories: true)
        try Data("hf_secret\n".utf8).write(to: URL(fileURLWithPath: cache + "/home/token"))
        let ok = try generate(repo, env)
        #expect(ok.status == 0, "\(ok.stderr)")
        let auth = Set(server.requests().compactMap { $0["authorization"] as? String })
        #expect(auth.contains("Bearer hf_secret"))
        // the token is never sent to the CDN (another host)
        #expect(
            server.requests().filter { ($0["path"] as? String)?.hasPrefix("/cdn/") == true }.allSatisfy { $0["authorization"] is NSNull })
        // a path that is not there and is no Hub id stays a missing file
        let missing = try generate("no/such/folder", [:])
        #expect(missing.status == 1 && missing.stderr.contains("no/such/folder: no such file"), "\(missing.stderr)")
    }
}
