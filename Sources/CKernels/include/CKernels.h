#ifndef SCALPEL_CKERNELS_H
#define SCALPEL_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Elementwise and row kernels for Scalpel's forward pass. All matrices are
 * row-major Float32. Each kernel states its shapes. */

/* x: [rows, dim] -> y: [rows, dim]; y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * gamma and beta may be NULL (no affine part). x and y may alias. */
void sc_layer_norm(const float *x, float *y, const float *gamma, const float *beta,
                   size_t rows, size_t dim, float eps);

/* x: [rows, dim] -> y: [rows, dim]; y = x / sqrt(mean(x²) + eps) * weight (RMSNorm). x and y may alias. */
void sc_rms_norm(const float *x, float *y, const float *weight, size_t rows, size_t dim, float eps);

/* Rotary position embedding, GPT-NeoX layout (rotate_half), in place.
 * x: rows of stride ld; head h of row r starts at x + r·ld + h·head_stride; its first 2·half
 * values rotate: (a, b) = (v[i], v[i+half]) → (a·cos − b·sin, b·cos + a·sin), with
 * cos/sin: [positions, half] read at row pos[r]. */
void sc_rotary(float *x, size_t ld, size_t rows, const int32_t *pos, size_t heads, size_t head_stride,
               size_t half, const float *cos_table, const float *sin_table);

/* gate_up: [rows, 2·ff] holding gate then up per row -> out: [rows, ff] = act(gate) · up,
 * act = SiLU (kind 0), exact GELU (1), tanh GELU (2) or ReLU (3). */
void sc_gated(const float *gate_up, float *out, size_t rows, size_t ff, int kind);

/* y: [n] += x: [n]. */
void sc_add(float *y, const float *x, size_t n);

/* x: [n] in place. relu(x) = max(x, 0). */
void sc_relu(float *x, size_t n);
/* x: [n] in place. Exact GELU: x/2 * (1 + erf(x/sqrt 2)) (PyTorch "gelu"). */
void sc_gelu(float *x, size_t n);
/* x: [n] in place. tanh approximation of GELU ("gelu_new", "gelu_pytorch_tanh"). */
void sc_gelu_tanh(float *x, size_t n);
/* x: [n] in place. SiLU: x * sigmoid(x). */
void sc_silu(float *x, size_t n);

/* Attention of one (sequence, head). q, k, v: [T, dh] rows of stride ld; out: [T, dh] rows of stride ldo.
 * out = softmax(scale · q kᵀ) · v, where with `causal` query i sees keys 0...i only.
 * scratch: sc_attention_scratch(T, dh) floats, private to the caller. */
size_t sc_attention_scratch(size_t T, size_t dh);
void sc_attention_head(const float *q, const float *k, const float *v, size_t ld, size_t T, size_t dh,
                       float scale, int causal, float *out, size_t ldo, float *scratch);
/* Attention of T query rows against P ≥ T keys, the queries being the last T positions (decoding
 * with a key/value cache). q: [T, dh] rows of stride ldq; k, v: [P, dh] rows of stride ldkv;
 * out: [T, dh] rows of stride ldo. With `causal` query row i sees keys 0...(P − T) + i.
 * scratch: sc_attention_scratch(P, dh) floats. sc_attention_head is the case P = T. */
void sc_attention_head_past(const float *q, size_t ldq, size_t T, const float *k, const float *v, size_t ldkv,
                            size_t P, size_t dh, float scale, int causal, float *out, size_t ldo, float *scratch);

/* logits: [V] for one position, target: its next token.
 * Returns the cross-entropy -log softmax(logits)[target] (computed in double) and writes
 * into *rank the number of logits strictly greater than logits[target]
 * (so top-k is correct when rank < k). */
double sc_cross_entropy_rank(const float *logits, size_t V, size_t target, size_t *rank);

/* Statistics of neuron activations (METHOD.md §2), accumulated in double.
 * x: [rows, ld] Float32; for rows [row0, row1) and columns [col0, col1):
 *   sum[c] += a, sum_abs[c] += |a|, sum_sqrt[c] += sqrtf|a| (square root in float), sum_sq[c] += a², count_pos[c] += (a > 0)
 * with a = x[r·ld + c]; the sums arrays are indexed by column c. Rows are summed in chunks of 16
 * (partial sums in double added to the arrays), a fixed order for given rows. */
void sc_accumulate_stats(const float *x, size_t ld, size_t row0, size_t row1, size_t col0, size_t col1,
                         double *sum, double *sum_abs, double *sum_sqrt, double *sum_sq, double *count_pos);

/* GGML tensor data -> Float32. type: 0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0, 12 Q4_K, 13 Q5_K,
 * 14 Q6_K, 30 BF16; count values (a multiple of the block size). Returns non-zero for another type. */
int sc_dequantize(int type, const uint8_t *src, float *dst, size_t count);

#endif
