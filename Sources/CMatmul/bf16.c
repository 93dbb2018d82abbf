/* BF16 conversions and the BF16 matmul engine: oneDNN where the CPU has BF16 instructions,
 * else Float32 sgemm on the converted operands. Shapes are in the header. */
#include "CMatmul.h"

#include <cblas.h>
#include <cpuid.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* oneDNN threads with OpenMP; Scalpel runs each matmul part on its own worker (BLAS.gemm), so
 * every oneDNN call is single-threaded: one threading layer, and results that do not depend on
 * the thread count. */
extern void omp_set_num_threads(int);

void sc_f32_to_bf16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        y[i] = (x[i] != x[i]) ? 0xFFFF : (uint16_t)rounded;
    }
}

void sc_bf16_to_f32(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(&y[i], &u, 4);
    }
}

int sc_bf16_cpu_features(void) {
    unsigned a, b, c, d, features = 0;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) features |= 1; /* AVX512_BF16 */
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22))) features |= 2; /* AMX_BF16 */
    return (int)features;
}

int sc_bf16_engine(void) {
    static int found = -1;
    if (found < 0) {
        const char *forced = getenv("SCALPEL_BF16_ENGINE");
        if (forced && strcmp(forced, "fallback") == 0) found = 0;
        else if (forced && strcmp(forced, "onednn") == 0) found = 1;
        else found = sc_bf16_cpu_features() != 0;
    }
    return found;
}

/* ---------------------------------------------------------------- fallback: Float32 sgemm */

enum { PANEL = 256 };

// a: [m, k] BF16 → Float32 once; b in panels of PANEL rows → Float32; c[:, j0:j0+nb] = a · panelᵀ
static int fallback_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                         float *c, int64_t ldc, const float *bias) {
    float *a32 = malloc((size_t)(m * k + PANEL * k + 1) * sizeof(float));
    if (!a32) return -1;
    float *b32 = a32 + m * k;
    for (int64_t r = 0; r < m; r++) sc_bf16_to_f32(a + r * lda, a32 + r * k, (size_t)k);
    for (int64_t j0 = 0; j0 < n; j0 += PANEL) {
        int64_t nb = n - j0 < PANEL ? n - j0 : PANEL;
        for (int64_t r = 0; r < nb; r++) sc_bf16_to_f32(b + (j0 + r) * ldb, b32 + r * k, (size_t)k);
        if (bias)
            for (int64_t r = 0; r < m; r++) memcpy(c + r * ldc + j0, bias + j0, (size_t)nb * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)k, 1.0f, a32, (int)k, b32, (int)k,
                    bias ? 1.0f : 0.0f, c + j0, (int)ldc);
    }
    free(a32);
    return 0;
}

/* ---------------------------------------------------------------- oneDNN */

/* One primitive per shape (m, n, k, strides, bias), created once and kept: creating one costs
 * far more than running it. Executions share it; each brings its own scratchpad. */
typedef struct {
    int64_t m, n, k, lda, ldb, ldc;
    int bias;
    dnnl_primitive_t primitive;
    size_t scratch;
} cached_t;

static cached_t *cache = NULL;
static size_t cached = 0, capacity = 0;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine = NULL;

static int lookup(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc, int bias, cached_t *out) {
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cached; i++) {
        cached_t *e = &cache[i];
        if (e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb && e->ldc == ldc && e->bias == bias) {
            *out = *e;
            pthread_mutex_unlock(&cache_lock);
            return 0;
        }
    }
    dnnl_status_t s = dnnl_success;
    if (!engine) s = dnnl_engine_create(&engine, dnnl_cpu, 0);
    dnnl_memory_desc_t ad, bd, cd, biasd;
    dnnl_dims_t adims = {m, k}, astr = {lda, 1}, bdims = {k, n}, bstr = {1, ldb}, cdims = {m, n}, cstr = {ldc, 1};
    dnnl_dims_t biasdims = {1, n}, biasstr = {n, 1};
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&ad, 2, adims, dnnl_bf16, astr);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&bd, 2, bdims, dnnl_bf16, bstr);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&cd, 2, cdims, dnnl_f32, cstr);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&biasd, 2, biasdims, dnnl_f32, biasstr);
    dnnl_matmul_desc_t md;
    if (s == dnnl_success) s = dnnl_matmul_desc_init(&md, &ad, &bd, bias ? &biasd : NULL, &cd);
    dnnl_primitive_attr_t attr = NULL;
    if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
    cached_t e = {m, n, k, lda, ldb, ldc, bias, NULL, 0};
    if (s == dnnl_success) {
        e.scratch = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
        s = dnnl_primitive_create(&e.primitive, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_success) {
        if (cached == capacity) {
            size_t grown = capacity ? 2 * capacity : 64;
            cached_t *bigger = realloc(cache, grown * sizeof(cached_t));
            if (bigger) { cache = bigger; capacity = grown; }
        }
        if (cached < capacity) cache[cached++] = e;
        *out = e;
    }
    pthread_mutex_unlock(&cache_lock);
    return (int)s;
}

static __thread dnnl_stream_t stream = NULL;

static int onednn_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                       float *c, int64_t ldc, const float *bias) {
    // before the lookup: a primitive is laid out for the thread count it is created under
    omp_set_num_threads(1);
    cached_t e;
    int s = lookup(m, n, k, lda, ldb, ldc, bias != NULL, &e);
    if (s != 0) return s;
    if (!stream && dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return -1;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_get_primitive_desc(e.primitive, (const_dnnl_primitive_desc_t *)&pd);
    void *scratch = e.scratch ? malloc(e.scratch) : NULL;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, mbias = NULL, ms = NULL;
    s = dnnl_memory_create(&ma, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), engine, (void *)a);
    if (!s) s = dnnl_memory_create(&mb, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), engine, (void *)b);
    if (!s) s = dnnl_memory_create(&mc, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), engine, c);
    if (!s && bias) s = dnnl_memory_create(&mbias, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), engine, (void *)bias);
    if (!s && scratch) s = dnnl_memory_create(&ms, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0), engine, scratch);
    if (!s) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        int nargs = 3;
        if (mbias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mbias};
        if (ms) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, ms};
        s = dnnl_primitive_execute(e.primitive, stream, nargs, args);
        if (!s) s = dnnl_stream_wait(stream);
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    if (mbias) dnnl_memory_destroy(mbias);
    if (ms) dnnl_memory_destroy(ms);
    free(scratch);
    return s;
}

int sc_bf16_gemm(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                 float *c, int64_t ldc, const float *bias) {
    // oneDNN where chosen, and the fallback wherever oneDNN refuses (no implementation for this CPU)
    if (sc_bf16_engine() == 1 && sc_bf16_gemm_on(1, m, n, k, a, lda, b, ldb, c, ldc, bias) == 0) return 0;
    return sc_bf16_gemm_on(0, m, n, k, a, lda, b, ldb, c, ldc, bias);
}

int sc_bf16_gemm_on(int engine, int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b,
                    int64_t ldb, float *c, int64_t ldc, const float *bias) {
    if (m == 0 || n == 0) return 0;
    if (k == 0) {
        for (int64_t r = 0; r < m; r++) {
            if (bias) memcpy(c + r * ldc, bias, (size_t)n * sizeof(float));
            else memset(c + r * ldc, 0, (size_t)n * sizeof(float));
        }
        return 0;
    }
    return engine == 1 ? onednn_gemm(m, n, k, a, lda, b, ldb, c, ldc, bias) : fallback_gemm(m, n, k, a, lda, b, ldb, c, ldc, bias);
}
