import ArgumentParser
import Foundation
import ScalpelCore

/// Measures the matmul rate Scalpel's BLAS path reaches here: the hardware limit benchmarks compare against.
struct Sgemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm",
        abstract: "Measure matmul GFLOP/s through Scalpel's BLAS path, Float32 or BF16 weights (for benchmarks).")

    @Option(parsing: .unconditional, help: "Rows of the left matrix (tokens).")
    var m: Int = 4096
    @Option(parsing: .unconditional, help: "Columns of the output (out features).")
    var n: Int = 3072
    @Option(parsing: .unconditional, help: "Inner dimension (in features).")
    var k: Int = 768
    @Option(parsing: .unconditional, help: "Repetitions (the best is reported).")
    var repeats: Int = 5
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        let a = Tensor(zeros: [m, k]), b32 = Tensor(zeros: [n, k]), c = Tensor(zeros: [m, n])
        for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
        for i in 0..<b32.count { b32[i] = Float(i % 5) * 0.01 }
        let b = b32.converted(to: precision.dtype)
        var best = Double.infinity
        for r in 0...max(repeats, 1) {  // run 0 creates the BF16 engine's primitives: not timed
            let t = Date()
            BLAS.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, weight: b, ldb: k, c: c.pointer, ldc: n)
            if r > 0 { best = min(best, Date().timeIntervalSince(t)) }
        }
        let gflops = 2.0 * Double(m) * Double(n) * Double(k) / best / 1e9
        print(
            "{\"m\": \(m), \"n\": \(n), \"k\": \(k), \"dtype\": \"\(precision.dtype.rawValue)\", \"threads\": \(Parallel.threads), "
                + String(format: "\"seconds\": %.5f, \"gflops\": %.2f}", best, gflops))
    }
}
