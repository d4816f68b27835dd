// Per-token transformer operations: RMSNorm, rotary position embedding, gated activations, residual adds.
#include "internal.h"

#include <math.h>

void skiff_rms_norm(const float *x, int64_t x_stride, const float *weight, float *out, int64_t out_stride,
                    int64_t tokens, int64_t n, float epsilon) {
    for (int64_t t = 0; t < tokens; t++) {
        const float *xt = x + t * x_stride;
        float *ot = out + t * out_stride;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += (double)(xt[i] * xt[i]);
        float scale = 1.0f / sqrtf((float)(sum / (double)n) + epsilon);
        for (int64_t i = 0; i < n; i++) ot[i] = xt[i] * scale * weight[i];
    }
}

void skiff_rope(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims, int64_t position,
                const float *inverse_frequencies, float attention_factor, int neox) {
    int64_t half = rotary_dims / 2;
    for (int64_t i = 0; i < half; i++) {
        float theta = (float)position * inverse_frequencies[i];
        float c = cosf(theta) * attention_factor;
        float s = sinf(theta) * attention_factor;
        int64_t a = neox ? i : 2 * i;
        int64_t b = neox ? i + half : 2 * i + 1;
        for (int64_t h = 0; h < heads; h++) {
            float *v = x + h * head_dim;
            float x0 = v[a];
            float x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void skiff_swiglu(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void skiff_geglu(const float *gate, const float *up, float *out, int64_t n) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = 0.5f * g * (1.0f + tanhf(sqrt_2_over_pi * g * (1.0f + 0.044715f * g * g))) * up[i];
    }
}

void skiff_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void skiff_scale(float *x, float factor, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= factor;
}
