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
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for t in 0..<k { s += a[i * k + t] * b[j * k + t] }
                #expect(c[i * n + j] == s)
            }
        }
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

    @Test(
        "fused attention equals softmax(scale · q kᵀ) · v computed naively in Double",
        arguments: [
            (1, 64, true), (7, 64, true), (37, 64, true), (37, 64, false), (50, 20, true), (13, 40, false), (130, 128, true), (18, 4, true),
            (33, 4, false), (9, 8, true),
        ])
    func attention(T: Int, dh: Int, causal: Bool) {
        // q, k, v interleaved in rows of stride ld (as in a fused qkv projection), out with its own stride
        let ld = 3 * dh + 5, ldo = dh + 3
        let qkv = (0..<(T * ld)).map { Float(sin(Double($0) * 0.37)) * 1.5 }
        var out = [Float](repeating: -7, count: T * ldo)
        var scratch = [Float](repeating: .nan, count: sc_attention_scratch(T, dh))
        let scale: Float = 0.125
        qkv.withUnsafeBufferPointer { p in
            sc_attention_head(
                p.baseAddress!, p.baseAddress! + dh, p.baseAddress! + 2 * dh, ld, T, dh, scale,
                causal ? 1 : 0, &out, ldo, &scratch)
        }
        var worst = 0.0
        for i in 0..<T {
            let keys = causal ? i + 1 : T
            var w = (0..<keys).map { j in
                (0..<dh).reduce(0.0) { $0 + Double(qkv[i * ld + $1]) * Double(qkv[j * ld + dh + $1]) } * Double(scale)
            }
            let m = w.max()!
            w = w.map { exp($0 - m) }
            let total = w.reduce(0, +)
            for d in 0..<dh {
                let expected = (0..<keys).reduce(0.0) { $0 + w[$1] / total * Double(qkv[$1 * ld + 2 * dh + d]) }
                worst = max(worst, abs(expected - Double(out[i * ldo + d])))
            }
            // the padding between rows is left alone
            for d in dh..<ldo { #expect(out[i * ldo + d] == -7) }
        }
        #expect(worst < 2e-6, "max difference \(worst)")
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
