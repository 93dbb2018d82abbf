#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>
#include "simd.h"

/* Σ x[i] and Σ (x[i] − m)² over [0, n) in double, 8 lanes at a time (a fixed order for each n). */
static inline double sum_f64(const float *x, size_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
    double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) s += x[i];
    return s;
}

static inline double sum_sq_dev_f64(const float *x, size_t n, float m) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    __m256 vm = _mm256_set1_ps(m);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        __m256d dl = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), dh = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(dl, dl));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(dh, dh));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(a0, a1));
    double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) { double d = x[i] - m; s += d * d; }
    return s;
}

void sc_layer_norm(const float *x, float *y, const float *gamma, const float *beta,
                   size_t rows, size_t dim, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        /* two passes in float, as PyTorch's CPU kernel does, with double accumulation for stability */
        float mean = (float)(sum_f64(xr, dim) / (double)dim);
        double var = sum_sq_dev_f64(xr, dim, mean);
        float rstd = (float)(1.0 / sqrt(var / (double)dim + (double)eps));
        if (gamma && beta) {
            for (size_t i = 0; i < dim; i++) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
        } else if (gamma) {
            for (size_t i = 0; i < dim; i++) yr[i] = (xr[i] - mean) * rstd * gamma[i];
        } else {
            for (size_t i = 0; i < dim; i++) yr[i] = (xr[i] - mean) * rstd;
        }
    }
}


void sc_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void sc_relu(float *x, size_t n) {
    /* NaN stays NaN, as in PyTorch: a NaN weight must reach the logits and be reported, not vanish here */
    for (size_t i = 0; i < n; i++) x[i] = (x[i] > 0.0f || x[i] != x[i]) ? x[i] : 0.0f;
}

void sc_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void sc_gelu_tanh(float *x, size_t n) {
    const float c = 0.79788456080286536f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void sc_silu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fast_expf(-x[i]));
}


double sc_cross_entropy_rank(const float *logits, size_t V, size_t target, size_t *rank) {
    float m = max_f(logits, V);
    /* exp in float (relative error ~2e-7), summed in float blocks then in double */
    double sum = exp_sum(logits, NULL, V, m);
    float t = logits[target];
    size_t greater = 0;
    size_t j = 0;
    __m256 vt = _mm256_set1_ps(t);
    __m256i count = _mm256_setzero_si256();
    for (; j + 8 <= V; j += 8)
        count = _mm256_sub_epi32(count, _mm256_castps_si256(_mm256_cmp_ps(_mm256_loadu_ps(logits + j), vt, _CMP_GT_OQ)));
    int lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, count);
    for (int l = 0; l < 8; l++) greater += (size_t)lanes[l];
    for (; j < V; j++) greater += logits[j] > t;
    *rank = greater;
    /* a NaN anywhere in the row makes the loss NaN (the max and exp above skip NaN, and a NaN would
     * count as "not greater" than the target): the caller reports it instead of scoring */
    __m256 unordered = _mm256_setzero_ps();
    for (j = 0; j + 8 <= V; j += 8) {
        __m256 v = _mm256_loadu_ps(logits + j);
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    int any_nan = _mm256_movemask_ps(unordered) != 0;
    for (; j < V; j++) any_nan |= logits[j] != logits[j];
    if (any_nan) return NAN;
    return log(sum) + (double)m - (double)t;
}

// x: [rows, ld] floats; for columns [col0, col1) and rows [row0, row1) adds the row-order sums
// of a, |a|, sqrt|a| (square root taken in float, as a float32 model computes it), a² and (a > 0)
// to the double arrays. Columns go 8 at a time: each block's sums stay in registers over all rows
// (one pass over x, no per-row read-modify-write of the five arrays). Every column's sum runs in
// row order, so the result does not depend on how columns are shared among threads.
#define STATS_ROWS 16

void sc_accumulate_stats(const float *x, size_t ld, size_t row0, size_t row1, size_t col0, size_t col1,
                         double *sum, double *sum_abs, double *sum_sqrt, double *sum_sq, double *count_pos) {
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    /* Rows go in chunks of STATS_ROWS: walking one 8-column group down all rows touches one cache
     * line per row, and rows 4 KiB apart (3072 floats) all fall into the same cache set, so the
     * line was evicted before the next group could use its other half. Per chunk, the lines stay. */
    for (size_t chunk = row0; chunk < row1; chunk += STATS_ROWS) {
        size_t end = chunk + STATS_ROWS < row1 ? chunk + STATS_ROWS : row1;
        size_t c = col0;
        for (; c + 8 <= col1; c += 8) {
            __m256d s0 = _mm256_setzero_pd(), s1 = s0, a0 = s0, a1 = s0, q0 = s0, q1 = s0, sq0 = s0, sq1 = s0;
            __m256 pos = zero;   // counts ≤ 2^24 per call stay exact in float
            for (size_t r = chunk; r < end; r++) {
                __m256 v = _mm256_loadu_ps(x + r * ld + c);
                __m256 av = _mm256_andnot_ps(sign, v);
                __m256 rt = _mm256_sqrt_ps(av);
                pos = _mm256_add_ps(pos, _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), one));
                __m256d vl = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), vh = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
                s0 = _mm256_add_pd(s0, vl); s1 = _mm256_add_pd(s1, vh);
                sq0 = _mm256_add_pd(sq0, _mm256_mul_pd(vl, vl)); sq1 = _mm256_add_pd(sq1, _mm256_mul_pd(vh, vh));
                a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(av)));
                a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(av, 1)));
                q0 = _mm256_add_pd(q0, _mm256_cvtps_pd(_mm256_castps256_ps128(rt)));
                q1 = _mm256_add_pd(q1, _mm256_cvtps_pd(_mm256_extractf128_ps(rt, 1)));
            }
            _mm256_storeu_pd(sum + c, _mm256_add_pd(_mm256_loadu_pd(sum + c), s0));
            _mm256_storeu_pd(sum + c + 4, _mm256_add_pd(_mm256_loadu_pd(sum + c + 4), s1));
            _mm256_storeu_pd(sum_abs + c, _mm256_add_pd(_mm256_loadu_pd(sum_abs + c), a0));
            _mm256_storeu_pd(sum_abs + c + 4, _mm256_add_pd(_mm256_loadu_pd(sum_abs + c + 4), a1));
            _mm256_storeu_pd(sum_sqrt + c, _mm256_add_pd(_mm256_loadu_pd(sum_sqrt + c), q0));
            _mm256_storeu_pd(sum_sqrt + c + 4, _mm256_add_pd(_mm256_loadu_pd(sum_sqrt + c + 4), q1));
            _mm256_storeu_pd(sum_sq + c, _mm256_add_pd(_mm256_loadu_pd(sum_sq + c), sq0));
            _mm256_storeu_pd(sum_sq + c + 4, _mm256_add_pd(_mm256_loadu_pd(sum_sq + c + 4), sq1));
            _mm256_storeu_pd(count_pos + c, _mm256_add_pd(_mm256_loadu_pd(count_pos + c), _mm256_cvtps_pd(_mm256_castps256_ps128(pos))));
            _mm256_storeu_pd(count_pos + c + 4, _mm256_add_pd(_mm256_loadu_pd(count_pos + c + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(pos, 1))));
        }
        for (; c < col1; c++) {
            double s = 0, a = 0, q = 0, sq = 0, p = 0;
            for (size_t r = chunk; r < end; r++) {
                float v = x[r * ld + c];
                float m = v < 0 ? -v : v;
                s += (double)v; a += (double)m; q += (double)sqrtf(m); sq += (double)v * (double)v; p += v > 0 ? 1.0 : 0.0;
            }
            sum[c] += s; sum_abs[c] += a; sum_sqrt[c] += q; sum_sq[c] += sq; count_pos[c] += p;
        }
    }
}

void sc_rms_norm(const float *x, float *y, const float *weight, size_t rows, size_t dim, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        double ss = sum_sq_dev_f64(xr, dim, 0.0f);
        float inv = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
        for (size_t i = 0; i < dim; i++) yr[i] = weight[i] * (xr[i] * inv);
    }
}

void sc_rotary(float *x, size_t ld, size_t rows, const int32_t *pos, size_t heads, size_t head_stride,
               size_t half, const float *cos_table, const float *sin_table) {
    for (size_t r = 0; r < rows; r++) {
        const float *c = cos_table + (size_t)pos[r] * half;
        const float *s = sin_table + (size_t)pos[r] * half;
        for (size_t h = 0; h < heads; h++) {
            float *v = x + r * ld + h * head_stride;
            for (size_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void sc_gated(const float *gate_up, float *out, size_t rows, size_t ff, int kind) {
    for (size_t r = 0; r < rows; r++) {
        const float *g = gate_up + r * 2 * ff;
        const float *u = g + ff;
        float *o = out + r * ff;
        if (kind == 0) {
            for (size_t i = 0; i < ff; i++) o[i] = g[i] / (1.0f + fast_expf(-g[i])) * u[i];
        } else if (kind == 1) {
            for (size_t i = 0; i < ff; i++) o[i] = 0.5f * g[i] * (1.0f + erff(g[i] * 0.70710678118654752f)) * u[i];
        } else if (kind == 3) {
            for (size_t i = 0; i < ff; i++) o[i] = (g[i] > 0.0f ? g[i] : 0.0f) * u[i];
        } else {
            const float k = 0.79788456080286536f;
            for (size_t i = 0; i < ff; i++) {
                float v = g[i];
                o[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v))) * u[i];
            }
        }
    }
}

