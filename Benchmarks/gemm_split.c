/* Does OpenBLAS give the same product when one sgemm is cut into parts? (It does not: its
 * rounding depends on each call's shape, which is why Scalpel cuts matmuls by shape, never by
 * thread count; see docs/performance.md.)
 *
 *   cc -O2 Benchmarks/gemm_split.c -o /tmp/gemm_split $(pkg-config --cflags --libs openblas)
 *   /tmp/gemm_split M N K PART       # C = A·Bᵀ whole, then in row parts of PART rows; counts differing elements
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s M N K PART\n", argv[0]); return 2; }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]), part = atoi(argv[4]);
    openblas_set_num_threads(1);
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *whole = malloc(sizeof(float) * m * n), *parts = malloc(sizeof(float) * m * n);
    srand(1);
    for (long i = 0; i < (long)m * k; i++) a[i] = rand() / (float)RAND_MAX - 0.5f;
    for (long i = 0; i < (long)n * k; i++) b[i] = rand() / (float)RAND_MAX - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, whole, n);
    for (int s = 0; s < m; s += part) {
        int rows = s + part > m ? m - s : part;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, k, 1, a + (long)s * k, k, b, k, 0, parts + (long)s * n, n);
    }
    long differ = 0;
    for (long i = 0; i < (long)m * n; i++) differ += whole[i] != parts[i];
    printf("[%d x %d]·[%d x %d] in parts of %d rows: %ld of %ld elements differ (%.1f%%)\n",
           m, k, k, n, part, differ, (long)m * n, 100.0 * differ / ((double)m * n));
    return 0;
}
