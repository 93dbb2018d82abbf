import Foundation
import COpenBLAS

/// A raw pointer that may cross into `concurrentPerform` closures.
/// The caller guarantees that concurrent tasks touch disjoint elements.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// Scalpel's one threading layer besides BLAS: the thread count both use, and a parallel loop.
///
/// OpenBLAS threads run the large matmuls; `Parallel.forEach` runs per-head and per-row work
/// with OpenBLAS set to one thread for its duration, so the two never oversubscribe the cores.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Threads used by BLAS and by `forEach`. Defaults to all cores.
    public static var threads: Int {
        get { _threads }
        set {
            _threads = max(1, newValue)
            openblas_set_num_threads(Int32(_threads))
        }
    }

    /// The number of workers `forEach(count)` will use.
    public static func workers(for count: Int) -> Int { max(1, min(threads, count)) }

    /// Runs `body(i, worker)` for i in 0..<count on `workers(for: count)` threads; `worker` indexes
    /// per-thread scratch. BLAS calls inside run single-threaded.
    public static func forEach(_ count: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        if count == 0 { return }
        let workers = workers(for: count)
        if workers == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(threads)) }
        // Static chunks: worker w handles i = w, w + workers, ...
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < count {
                    body(i, w)
                    i += workers
                }
            }
        }
    }
}
