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

/* y: [rows, dim] += bias: [dim] (broadcast over rows). */
void sc_add_bias(float *y, const float *bias, size_t rows, size_t dim);

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

/* scores: [T, ldS] rows of attention scores for one (sequence, head), query i sees keys 0...i.
 * Each row i is replaced by softmax over its first i+1 entries; entries after i are set to 0. */
void sc_causal_softmax(float *scores, size_t T, size_t ldS);

/* logits: [V] for one position, target: its next token.
 * Returns the cross-entropy -log softmax(logits)[target] (computed in double) and writes
 * into *rank the number of logits strictly greater than logits[target]
 * (so top-k is correct when rank < k). */
double sc_cross_entropy_rank(const float *logits, size_t V, size_t target, size_t *rank);

/* Statistics of neuron activations (SPEC §2), accumulated in double.
 * x: [rows, ld] Float32; for rows [row0, row1) and columns [col0, col1):
 *   sum[c] += a, sum_abs[c] += |a|, sum_sqrt[c] += sqrt|a|, sum_sq[c] += a², count_pos[c] += (a > 0)
 * with a = x[r·ld + c]; the sums arrays are indexed by column c. */
void sc_accumulate_stats(const float *x, size_t ld, size_t row0, size_t row1, size_t col0, size_t col1,
                         double *sum, double *sum_abs, double *sum_sqrt, double *sum_sq, double *count_pos);

#endif
