import COpenBLAS
import CKernels

/// Scalpel's one matmul entry point (OpenBLAS sgemm, row-major).
public enum BLAS {
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
