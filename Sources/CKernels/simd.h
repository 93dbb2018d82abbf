/* Vector helpers shared by the kernel files (private to CKernels): exp, horizontal sum,
 * row max and exp-sum, all AVX2/FMA. */
#ifndef SCALPEL_SIMD_H
#define SCALPEL_SIMD_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

/* exp(x) for float, branch-free so loops using it vectorise: x = n·ln2 + r, |r| ≤ ln2/2,
 * exp(r) by a degree-6 polynomial (Cephes coefficients), 2^n by exponent bits.
 * Relative error about 2e-7; inputs below -87.3 give 0, above 88.7 are clamped. */
static inline float fast_expf(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return x <= -87.3f ? 0.0f : p * scale;
}

/* fast_expf on 8 lanes (the same arithmetic). */
static inline __m256 fast_exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), _mm256_min_ps(_mm256_set1_ps(88.7f), x));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_and_ps(e, _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GT_OQ));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* max of x: [n], n >= 1 */
static inline float max_f(const float *x, size_t n) {
    size_t j = 0;
    float m = x[0];
    if (n >= 8) {
        __m256 vm = _mm256_loadu_ps(x);
        for (j = 8; j + 8 <= n; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + j));
        float lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* y[j] = exp(x[j] - m) for x: [n]; returns the sum (in double across blocks). y may be NULL or alias x. */
static inline double exp_sum(const float *x, float *y, size_t n, float m) {
    __m256 vm = _mm256_set1_ps(m);
    double total = 0;
    size_t j = 0;
    while (j + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        size_t stop = j + 512 < n ? j + 512 : n;
        for (; j + 8 <= stop; j += 8) {
            __m256 e = fast_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
            if (y) _mm256_storeu_ps(y + j, e);
            acc = _mm256_add_ps(acc, e);
        }
        total += hsum8(acc);
    }
    for (; j < n; j++) { float e = fast_expf(x[j] - m); if (y) y[j] = e; total += e; }
    return total;
}

#endif
