import CKernels
import CMatmul
import COpenBLAS
import Foundation

/// Scalpel's one matmul entry point, row-major: OpenBLAS sgemm for Float32 weights, the BF16
/// engine (`CMatmul`: oneDNN, or sgemm on converted operands where the CPU lacks BF16) for BF16 ones.
public enum BLAS {
    /// What multiplies BF16 matrices on this machine: "onednn" (the CPU has AVX512-BF16 or
    /// AMX-BF16) or "fallback" (BF16 operands widened to Float32, then sgemm).
    public static var bf16Engine: String { sc_bf16_engine() == 1 ? "onednn" : "fallback" }

    /// How many parts a large matmul is cut into (a constant, so results never depend on the
    /// thread count); each free worker takes the next part, so up to this many threads share one matmul.
    public static let gemmParts = 8

    /// c: [m, n] = a · op(b) (+ bias: [n], added to every row)
    /// a: [m, k] (row stride lda); b: [n, k] if `transposeB` (a PyTorch `Linear` weight), else [k, n].
    /// The bias is written into c first and the product accumulated onto it, so it costs no pass
    /// of its own (OpenBLAS would otherwise clear c before the product). k may be 0: c = bias or 0.
    @inline(__always)
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil
    ) {
        if m == 0 || n == 0 { return }
        // Split the larger of rows and columns into parts that the workers share: each worker
        // then packs only its own part of the larger operand. OpenBLAS's rounding depends on the
        // shape of each call, so the parts depend on the shape alone — never on the thread
        // count — and every thread count computes every element identically.
        let splitColumns = n > m
        let total = splitColumns ? n : m
        // a decoding step's matrix-vector products are bound by reading the weight: split them from
        // smaller sizes, so that every core streams its part
        let minimum = m == 1 ? 1 << 16 : 1 << 21
        let parts = Parallel.isInside || m * n * k < minimum ? 1 : min(gemmParts, total / 64)
        if parts > 1 {
            let cp = SendablePointer(c)
            let ap = SendablePointer(UnsafeMutablePointer(mutating: a))
            let bp = SendablePointer(UnsafeMutablePointer(mutating: b))
            let biasp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
            let size = ((total + parts - 1) / parts + 15) / 16 * 16
            Parallel.forEach(parts) { p, _ in
                let start = p * size, count = min(size, total - start)
                guard count > 0 else { return }
                if splitColumns {
                    let bStart = transposeB ? bp.pointer + start * ldb : bp.pointer + start
                    gemm(
                        m: m, n: count, k: k, a: ap.pointer, lda: lda, b: bStart, ldb: ldb, transposeB: transposeB,
                        c: cp.pointer + start, ldc: ldc, bias: biasp.map { $0.pointer + start })
                } else {
                    gemm(
                        m: count, n: n, k: k, a: ap.pointer + start * lda, lda: lda, b: b, ldb: ldb, transposeB: transposeB,
                        c: cp.pointer + start * ldc, ldc: ldc, bias: biasp?.pointer)
                }
            }
            return
        }
        if let bias {
            for r in 0..<m { (c + r * ldc).update(from: bias, count: n) }
        } else if k == 0 {
            for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) }
        }
        if k == 0 { return }
        if m == 1 && transposeB {
            // one row (a decoding step): c: [n] = b: [n, k] · a: [k] as a matrix-vector product; sgemm
            // would pack all of b for one column (Debian's OpenBLAS does not forward this case to gemv)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(n), blasint(k), 1, b, blasint(ldb), a, 1, bias == nil ? 0 : 1, c, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb),
            bias == nil ? 0 : 1, c, blasint(ldc))
    }

    /// c: [m, n] = a · wᵀ (+ bias: [n]), where w: [n, k] is the weight tensor `weight` from
    /// element `offset` on, with row stride ldb (a PyTorch `Linear` weight, or rows/columns of one).
    /// Float32 weights go through sgemm above; BF16 weights take `a` rounded to BF16 (nearest
    /// even), multiply in BF16 and accumulate and write Float32. The parts are cut as for sgemm,
    /// by shape alone, and each runs on one thread, so results never depend on the thread count.
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        weight: Tensor, offset: Int = 0, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil
    ) {
        guard weight.dtype == .bf16 else {
            gemm(m: m, n: n, k: k, a: a, lda: lda, b: weight.pointer + offset, ldb: ldb, transposeB: true, c: c, ldc: ldc, bias: bias)
            return
        }
        if m == 0 || n == 0 { return }
        // a: [m, k] Float32 (lda) → a16: [m, k] BF16, rows in blocks across workers
        let a16 = UnsafeMutablePointer<UInt16>.allocate(capacity: max(m * k, 1))
        defer { a16.deallocate() }
        let source = SendablePointer(UnsafeMutablePointer(mutating: a))
        let converted = SendablePointer(a16)
        let rowBlock = max(1, (1 << 16) / max(k, 1))
        Parallel.forEach((m + rowBlock - 1) / rowBlock) { block, _ in
            for r in (block * rowBlock)..<min(m, (block + 1) * rowBlock) {
                sc_f32_to_bf16(source.pointer + r * lda, converted.pointer + r * k, k)
            }
        }
        let splitColumns = n > m
        let total = splitColumns ? n : m
        let minimum = m == 1 ? 1 << 16 : 1 << 21  // as for sgemm: decoding steps split from smaller sizes
        let parts = Parallel.isInside || m * n * k < minimum ? 1 : max(1, min(gemmParts, total / 64))
        let size = ((total + parts - 1) / parts + 15) / 16 * 16
        let b = SendablePointer(weight.bf16 + offset)
        let cp = SendablePointer(c)
        let biasp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        Parallel.forEach(parts) { p, _ in
            let start = p * size, count = min(size, total - start)
            guard count > 0 else { return }
            let status =
                splitColumns
                ? sc_bf16_gemm(
                    Int64(m), Int64(count), Int64(k), converted.pointer, Int64(k), b.pointer + start * ldb, Int64(ldb),
                    cp.pointer + start, Int64(ldc), biasp.map { UnsafePointer($0.pointer + start) })
                : sc_bf16_gemm(
                    Int64(count), Int64(n), Int64(k), converted.pointer + start * k, Int64(k), b.pointer, Int64(ldb),
                    cp.pointer + start * ldc, Int64(ldc), biasp.map { UnsafePointer($0.pointer) })
            precondition(status == 0, "BF16 matmul failed (status \(status)): out of memory")
        }
    }

    /// y: [rows, out] = x: [rows, in] · weight: [out, in]ᵀ (+ bias: [out]), Float32 or BF16 weight.
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, weight: Tensor, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>
    ) {
        let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
        gemm(
            m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, weight: weight, ldb: inFeatures,
            c: y, ldc: outFeatures, bias: bias)
    }
}
