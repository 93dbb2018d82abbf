#ifndef SCALPEL_CMATMUL_H
#define SCALPEL_CMATMUL_H
#include <stddef.h>
#include <stdint.h>

/* BF16 numbers and matmuls (docs/performance.md, "BF16").
 * A BF16 value is the top 16 bits of a Float32: same exponent range, 8 bits of mantissa. */

/* x: [n] Float32 → y: [n] BF16, rounded to nearest, ties to even, as PyTorch rounds
 * (c10::round_to_nearest_even): subnormals kept, ±inf kept, every NaN → 0xFFFF (what PyTorch's tensor conversion writes). */
void sc_f32_to_bf16(const float *x, uint16_t *y, size_t n);
/* x: [n] BF16 → y: [n] Float32 (exact). */
void sc_bf16_to_f32(const uint16_t *x, float *y, size_t n);

/* Which engine runs BF16 matmuls: 1 = oneDNN (the CPU has AVX512-BF16 or AMX-BF16, found by
 * cpuid), 0 = each operand converted to Float32 and multiplied by OpenBLAS sgemm (same values,
 * Float32 accumulation). The environment variable SCALPEL_BF16_ENGINE=fallback|onednn overrides
 * the choice (benchmarks); oneDNN on a CPU without BF16 instructions runs where it implements
 * the matmul (emulated), else the fallback does. */
int sc_bf16_engine(void);
/* The CPU's BF16 instructions: bit 0 AVX512-BF16, bit 1 AMX-BF16. */
int sc_bf16_cpu_features(void);

/* c: [m, n] (row stride ldc) = a: [m, k] BF16 (lda) · b: [n, k] BF16 (ldb)ᵀ (+ bias: [n] Float32),
 * accumulated in Float32, on the calling thread only. k may be 0 (c = bias or 0). Returns 0, or
 * a oneDNN status when the library refused (then c is untouched). */
int sc_bf16_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                 float *c, int64_t ldc, const float *bias);
/* The same on one engine (0 fallback, 1 oneDNN), with no fallback: oneDNN's status when it
 * refuses (a CPU it has no BF16 matmul for). For tests. */
int sc_bf16_gemm_on(int engine, int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b,
                    int64_t ldb, float *c, int64_t ldc, const float *bias);

#endif
