#include "CKernels.h"
#include <string.h>
#include <immintrin.h>

/* ggml's block formats, dequantized exactly as gguf-py's numpy reference does (float32, no fused
 * multiply-add, so results match it bit for bit). */
#pragma clang fp contract(off)

static inline float half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Q4_0: 32 values per 18-byte block: f16 d, 16 bytes of nibbles (low nibbles first half). */
static void q4_0(const uint8_t *b, float *y) {
    float d = half(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((int)(qs[j] & 0x0F) - 8);
        y[j + 16] = d * (float)((int)(qs[j] >> 4) - 8);
    }
}

/* Q4_1: 20-byte block: f16 d, f16 m, 16 bytes of nibbles; x = d·q + m. */
static void q4_1(const uint8_t *b, float *y) {
    float d = half(b), m = half(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 0x0F) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

/* Q8_0: 34-byte block: f16 d, 32 int8. */
static void q8_0(const uint8_t *b, float *y) {
    float d = half(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = d * (float)qs[j];
}

/* the 6-bit scales and mins of Q4_K / Q5_K (12 bytes for 8 sub-blocks) */
static void scale_min(const uint8_t *s, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 0x3F;
        mn[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
}

/* Q4_K: 144-byte super-block of 256: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles;
 * sub-block i (32 values) uses the low (i even) or high (i odd) nibbles of bytes 32·(i/2)... */
static void q4_k(const uint8_t *b, float *y) {
    float d = half(b), dmin = half(b + 2);
    uint8_t sc[8], mn[8];
    scale_min(b + 4, sc, mn);
    const uint8_t *qs = b + 16;
    for (int i = 0; i < 8; i++) {
        float dl = d * (float)sc[i], ml = dmin * (float)mn[i];
        const uint8_t *q = qs + 32 * (i / 2);
        int shift = (i % 2) * 4;
        for (int j = 0; j < 32; j++) y[32 * i + j] = dl * (float)((q[j] >> shift) & 0x0F) - ml;
    }
}

/* Q5_K: 176 bytes: f16 d, f16 dmin, 12 scale bytes, 32 bytes of high bits, 128 bytes of nibbles. */
static void q5_k(const uint8_t *b, float *y) {
    float d = half(b), dmin = half(b + 2);
    uint8_t sc[8], mn[8];
    scale_min(b + 4, sc, mn);
    const uint8_t *qh = b + 16, *qs = b + 48;
    for (int i = 0; i < 8; i++) {
        float dl = d * (float)sc[i], ml = dmin * (float)mn[i];
        const uint8_t *q = qs + 32 * (i / 2);
        int shift = (i % 2) * 4;
        for (int j = 0; j < 32; j++) {
            int v = ((q[j] >> shift) & 0x0F) | (((qh[j] >> i) & 1) << 4);
            y[32 * i + j] = dl * (float)v - ml;
        }
    }
}

/* Q6_K: 210 bytes: 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d. */
static void q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = half(b + 208);
    for (int k = 0; k < 256; k++) {
        int half_index = k / 128, r = k % 128;        /* two halves of 128 */
        int group = r / 32, j = r % 32;                /* four groups of 32 in a half */
        int low_byte = half_index * 64 + (group % 2) * 32 + j;
        int low = (ql[low_byte] >> ((group / 2) * 4)) & 0x0F;
        int high = (qh[half_index * 32 + j] >> (2 * group)) & 0x03;
        int q = (low | (high << 4)) - 32;
        y[k] = (d * (float)scales[k / 16]) * (float)q;
    }
}

int sc_dequantize(int type, const uint8_t *src, float *dst, size_t count) {
    switch (type) {
    case 0: memcpy(dst, src, count * 4); return 0;
    case 1: for (size_t i = 0; i < count; i++) dst[i] = half(src + 2 * i); return 0;
    case 30: for (size_t i = 0; i < count; i++) { uint32_t v = (uint32_t)(src[2 * i] | (src[2 * i + 1] << 8)) << 16; memcpy(dst + i, &v, 4); } return 0;
    case 2: for (size_t i = 0; i < count / 32; i++) q4_0(src + 18 * i, dst + 32 * i); return 0;
    case 3: for (size_t i = 0; i < count / 32; i++) q4_1(src + 20 * i, dst + 32 * i); return 0;
    case 8: for (size_t i = 0; i < count / 32; i++) q8_0(src + 34 * i, dst + 32 * i); return 0;
    case 12: for (size_t i = 0; i < count / 256; i++) q4_k(src + 144 * i, dst + 256 * i); return 0;
    case 13: for (size_t i = 0; i < count / 256; i++) q5_k(src + 176 * i, dst + 256 * i); return 0;
    case 14: for (size_t i = 0; i < count / 256; i++) q6_k(src + 210 * i, dst + 256 * i); return 0;
    default: return 1;
    }
}
