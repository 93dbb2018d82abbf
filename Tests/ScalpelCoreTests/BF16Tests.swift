import CMatmul
import Foundation
import Testing
import TestSupport

@testable import ScalpelCore

@Suite("BF16 numbers and matmuls")
struct BF16Tests {
    @Test("Float32 → BF16 rounds as PyTorch does: ties to even, subnormals, ±inf, NaN payloads, overflow")
    func roundingMatchesPyTorch() throws {
        let f = try SafetensorsFile(path: TestSupport.fixture("bf16/rounding.safetensors"))
        let bits = try f.intValues("f32_bits").map { UInt32(truncatingIfNeeded: $0) }
        let expected = try f.intValues("bf16_bits").map { UInt16(truncatingIfNeeded: $0) }
        #expect(bits.count > 4000)
        let x = bits.map { Float(bitPattern: $0) }
        var y = [UInt16](repeating: 0, count: x.count)
        sc_f32_to_bf16(x, &y, x.count)
        let wrong = (0..<x.count).filter { y[$0] != expected[$0] }
        #expect(
            wrong.isEmpty,
            "\(wrong.count) differ, e.g. \(wrong.prefix(5).map { String(format: "%08x → %04x (PyTorch %04x)", bits[$0], y[$0], expected[$0]) })"
        )
        // a tensor converted through Tensor.converted(to:) takes the same path
        let t = Tensor(shape: [x.count], values: x).converted(to: .bf16)
        #expect((0..<x.count).allSatisfy { t.bf16[$0] == expected[$0] })
    }

    /// c = a · bᵀ (+ bias) in Double from the same BF16 values.
    func reference(_ m: Int, _ n: Int, _ k: Int, _ a: [UInt16], _ b: [UInt16], _ bias: [Float]?) -> [Double] {
        func f(_ v: UInt16) -> Double { Double(Float(bitPattern: UInt32(v) << 16)) }
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(bias?[j] ?? 0)
                for p in 0..<k { s += f(a[i * k + p]) * f(b[j * k + p]) }
                c[i * n + j] = s
            }
        }
        return c
    }

    @Test(
        "BF16 matmul equals a Double reference on odd shapes, on oneDNN and on the Float32 fallback",
        arguments: [(1, 1, 1), (3, 5, 1), (7, 13, 17), (33, 65, 129), (64, 48, 31), (130, 7, 300), (0, 5, 3), (4, 0, 3), (5, 6, 0)])
    func gemmMatchesReference(shape: (Int, Int, Int)) throws {
        let (m, n, k) = shape
        var g = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -2...2, using: &g) } }
        var a = [UInt16](repeating: 0, count: max(m * k, 1)), b = [UInt16](repeating: 0, count: max(n * k, 1))
        sc_f32_to_bf16(random(m * k), &a, m * k)
        sc_f32_to_bf16(random(n * k), &b, n * k)
        let bias = random(n)
        for engine in [Int32(0), 1] {
            for withBias in [false, true] {
                // c has a wider row stride than n, and sentinels there that must survive
                let ldc = n + 3
                var c = [Float](repeating: 7, count: max(m * ldc, 1))
                let status = bias.withUnsafeBufferPointer { bp in
                    sc_bf16_gemm_on(
                        engine, Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(k), &c, Int64(ldc), withBias ? bp.baseAddress : nil)
                }
                // oneDNN has no BF16 matmul on AVX2-only CPUs (it refuses; Scalpel then takes the fallback)
                if engine == 1 && status != 0 && sc_bf16_cpu_features() == 0 { continue }
                #expect(status == 0, "engine \(engine)")
                let expected = reference(m, n, k, a, b, withBias ? bias : nil)
                for i in 0..<m {
                    for j in 0..<n {
                        let e = expected[i * n + j]
                        #expect(
                            abs(Double(c[i * ldc + j]) - e) <= 1e-5 * (1 + abs(e)) * Double(max(k, 1)).squareRoot(),
                            "engine \(engine) [\(i),\(j)]")
                    }
                    for j in n..<ldc { #expect(c[i * ldc + j] == 7) }
                }
            }
        }
    }

    @Test("BLAS.gemm with a BF16 weight gives the same bytes for every thread count")
    func gemmThreadInvariant() throws {
        let m = 300, n = 520, k = 96
        let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 997 - 0.5 })
        let w = Tensor(shape: [n, k], values: (0..<(n * k)).map { Float(($0 * 104729) % 1000) / 991 - 0.5 }).converted(to: .bf16)
        func run(_ threads: Int) -> [Float] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let c = Tensor(zeros: [m, n])
            BLAS.linear(a.pointer, rows: m, weight: w, bias: nil, into: c.pointer)
            return c.values
        }
        let one = run(1)
        for threads in [1, 2, 3] {
            let other = run(threads)
            let differing = zip(other, one).filter { $0 != $1 }.count
            #expect(differing == 0, "\(threads) threads: \(differing) of \(one.count) values differ from 1 thread")
        }
        // and within float summation order of a Double product of the rounded operands
        let a16 = a.converted(to: .bf16)
        let expected = reference(
            m, n, k, Array(UnsafeBufferPointer(start: a16.bf16, count: m * k)), Array(UnsafeBufferPointer(start: w.bf16, count: n * k)), nil
        )
        #expect(zip(one, expected).allSatisfy { abs(Double($0) - $1) <= 1e-4 * (1 + abs($1)) })
    }
}
