import Foundation
import Testing
import CKernels
@testable import ScalpelCore

@Suite("Kernels and BLAS")
struct KernelTests {
    @Test("sgemm through OpenBLAS equals a naive product")
    func gemm() {
        let m = 7, n = 5, k = 9
        let a = (0..<(m * k)).map { Float(($0 * 37) % 11) - 5 }
        let b = (0..<(n * k)).map { Float(($0 * 13) % 7) - 3 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, transposeB: true, c: &c, ldc: n)
        for i in 0..<m { for j in 0..<n {
            var s: Float = 0
            for t in 0..<k { s += a[i * k + t] * b[j * k + t] }
            #expect(c[i * n + j] == s)
        } }
    }

    @Test("cross-entropy and rank of one row")
    func crossEntropy() {
        let logits: [Float] = [1, 3, 2, 3.5, -1]
        var rank = 0
        let loss = sc_cross_entropy_rank(logits, 5, 2, &rank)
        let lse = log(logits.map { exp(Double($0)) }.reduce(0, +))
        #expect(abs(loss - (lse - 2)) < 1e-6)
        #expect(rank == 2)
    }

    @Test("causal softmax rows sum to one and hide the future")
    func causalSoftmax() {
        var s: [Float] = [1, 9, 9, 2, 3, 9, 0, 0, 0]
        sc_causal_softmax(&s, 3, 3, 3, 0)
        #expect(s[0] == 1 && s[1] == 0 && s[2] == 0)
        #expect(abs(s[3] + s[4] - 1) < 1e-6 && s[5] == 0)
        #expect(abs(s[6] - 1.0 / 3) < 1e-6)
        // a block of queries starting at position 1: row 0 sees keys 0...1, row 1 sees 0...2
        var b: [Float] = [0, 0, 5, 0, 0, 0]
        sc_causal_softmax(&b, 2, 3, 3, 1)
        #expect(abs(b[0] - 0.5) < 1e-6 && abs(b[1] - 0.5) < 1e-6 && b[2] == 0)
        #expect(abs(b[3] + b[4] + b[5] - 1) < 1e-6)
    }

    @Test("Parallel.forEach visits every index once for any thread count")
    func parallel() {
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            var seen = [Int](repeating: 0, count: 100)
            let p = SendablePointer(UnsafeMutablePointer<Int>.allocate(capacity: 100))
            p.pointer.initialize(repeating: 0, count: 100)
            Parallel.forEach(100) { i, _ in p.pointer[i] += 1 }
            for i in 0..<100 { seen[i] = p.pointer[i] }
            p.pointer.deallocate()
            #expect(seen.allSatisfy { $0 == 1 })
        }
        Parallel.threads = ProcessInfo.processInfo.activeProcessorCount
    }
}
