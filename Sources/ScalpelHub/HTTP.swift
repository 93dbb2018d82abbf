import Foundation
import ScalpelCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Blocking HTTP requests over Foundation's URLSession, for the Hub client: the response head,
/// the body (collected, or streamed to a sink) and control over redirects.
final class HTTP: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Response {
        let status: Int
        /// Header fields by lower-cased name.
        let headers: [String: String]
        let body: Data
        let url: URL?
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    enum Redirects {
        /// Follow every redirect, dropping the Authorization header when the origin changes.
        case follow
        /// Follow only relative redirects (a renamed repository), as huggingface_hub's metadata
        /// requests do; stop at others (a CDN) and return them.
        case relativeOnly
    }

    private var session: URLSession!
    private let lock = NSLock()
    private var response: HTTPURLResponse?
    private var body = Data()
    private var failure: Error?
    private var sink: ((Data, Int) throws -> Void)?
    private var sinkError: Error?
    private var redirects = Redirects.follow
    private let done = DispatchSemaphore(value: 0)

    init(timeout: TimeInterval) {
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    deinit { session?.invalidateAndCancel() }

    /// A URL's origin (scheme, host, port): a token is only ever sent to the origin it is for.
    static func origin(_ u: URL?) -> String? { u.map { "\($0.scheme ?? "")://\($0.host ?? ""):\($0.port ?? -1)" } }

    /// Sends `request` and waits for it to end. With a `sink`, a 200 or 206 body is passed to it
    /// as it arrives, with the status (and not kept); a sink that throws cancels the transfer.
    func send(_ request: URLRequest, redirects: Redirects = .follow, sink: ((Data, Int) throws -> Void)? = nil) throws -> Response {
        lock.lock()
        response = nil; body = Data(); failure = nil; sinkError = nil
        self.sink = sink; self.redirects = redirects
        lock.unlock()
        let task = session.dataTask(with: request)
        task.resume()
        done.wait()
        lock.lock()
        defer { lock.unlock() }
        if let sinkError { throw sinkError }
        if let failure { throw failure }
        guard let r = response else { throw URLError(.badServerResponse) }
        var headers: [String: String] = [:]
        for (k, v) in r.allHeaderFields { if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v } }
        return Response(status: r.statusCode, headers: headers, body: body, url: r.url)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        lock.lock()
        self.response = response as? HTTPURLResponse
        lock.unlock()
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        defer { lock.unlock() }
        let status = response?.statusCode ?? 0
        if let sink, status == 200 || status == 206 {
            guard sinkError == nil else { return }
            do { try sink(data, status) } catch {
                sinkError = error
                dataTask.cancel()
            }
        } else if body.count < 1 << 20 {
            body.append(data)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        failure = error
        lock.unlock()
        done.signal()
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        let from = Self.origin(task.originalRequest?.url), to = Self.origin(request.url)
        lock.lock()
        let mode = redirects
        lock.unlock()
        let location = response.value(forHTTPHeaderField: "Location") ?? ""
        if mode == .relativeOnly && !(location.hasPrefix("/") && !location.hasPrefix("//")) {
            completionHandler(nil)  // the redirect response itself is the result
            return
        }
        var next = request
        if from != to { next.setValue(nil, forHTTPHeaderField: "Authorization") }  // a token never leaves the Hub's origin
        completionHandler(next)
    }
}
