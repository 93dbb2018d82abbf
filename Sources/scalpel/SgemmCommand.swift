import ArgumentParser
import Foundation
import ScalpelCore

/// Measures the matmul rate Scalpel's BLAS path reaches here: the hardware limit benchmarks compare against.
struct Sgemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm",
        abstract: "Measure Float32 matmul GFLOP/s through Scalpel's BLAS path (for benchmarks).")

    @Option(parsing: .unconditional, help: "Rows of the left matrix (tokens).")
    var m: Int = 4096
    @Option(parsing: .unconditional, help: "Columns of the output (out features).")
    var n: Int = 3072
    @Option(parsing: .unconditional, help: "Inner dimension (in features).")
    var k: Int = 768
    @Option(parsing: .unconditional, help: "Repetitions (the best is reported).")
    var repeats: Int = 5
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        let a = Tensor(zeros: [m, k]), b = Tensor(zeros: [n, k]), c = Tensor(zeros: [m, n])
        for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
        for i in 0..<b.count { b[i] = Float(i % 5) * 0.01 }
        var best = Double.infinity
        for _ in 0..<repeats {
            let t = Date()
            BLAS.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: k, transposeB: true, c: c.pointer, ldc: n)
            best = min(best, Date().timeIntervalSince(t))
        }
        let gflops = 2.0 * Double(m) * Double(n) * Double(k) / best / 1e9
        print(
            String(
                format: "{\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, \"seconds\": %.5f, \"gflops\": %.2f}",
                m, n, k, Parallel.threads, best, gflops))
    }
}
