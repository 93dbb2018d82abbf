import COpenBLAS
import CKernels

/// Scalpel's one matmul entry point (OpenBLAS sgemm, row-major).
public enum BLAS {
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
        let parts = Parallel.isInside || m * n * k < 1 << 21 ? 1 : min(gemmParts, total / 64)
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
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), 1, a, blasint(lda), b, blasint(ldb),
            bias == nil ? 0 : 1, c, blasint(ldc))
    }

    /// y: [rows, out] = x: [rows, in] · weight: [out, in]ᵀ (+ bias: [out]).
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        gemm(
            m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
            b: weight, ldb: inFeatures, transposeB: true, c: y, ldc: outFeatures, bias: bias)
    }
}
