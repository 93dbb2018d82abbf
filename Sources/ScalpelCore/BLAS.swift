import COpenBLAS
import CKernels

/// Scalpel's one matmul entry point (OpenBLAS sgemm, row-major).
public enum BLAS {
    /// How many parts a large matmul is cut into (a constant, so results never depend on the
    /// thread count); workers take the parts in turn, so up to this many threads share one matmul.
    public static let gemmParts = 8

    /// c: [m, n] = alpha · a · op(b) + beta · c
    /// a: [m, k] (row stride lda); b: [n, k] if `transposeB` (a PyTorch `Linear` weight), else [k, n].
    @inline(__always)
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
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
            let size = ((total + parts - 1) / parts + 15) / 16 * 16
            Parallel.forEach(parts) { p, _ in
                let start = p * size, count = min(size, total - start)
                guard count > 0 else { return }
                if splitColumns {
                    let bStart = transposeB ? bp.pointer + start * ldb : bp.pointer + start
                    gemm(m: m, n: count, k: k, a: ap.pointer, lda: lda, b: bStart, ldb: ldb, transposeB: transposeB,
                         c: cp.pointer + start, ldc: ldc, alpha: alpha, beta: beta)
                } else {
                    gemm(m: count, n: n, k: k, a: ap.pointer + start * lda, lda: lda, b: b, ldb: ldb, transposeB: transposeB,
                         c: cp.pointer + start * ldc, ldc: ldc, alpha: alpha, beta: beta)
                }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// y: [rows, out] = x: [rows, in] · weight: [out, in]ᵀ (+ bias: [out]).
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        gemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
             b: weight, ldb: inFeatures, transposeB: true, c: y, ldc: outFeatures)
        if let bias { sc_add_bias(y, bias, rows, outFeatures) }
    }
}
