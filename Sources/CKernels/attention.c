/* Scaled dot-product attention of one (sequence, head), fused: scores, softmax and the product
 * with V are computed six query rows at a time (twelve where the CPU has AVX-512), so the scores never leave the L1 cache and a
 * causal head computes (almost) only the unmasked triangle. */
#include "CKernels.h"
#include "simd.h"

#define ROWS 6   /* query rows per tile: 6 × 2 accumulators + 3 operands fill the 16 ymm registers */
#define LANES 16 /* columns per tile (two ymm, or one zmm) */
#define ROWS512 12 /* query rows per tile with AVX-512: 12 accumulators + 2 operands of the 32 zmm registers */
#define MAX_ROWS ROWS512

/* c: [mr, width] (row stride ldc) = rowScale[r] · Σ_p a[r·lda + p] · b[p·16 + 0..<16]
 * a: [mr, kk] rows of stride lda; b: [kk, 16] packed contiguously; width ≤ 16 columns are stored.
 * Inlined with a constant mr, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void tile(const int mr, size_t kk, const float *a, size_t lda,
                                                       const float *b, float *c, size_t ldc,
                                                       const float *rowScale, size_t width) {
    __m256 c0[ROWS], c1[ROWS];
    for (int r = 0; r < mr; r++) { c0[r] = _mm256_setzero_ps(); c1[r] = _mm256_setzero_ps(); }
#pragma clang loop unroll_count(4)
    for (size_t p = 0; p < kk; p++) {
        __m256 b0 = _mm256_loadu_ps(b + LANES * p), b1 = _mm256_loadu_ps(b + LANES * p + 8);
        for (int r = 0; r < mr; r++) {
            __m256 x = _mm256_broadcast_ss(a + r * lda + p);
            c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);
        }
    }
    for (int r = 0; r < mr; r++) {
        __m256 s = _mm256_set1_ps(rowScale[r]);
        __m256 lo = _mm256_mul_ps(c0[r], s), hi = _mm256_mul_ps(c1[r], s);
        float *cr = c + r * ldc;
        if (width == LANES) {
            _mm256_storeu_ps(cr, lo);
            _mm256_storeu_ps(cr + 8, hi);
        } else {
            float t[LANES];
            _mm256_storeu_ps(t, lo);
            _mm256_storeu_ps(t + 8, hi);
            memcpy(cr, t, width * sizeof(float));
        }
    }
}

/* tile() for a run-time mr in 1...ROWS */
static void tile_rows(size_t mr, size_t kk, const float *a, size_t lda, const float *b, float *c, size_t ldc,
                      const float *rowScale, size_t width) {
    switch (mr) {
    case 6: tile(6, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 5: tile(5, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 4: tile(4, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 3: tile(3, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 2: tile(2, kk, a, lda, b, c, ldc, rowScale, width); break;
    default: tile(1, kk, a, lda, b, c, ldc, rowScale, width); break;
    }
}

/* tile() on AVX-512: one zmm per row, mr ≤ ROWS512. Each output lane accumulates the same products
 * in the same order with the same fused multiply-adds as tile(), so both give the same bits. */
static inline __attribute__((always_inline, target("avx512f"))) void tile512(const int mr, size_t kk, const float *a,
                                                                            size_t lda, const float *b, float *c,
                                                                            size_t ldc, const float *rowScale,
                                                                            size_t width) {
    __m512 acc[ROWS512];
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
#pragma clang loop unroll_count(4)
    for (size_t p = 0; p < kk; p++) {
        __m512 bv = _mm512_loadu_ps(b + LANES * p);
        for (int r = 0; r < mr; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + p]), bv, acc[r]);
    }
    __mmask16 keep = width >= LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1u);
    for (int r = 0; r < mr; r++)
        _mm512_mask_storeu_ps(c + r * ldc, keep, _mm512_mul_ps(acc[r], _mm512_set1_ps(rowScale[r])));
}

/* tile512() for a run-time mr in 1...ROWS512 */
static __attribute__((target("avx512f"))) void tile_rows512(size_t mr, size_t kk, const float *a, size_t lda,
                                                            const float *b, float *c, size_t ldc,
                                                            const float *rowScale, size_t width) {
    switch (mr) {
    case 12: tile512(12, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 11: tile512(11, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 10: tile512(10, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 9: tile512(9, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 8: tile512(8, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 7: tile512(7, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 6: tile512(6, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 5: tile512(5, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 4: tile512(4, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 3: tile512(3, kk, a, lda, b, c, ldc, rowScale, width); break;
    case 2: tile512(2, kk, a, lda, b, c, ldc, rowScale, width); break;
    default: tile512(1, kk, a, lda, b, c, ldc, rowScale, width); break;
    }
}

/* Whether this CPU runs tile512 (checked once; never at build time). */
static int use_avx512(void) {
    static int known = -1;
    if (known < 0) known = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return known;
}

/* Brings the first `count` floats of rows [r0, r1) (stride ld) towards the L1 cache: the rows of
 * q, k and v are 4·ld bytes apart, further than the hardware prefetchers look ahead. */
static inline void prefetch_rows(const float *x, size_t ld, size_t r0, size_t r1, size_t count) {
    for (size_t r = r0; r < r1; r++)
        for (size_t d = 0; d < count; d += 16) _mm_prefetch((const char *)(x + r * ld + d), _MM_HINT_T0);
}

/* k: [T, dh] (row stride ld) → kp: [⌈T/16⌉, dh, 16], kp[t][d][e] = k[(16t + e)·ld + d], 0 past T.
 * Blocks of 8 keys × 8 dimensions are transposed in registers. */
static void pack_keys(const float *k, size_t ld, size_t T, size_t dh, float *kp) {
    size_t tiles = (T + LANES - 1) / LANES;
    memset(kp + (tiles - 1) * dh * LANES, 0, dh * LANES * sizeof(float));
    size_t j = 0;
    for (; j + 8 <= T; j += 8) {
        prefetch_rows(k, ld, j + 16, j + 24 < T ? j + 24 : T, dh);
        float *panel = kp + (j / LANES) * dh * LANES + j % LANES;
        size_t d = 0;
        for (; d + 8 <= dh; d += 8) {
            __m256 r0 = _mm256_loadu_ps(k + (j + 0) * ld + d), r1 = _mm256_loadu_ps(k + (j + 1) * ld + d);
            __m256 r2 = _mm256_loadu_ps(k + (j + 2) * ld + d), r3 = _mm256_loadu_ps(k + (j + 3) * ld + d);
            __m256 r4 = _mm256_loadu_ps(k + (j + 4) * ld + d), r5 = _mm256_loadu_ps(k + (j + 5) * ld + d);
            __m256 r6 = _mm256_loadu_ps(k + (j + 6) * ld + d), r7 = _mm256_loadu_ps(k + (j + 7) * ld + d);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            /* column c of the 8 × 8 block: dimension d + c of keys j...j+7 */
            _mm256_storeu_ps(panel + (d + 0) * LANES, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(panel + (d + 1) * LANES, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(panel + (d + 2) * LANES, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(panel + (d + 3) * LANES, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(panel + (d + 4) * LANES, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(panel + (d + 5) * LANES, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(panel + (d + 6) * LANES, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(panel + (d + 7) * LANES, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; d < dh; d++)
            for (size_t e = 0; e < 8; e++) panel[d * LANES + e] = k[(j + e) * ld + d];
    }
    for (; j < T; j++) {
        float *panel = kp + (j / LANES) * dh * LANES + j % LANES;
        for (size_t d = 0; d < dh; d++) panel[d * LANES] = k[j * ld + d];
    }
}

/* v: [T, dh] (row stride ld) → vp: [⌈dh/16⌉, T, 16], vp[c][j][e] = v[j·ld + 16c + e], 0 past dh. */
static void pack_values(const float *v, size_t ld, size_t T, size_t dh, float *vp) {
    size_t tiles = (dh + LANES - 1) / LANES;
    for (size_t j = 0; j < T; j++) {
        if (j % 8 == 0) prefetch_rows(v, ld, j + 16, j + 24 < T ? j + 24 : T, dh);
        for (size_t c = 0; c < tiles; c++) {
            size_t width = dh - c * LANES < LANES ? dh - c * LANES : LANES;
            float *row = vp + (c * T + j) * LANES;
            memcpy(row, v + j * ld + c * LANES, width * sizeof(float));
            for (size_t e = width; e < LANES; e++) row[e] = 0.0f;
        }
    }
}

size_t sc_attention_scratch(size_t T, size_t dh) {
    size_t keyTiles = (T + LANES - 1) / LANES, valueTiles = (dh + LANES - 1) / LANES;
    return keyTiles * dh * LANES + valueTiles * T * LANES + MAX_ROWS * keyTiles * LANES;
}

void sc_attention_head(const float *q, const float *k, const float *v, size_t ld, size_t T, size_t dh,
                       float scale, int causal, float *out, size_t ldo, float *scratch) {
    sc_attention_head_past(q, ld, T, k, v, ld, T, dh, scale, causal, out, ldo, scratch);
}

/* One query row against keys and values read in place (no packing: a decoding step reads each
 * cached key and value once). q: [dh]; k, v: [n, dh] rows of stride ldkv; out: [dh];
 * s: n floats of scratch. out = softmax(scale · q kᵀ) · v. */
static void attention_row(const float *q, const float *k, const float *v, size_t ldkv, size_t n, size_t dh,
                          float scale, float *out, float *s) {
    for (size_t j = 0; j < n; j++) {
        const float *kj = k + j * ldkv;
        __m256 acc = _mm256_setzero_ps();
        size_t d = 0;
        for (; d + 8 <= dh; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
        float dot = hsum8(acc);
        for (; d < dh; d++) dot += q[d] * kj[d];
        s[j] = scale * dot;
    }
    float inv = (float)(1.0 / exp_sum(s, s, n, max_f(s, n)));
    size_t d = 0;
    for (; d + 8 <= dh; d += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++) acc = _mm256_fmadd_ps(_mm256_set1_ps(s[j]), _mm256_loadu_ps(v + j * ldkv + d), acc);
        _mm256_storeu_ps(out + d, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
    }
    for (; d < dh; d++) {
        float acc = 0;
        for (size_t j = 0; j < n; j++) acc += s[j] * v[j * ldkv + d];
        out[d] = acc * inv;
    }
}

void sc_attention_head_past(const float *q, size_t ldq, size_t T, const float *k, const float *v, size_t ldkv,
                            size_t P, size_t dh, float scale, int causal, float *out, size_t ldo, float *scratch) {
    /* the first query row is position past = P − T: with `causal` query row i sees keys 0...past + i */
    const size_t past = P - T;
    if (T == 1) { /* a decoding step: packing every key for one row would cost more than the row itself */
        attention_row(q, k, v, ldkv, P, dh, scale, out, scratch);
        return;
    }
    size_t keyTiles = (P + LANES - 1) / LANES, valueTiles = (dh + LANES - 1) / LANES;
    size_t ldS = keyTiles * LANES;
    /* kp: kᵀ in 16-key panels; vp: v in 16-column panels (see pack_keys, pack_values) */
    float *kp = scratch;
    float *vp = kp + keyTiles * dh * LANES;
    /* s: [rows, ldS], one tile of query rows' scores, then their exp(score − max) */
    float *s = vp + valueTiles * P * LANES;
    pack_keys(k, ldkv, P, dh, kp);
    pack_values(v, ldkv, P, dh, vp);
    const int wide = use_avx512();
    const size_t rows = wide ? ROWS512 : ROWS;
    void (*tiles)(size_t, size_t, const float *, size_t, const float *, float *, size_t, const float *, size_t) =
        wide ? tile_rows512 : tile_rows;
    float scales[MAX_ROWS];
    for (size_t r = 0; r < MAX_ROWS; r++) scales[r] = scale;
    for (size_t i = 0; i < T; i += rows) {
        size_t mr = T - i < rows ? T - i : rows;
        /* the keys any row of this tile sees: through its last row when causal, else all */
        size_t keys = causal ? past + i + mr : P;
        prefetch_rows(q, ldq, i + rows, i + 2 * rows < T ? i + 2 * rows : T, dh);
        /* s: [mr, keys (rounded up to 16)] = scale · q[i..<i+mr]: [mr, dh] · kᵀ: [dh, keys] */
        for (size_t t = 0; t < (keys + LANES - 1) / LANES; t++)
            tiles(mr, dh, q + i * ldq, ldq, kp + t * dh * LANES, s + t * LANES, ldS, scales, LANES);
        /* row r sees keys 0..<n: s ← exp(s − max) there, 0 after (up to keys); inv = 1 / Σ */
        float inv[MAX_ROWS];
        for (size_t r = 0; r < mr; r++) {
            float *row = s + r * ldS;
            size_t n = causal ? past + i + r + 1 : P;
            inv[r] = (float)(1.0 / exp_sum(row, row, n, max_f(row, n)));
            for (size_t j = n; j < keys; j++) row[j] = 0.0f;
        }
        /* out[i..<i+mr]: [mr, dh] = inv · s: [mr, keys] · v[0..<keys]: [keys, dh] */
        for (size_t c = 0; c < valueTiles; c++) {
            size_t width = dh - c * LANES < LANES ? dh - c * LANES : LANES;
            tiles(mr, keys, s, ldS, vp + c * P * LANES, out + i * ldo + c * LANES, ldo, inv, width);
        }
    }
}
