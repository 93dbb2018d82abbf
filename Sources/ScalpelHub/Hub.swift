import Foundation
import ScalpelCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Models named by Hugging Face Hub id: found in the cache `huggingface_hub` keeps, or fetched
/// into it over HTTPS the way `huggingface_hub` does, so that either tool uses what the other fetched.
///
/// Settings come from the same environment variables: `HF_HUB_CACHE`/`HF_HOME` (where the cache
/// is), `HF_ENDPOINT` (the Hub's address), `HF_TOKEN` or the token file `huggingface-cli login`
/// writes (gated and private repositories), `HF_HUB_OFFLINE=1` (never use the network).
public struct Hub {
    public let cache: HubCache
    public let endpoint: String
    public let token: String?
    public let offline: Bool
    /// Progress and notes, one line each.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        cache = HubCache(environment: environment)
        endpoint = (environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let tokenFile = environment["HF_TOKEN_PATH"] ?? (HubCache.home(environment) as NSString).appendingPathComponent("token")
        token =
            (environment["HF_TOKEN"] ?? environment["HUGGING_FACE_HUB_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
            ?? (try? String(contentsOfFile: tokenFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        offline = ["1", "on", "yes", "true"].contains((environment["HF_HUB_OFFLINE"] ?? "").lowercased())
    }

    /// The local path a `--model` argument names: the argument itself when that path exists,
    /// else, for `ORG/NAME[@REVISION]`, the cached snapshot folder (fetched first when files are missing).
    public static func resolve(_ argument: String, log: ((String) -> Void)? = nil) throws -> String {
        if FileManager.default.fileExists(atPath: argument) { return argument }
        guard let id = HubID(argument) else { throw ScalpelError.fileNotFound(path: argument) }
        var hub = Hub()
        if let log { hub.log = log }
        return try hub.snapshot(id)
    }

    /// The snapshot folder of `id` with a complete checkpoint: from the cache without any network
    /// request when it is there, else fetched (never when offline).
    public func snapshot(_ id: HubID) throws -> String {
        if let commit = cache.commit(id) {
            let folder = cache.snapshot(id.repo, commit: commit)
            if HubCache.missingFiles(in: folder).isEmpty { return folder }
        }
        guard !offline else {
            throw ScalpelError.hub(
                id: id.description,
                reason: "not in the Hugging Face cache at \(cache.root) (or incomplete), and HF_HUB_OFFLINE is set: "
                    + "fetch it once with the network, or point HF_HUB_CACHE at a cache that has it")
        }
        return try download(id)
    }

    // MARK: - fetching

    static let wanted: Set<String> = [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "preprocessor_config.json", "model.safetensors.index.json",
    ]

    /// The files Scalpel needs from a repository's file list: configs, tokenizer files and the
    /// safetensors weights of the top folder — never pickles (.bin, .pt, .pth, .ckpt).
    static func selectFiles(_ names: [String]) -> [String] {
        names.filter { !$0.contains("/") && (wanted.contains($0) || $0.hasSuffix(".safetensors")) }.sorted()
    }

    func request(_ url: URL, method: String = "GET") -> URLRequest {
        var r = URLRequest(url: url)
        r.httpMethod = method
        r.setValue("scalpel; hf_hub-compatible", forHTTPHeaderField: "User-Agent")
        r.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return r
    }

    /// One line for an HTTP status the Hub answered with.
    func failure(_ id: HubID, _ status: Int, _ what: String) -> ScalpelError {
        switch status {
        case 401, 403:
            return .hub(
                id: id.description,
                reason: "\(what): access denied (HTTP \(status)): the repository is gated or private"
                    + (token == nil
                        ? "; set HF_TOKEN to a token that may read it" : "; HF_TOKEN may not read it (accept its terms on the Hub?)"))
        case 404:
            return .hub(id: id.description, reason: "\(what): not found on \(endpoint) (HTTP 404): check the repository id and revision")
        default:
            return .hub(id: id.description, reason: "\(what): HTTP \(status) from \(endpoint)")
        }
    }

    func unreachable(_ id: HubID, _ error: Error) -> ScalpelError {
        .hub(
            id: id.description,
            reason: "cannot reach \(endpoint) (\(error.localizedDescription)), and the cache at \(cache.root) does not hold it")
    }

    func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    /// Fetches the files Scalpel reads into the cache, skipping those already there, and returns the snapshot.
    func download(_ id: HubID) throws -> String {
        let http = HTTP(timeout: 30)
        // the commit and the file list: GET /api/models/ORG/NAME/revision/REVISION
        guard let infoURL = URL(string: "\(endpoint)/api/models/\(id.repo)/revision/\(encode(id.revision))") else {
            throw ScalpelError.hub(id: id.description, reason: "HF_ENDPOINT \(endpoint) does not make a valid address")
        }
        let info: HTTP.Response
        do { info = try http.send(request(infoURL)) } catch { throw unreachable(id, error) }
        guard info.status == 200 else { throw failure(id, info.status, "the repository's file list") }
        guard let json = try? JSONSerialization.jsonObject(with: info.body) as? [String: Any], let commit = json["sha"] as? String,
            HubID.isCommit(commit), let siblings = json["siblings"] as? [[String: Any]]
        else {
            throw ScalpelError.hub(id: id.description, reason: "\(infoURL.absoluteString) did not answer with a commit and a file list")
        }
        let files = Self.selectFiles(siblings.compactMap { $0["rfilename"] as? String })
        guard files.contains(where: { $0.hasSuffix(".safetensors") }) else {
            throw ScalpelError.hub(
                id: id.description,
                reason: "the repository has no .safetensors weights in its top folder (Scalpel never loads pickled .bin/.pt weights)")
        }
        guard files.contains("config.json") else { throw ScalpelError.hub(id: id.description, reason: "the repository has no config.json") }
        let snapshot = cache.snapshot(id.repo, commit: commit)
        for file in files where !FileManager.default.fileExists(atPath: (snapshot as NSString).appendingPathComponent(file)) {
            try fetch(id, commit: commit, file: file, http: http)
        }
        try cache.writeRef(id, commit: commit)
        let missing = HubCache.missingFiles(in: snapshot)
        guard missing.isEmpty else {
            throw ScalpelError.hub(
                id: id.description, reason: "after fetching, the snapshot still lacks \(missing.joined(separator: ", "))")
        }
        return snapshot
    }

    /// One file: its ETag and size from a HEAD of `resolve/COMMIT/FILE` (a redirect that is not
    /// relative is not followed: its X-Linked-Etag is the LFS file's SHA-256), then the body into
    /// `blobs/ETAG.incomplete` (resumed with a Range request when a part is there), renamed to
    /// `blobs/ETAG` when complete, and linked from the snapshot.
    func fetch(_ id: HubID, commit: String, file: String, http: HTTP) throws {
        let path = file.split(separator: "/").map { encode(String($0)) }.joined(separator: "/")
        guard let url = URL(string: "\(endpoint)/\(id.repo)/resolve/\(commit)/\(path)") else {
            throw ScalpelError.hub(id: id.description, reason: "\(file): not a valid file name for an address")
        }
        let head: HTTP.Response
        do { head = try http.send(request(url, method: "HEAD"), redirects: .relativeOnly) } catch { throw unreachable(id, error) }
        guard (200..<400).contains(head.status) else { throw failure(id, head.status, file) }
        guard let rawTag = head.header("X-Linked-Etag") ?? head.header("ETag") else {
            throw ScalpelError.hub(id: id.description, reason: "\(file): the Hub sent no ETag")
        }
        let etag = Self.normalize(etag: rawTag)
        guard !etag.isEmpty, !etag.contains("/"), etag != ".", etag != ".." else {
            throw ScalpelError.hub(id: id.description, reason: "\(file): unusable ETag \(rawTag)")
        }
        let size = (head.header("X-Linked-Size") ?? (head.status < 300 ? head.header("Content-Length") : nil)).flatMap { Int($0) }
        let location = head.header("Location").flatMap { URL(string: $0, relativeTo: url)?.absoluteURL } ?? head.url ?? url
        let blob = cache.blob(id.repo, etag: etag)
        let fm = FileManager.default
        if !fm.fileExists(atPath: blob) {
            try fm.createDirectory(atPath: (blob as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // one writer per blob, across processes and with huggingface_hub (its .locks/ file, flock)
            let lock = try cache.lockBlob(id.repo, etag: etag)
            defer { close(lock) }
            if !fm.fileExists(atPath: blob) {
                try transfer(id, file: file, from: location, to: blob, size: size, http: http)
            }
        }
        try cache.link(id.repo, commit: commit, file: file, etag: etag)
    }

    /// `W/"abc"` → `abc`, as huggingface_hub names blobs.
    static func normalize(etag: String) -> String {
        var t = etag.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("W/") { t.removeFirst(2) }
        return t.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    func transfer(_ id: HubID, file: String, from url: URL, to blob: String, size: Int?, http: HTTP) throws {
        let partial = blob + ".incomplete"
        let fm = FileManager.default
        if !fm.fileExists(atPath: partial) { fm.createFile(atPath: partial, contents: nil) }
        guard let handle = FileHandle(forUpdatingAtPath: partial) else {
            throw ScalpelError.invalidFile(path: partial, reason: "cannot be opened for writing")
        }
        defer { try? handle.close() }
        var have = Int(try handle.seekToEnd())
        if let size, have > size {  // not a part of this file: start again
            try handle.truncate(atOffset: 0); have = 0
        }
        var req = request(url)
        req.timeoutInterval = 60
        if HTTP.origin(url) != HTTP.origin(URL(string: endpoint)) {
            req.setValue(nil, forHTTPHeaderField: "Authorization")  // the token goes to the Hub only, never to its CDN
        }
        if have > 0 { req.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
        let bar = ProgressBar(label: "fetching \(file)", total: size ?? 0, bytes: true)
        bar.advance(have)
        var received = have
        var started = false
        let response: HTTP.Response
        do {
            response = try http.send(req) { data, status in
                if !started {
                    started = true
                    if status == 200 && have > 0 {
                        // the server sent the whole file, not the rest: start the part again
                        try handle.truncate(atOffset: 0)
                        received = 0
                    }
                }
                try handle.write(contentsOf: data)
                received += data.count
                bar.advance(data.count)
            }
        } catch {
            bar.finish()
            throw ScalpelError.hub(
                id: id.description,
                reason: "fetching \(file) was interrupted after \(received) of \(size.map(String.init) ?? "?") bytes "
                    + "(\(error.localizedDescription)); run the command again to resume")
        }
        bar.finish()
        switch response.status {
        case 200, 206:
            break
        case 416 where size == have:
            break  // the part on disk is already the whole file
        default:
            throw failure(id, response.status, file)
        }
        let final = Int(try handle.seekToEnd())
        if let size, final != size {
            throw ScalpelError.hub(
                id: id.description,
                reason: "fetching \(file): received \(final) bytes, the Hub announced \(size); run the command again to resume")
        }
        try handle.synchronize()
        try fm.moveItem(atPath: partial, toPath: blob)
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
