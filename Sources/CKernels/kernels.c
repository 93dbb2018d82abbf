#include "CKernels.h"
#include <math.h>

void sc_layer_norm(const float *x, float *y, const float *gamma, const float *beta,
                   size_t rows, size_t dim, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        /* two passes in float, as PyTorch's CPU kernel does, with double accumulation for stability */
        double sum = 0;
        for (size_t i = 0; i < dim; i++) sum += xr[i];
        float mean = (float)(sum / (double)dim);
        double var = 0;
        for (size_t i = 0; i < dim; i++) { double d = xr[i] - mean; var += d * d; }
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

void sc_add_bias(float *y, const float *bias, size_t rows, size_t dim) {
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * dim;
        for (size_t i = 0; i < dim; i++) yr[i] += bias[i];
    }
}

void sc_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void sc_relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
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
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void sc_causal_softmax(float *scores, size_t T, size_t ldS) {
    for (size_t i = 0; i < T; i++) {
        float *row = scores + i * ldS;
        float m = row[0];
        for (size_t j = 1; j <= i; j++) m = row[j] > m ? row[j] : m;
        float sum = 0;
        for (size_t j = 0; j <= i; j++) { row[j] = expf(row[j] - m); sum += row[j]; }
        float inv = 1.0f / sum;
        for (size_t j = 0; j <= i; j++) row[j] *= inv;
        for (size_t j = i + 1; j < T; j++) row[j] = 0.0f;
    }
}

double sc_cross_entropy_rank(const float *logits, size_t V, size_t target, size_t *rank) {
    float m = logits[0];
    for (size_t j = 1; j < V; j++) m = logits[j] > m ? logits[j] : m;
    double sum = 0;
    for (size_t j = 0; j < V; j++) sum += exp((double)logits[j] - (double)m);
    float t = logits[target];
    size_t greater = 0;
    for (size_t j = 0; j < V; j++) greater += logits[j] > t;
    *rank = greater;
    return log(sum) + (double)m - (double)t;
}
