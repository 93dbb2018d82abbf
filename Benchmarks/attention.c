/* The fused attention kernel (Sources/CKernels/attention.c) against the scheme it replaced, side by
 * side in one process: per (sequence, head), query blocks of 128 rows, scores = q kᵀ by sgemm,
 * a causal softmax pass, out = scores · v by sgemm. OPT-125m shapes: 12 heads of 64, q/k/v rows of
 * a fused [T, 2304] projection; one thread; best of REPEATS alternating runs of each.
 *
 *   clang -O3 -mavx2 -mfma -ISources/CKernels/include -ISources/CKernels Benchmarks/attention.c \
 *      Sources/CKernels/attention.c -o /tmp/attention $(pkg-config --cflags --libs openblas) -lm
 *   /tmp/attention [T=512] [SEQUENCES=8] [REPEATS=10]
 *
 * clang, as SwiftPM builds the kernel: gcc ignores the unroll pragma and keeps the tile slower.
 */
#include "CKernels.h"
#include "simd.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the previous scheme: scores: [rows, keys] per block of 128 queries, through sgemm */
static void blocked_sgemm(const float *q, const float *k, const float *v, size_t ld, size_t T, size_t dh,
                          float scale, float *out, size_t ldo, float *scores) {
    for (size_t r0 = 0; r0 < T; r0 += 128) {
        size_t rows = T - r0 < 128 ? T - r0 : 128, keys = r0 + rows;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, dh, scale, q + r0 * ld, ld, k, ld, 0, scores, keys);
        for (size_t i = 0; i < rows; i++) {
            float *row = scores + i * keys;
            size_t n = r0 + i + 1;
            float inv = (float)(1.0 / exp_sum(row, row, n, max_f(row, n)));
            for (size_t j = 0; j < n; j++) row[j] *= inv;
            for (size_t j = n; j < keys; j++) row[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dh, keys, 1, scores, keys, v, ld, 0, out + r0 * ldo, ldo);
    }
}

int main(int argc, char **argv) {
    size_t T = argc > 1 ? atoi(argv[1]) : 512, seqs = argc > 2 ? atoi(argv[2]) : 8;
    int repeats = argc > 3 ? atoi(argv[3]) : 10;
    const size_t heads = 12, dh = 64, d = heads * dh, ld = 3 * d;
    openblas_set_num_threads(1);
    float *qkv = malloc(sizeof(float) * T * ld * seqs), *out = malloc(sizeof(float) * T * d * seqs);
    float *scratch = malloc(sizeof(float) * (sc_attention_scratch(T, dh) + 128 * T));
    for (size_t i = 0; i < T * ld * seqs; i++) qkv[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    double best[2] = {1e30, 1e30};
    for (int rep = 0; rep < repeats; rep++)
        for (int which = 0; which < 2; which++) {
            double t0 = now();
            for (size_t s = 0; s < seqs; s++)
                for (size_t h = 0; h < heads; h++) {
                    const float *base = qkv + s * T * ld + h * dh;
                    float *o = out + s * T * d + h * dh;
                    if (which == 0) blocked_sgemm(base, base + d, base + 2 * d, ld, T, dh, 0.125f, o, d, scratch);
                    else sc_attention_head(base, base + d, base + 2 * d, ld, T, dh, 0.125f, 1, o, d, scratch);
                }
            double t = now() - t0;
            if (t < best[which]) best[which] = t;
        }
    double flops = seqs * heads * 2.0 * 2 * dh * T * (T + 1) / 2;  /* the causal triangle's QKᵀ and PV */
    printf("T %zu, %zu sequences x %zu heads, 1 thread, best of %d:\n", T, seqs, heads, repeats);
    printf("  blocked sgemm + softmax: %8.2f ms  %5.1f GFLOP/s\n", best[0] * 1e3, flops / best[0] / 1e9);
    printf("  fused kernel:            %8.2f ms  %5.1f GFLOP/s  (%.2fx)\n", best[1] * 1e3, flops / best[1] / 1e9, best[0] / best[1]);
    return 0;
}
