import Foundation
import COpenBLAS
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Per-thread flag: set while the thread runs the body of a `Parallel.forEach`.
private let insideKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// A raw pointer that may cross into `concurrentPerform` closures.
/// The caller guarantees that concurrent tasks touch disjoint elements.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// Scalpel's one threading layer: a parallel loop over `threads` workers.
///
/// OpenBLAS itself always runs single-threaded; large matmuls are split into parts that
/// depend on their shape only and spread across these workers (see `BLAS.gemm`). This keeps
/// idle OpenBLAS threads from spinning while Scalpel's own loops run, and makes results
/// independent of the thread count.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = {
        openblas_set_num_threads(1)
        return ProcessInfo.processInfo.activeProcessorCount
    }()
    /// Whether this thread runs inside a `forEach` body (per thread, so that loops started by
    /// independent threads, e.g. two forward passes at once, each still use every worker).
    private static var active: Bool {
        get { pthread_getspecific(insideKey) != nil }
        set { pthread_setspecific(insideKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    /// Worker threads for `forEach` (and so for BLAS). Defaults to all cores.
    public static var threads: Int {
        get { _threads }
        set {
            _threads = max(1, newValue)
            openblas_set_num_threads(1)
        }
    }

    /// Whether a `forEach` is running (nested loops run serially inside their worker).
    public static var isInside: Bool { active }

    /// The number of workers `forEach(count)` will use.
    public static func workers(for count: Int) -> Int { active ? 1 : max(1, min(threads, count)) }

    /// Runs `body(i, worker)` for i in 0..<count on `workers(for: count)` threads; `worker`
    /// (0..<threads) names the thread running the body, for per-thread scratch. Each worker takes
    /// the next index not yet taken, so a core slowed by other load does less of the work; what a
    /// body computes must not depend on which worker runs it.
    public static func forEach(_ count: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        if count == 0 { return }
        let workers = workers(for: count)
        // inside the loop's body, nested loops and BLAS run serially — also when the loop itself
        // runs on one worker, so that what a body computes never depends on the thread count
        if workers == 1 {
            inside { for i in 0..<count { body(i, 0) } }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                inside {
                    while true {
                        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if i >= count { break }
                        body(i, w)
                    }
                }
            }
        }
    }

    /// Runs `body` on this thread with the nesting flag set, restoring it after.
    private static func inside(_ body: () -> Void) {
        let outer = active
        active = true
        defer { active = outer }
        body()
    }
}
