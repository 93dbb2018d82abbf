import Foundation
import ScalpelCore

/// A model on the Hugging Face Hub: `ORG/NAME`, optionally `@REVISION` (a branch, a tag or a
/// 40-hex commit; default `main`).
public struct HubID: Sendable, Equatable, CustomStringConvertible {
    public let repo: String
    public let revision: String

    /// Parses `ORG/NAME[@REVISION]`; nil when `argument` is not of that form.
    public init?(_ argument: String) {
        let parts = argument.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let repo = String(parts[0])
        let names = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard names.count == 2, names.allSatisfy(Self.isName) else { return nil }
        var revision = "main"
        if parts.count == 2 {
            revision = String(parts[1])
            // a branch or tag name as git allows it, without the parts that could leave refs/
            guard !revision.isEmpty, revision.count <= 255, !revision.contains(".."), !revision.hasPrefix("/"), !revision.hasSuffix("/"),
                revision.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && !"\\~^:?*[".unicodeScalars.contains($0) })
            else { return nil }
        }
        self.repo = repo
        self.revision = revision
    }

    static func isName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, s.count <= 96, s != "." && s != ".." else { return false }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return CharacterSet.alphanumerics.contains(first) && s.unicodeScalars.allSatisfy { $0.isASCII && allowed.contains($0) }
    }

    /// Whether the revision is a commit id (40 lowercase hex digits), which never moves.
    public var isCommit: Bool { Self.isCommit(revision) }
    static func isCommit(_ s: String) -> Bool {
        s.count == 40 && s.unicodeScalars.allSatisfy { "0123456789abcdef".unicodeScalars.contains($0) }
    }

    public var description: String { revision == "main" ? repo : "\(repo)@\(revision)" }
}

/// The cache `huggingface_hub` keeps, read and written the same way:
/// `ROOT/models--ORG--NAME/{blobs/ETAG, snapshots/COMMIT/FILE → ../../blobs/ETAG, refs/REVISION}`.
public struct HubCache: Sendable {
    /// `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
    /// else `~/.cache/huggingface/hub`, as `huggingface_hub` chooses it.
    public let root: String

    public init(root: String) { self.root = root }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        func expand(_ p: String) -> String { (p as NSString).expandingTildeInPath }
        if let c = environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"], !c.isEmpty {
            root = expand(c)
        } else {
            root = (HubCache.home(environment) as NSString).appendingPathComponent("hub")
        }
    }

    /// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    static func home(_ environment: [String: String]) -> String {
        if let h = environment["HF_HOME"], !h.isEmpty { return (h as NSString).expandingTildeInPath }
        let xdg = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "~/.cache"
        return ((xdg as NSString).expandingTildeInPath as NSString).appendingPathComponent("huggingface")
    }

    /// `models--ORG--NAME`.
    public func folder(_ repo: String) -> String {
        (root as NSString).appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"))
    }

    /// The commit `id.revision` names in the cache: itself when it is a commit, else `refs/REVISION`.
    public func commit(_ id: HubID) -> String? {
        if id.isCommit { return id.revision }
        let ref = (folder(id.repo) as NSString).appendingPathComponent("refs/" + id.revision)
        guard let text = try? String(contentsOfFile: ref, encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return HubID.isCommit(commit) ? commit : nil
    }

    public func snapshot(_ repo: String, commit: String) -> String {
        (folder(repo) as NSString).appendingPathComponent("snapshots/" + commit)
    }

    /// Files a snapshot lacks to be a checkpoint Scalpel loads: config.json and the safetensors
    /// weights (model.safetensors, or the index and every shard it lists). Empty when complete.
    public static func missingFiles(in snapshot: String) -> [String] {
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: (snapshot as NSString).appendingPathComponent(name)) }
        var missing: [String] = []
        if !has("config.json") { missing.append("config.json") }
        if has("model.safetensors.index.json") {
            let index = (snapshot as NSString).appendingPathComponent("model.safetensors.index.json")
            let map = ((try? InputFile.jsonObject(index, limit: 1 << 26))?["weight_map"] as? [String: String]) ?? [:]
            if map.isEmpty { missing.append("model.safetensors.index.json (unreadable)") }
            missing += Set(map.values).sorted().filter { !has($0) }
        } else if !has("model.safetensors") {
            missing.append("model.safetensors")
        }
        return missing
    }

    /// Writes `refs/REVISION` = commit (atomically), unless it already says so.
    func writeRef(_ id: HubID, commit: String) throws {
        guard !id.isCommit, self.commit(id) != commit else { return }
        let ref = (folder(id.repo) as NSString).appendingPathComponent("refs/" + id.revision)
        try FileManager.default.createDirectory(atPath: (ref as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writeAtomically(Data(commit.utf8), to: ref)
    }

    /// Links `snapshots/COMMIT/FILE` to `blobs/ETAG` with a relative symlink, as huggingface_hub does.
    func link(_ repo: String, commit: String, file: String, etag: String) throws {
        let fm = FileManager.default
        let path = (snapshot(repo, commit: commit) as NSString).appendingPathComponent(file)
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let depth = file.split(separator: "/").count - 1
        let target = String(repeating: "../", count: depth + 2) + "blobs/" + etag
        if (try? fm.destinationOfSymbolicLink(atPath: path)) == target { return }
        // made beside and renamed over: another process linking the same file at the same time is harmless
        let temporary = path + ".\(getpid()).link"
        try? fm.removeItem(atPath: temporary)
        try fm.createSymbolicLink(atPath: temporary, withDestinationPath: target)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(atPath: temporary)
            throw ScalpelError.invalidFile(path: path, reason: "cannot be linked to \(target) (\(reason))")
        }
    }

    /// Holds `.locks/models--ORG--NAME/ETAG.lock` exclusively (flock, as huggingface_hub's
    /// filelock does), waiting for another process that holds it; close the descriptor to release.
    func lockBlob(_ repo: String, etag: String) throws -> Int32 {
        let folder = (root as NSString).appendingPathComponent(".locks/" + (self.folder(repo) as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/" + etag + ".lock"
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw ScalpelError.invalidFile(path: path, reason: "cannot be created (\(String(cString: strerror(errno))))") }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw ScalpelError.invalidFile(path: path, reason: "cannot be locked (\(reason))")
            }
        }
        return fd
    }

    func blob(_ repo: String, etag: String) -> String {
        (folder(repo) as NSString).appendingPathComponent("blobs/" + etag)
    }
}
