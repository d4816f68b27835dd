// Per-token transformer operations: RMSNorm, rotary position embedding, gated activations, residual adds.
#include "internal.h"
#include "vector_math.h"

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

// Both activations are x sigmoid(z): z = x for SiLU, z = 2 sqrt(2/pi) (x + 0.044715 x^3) for GELU. The
// sigmoid takes e^-|z| (an argument <= 0, where the vector exponentials are accurate):
// sigmoid(z) = 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) for z < 0.
#define GELU_SCALE 1.59576912160573071176f /* 2 sqrt(2/pi) */

static void gated_portable(skiff_gate activation, const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float x = gate[i];
        float z = activation == SKIFF_GATE_SILU ? x : GELU_SCALE * x * (1.0f + 0.044715f * x * x);
        float e = expf(-fabsf(z));
        float sigmoid = z >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        out[i] = x * sigmoid * (up ? up[i] : 1.0f);
    }
}

#if defined(__x86_64__)
static TARGET_AVX512 void gated_avx512(skiff_gate activation, const float *gate, const float *up, float *out, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(gate + i);
        __m512 z = activation == SKIFF_GATE_SILU
            ? x
            : _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_SCALE), x),
                            _mm512_fmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(0.044715f), one));
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(z)));
        __m512 inverse = _mm512_div_ps(one, _mm512_add_ps(one, e));
        __mmask16 negative = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 sigmoid = _mm512_mask_mul_ps(inverse, negative, inverse, e);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(x, sigmoid), up ? _mm512_loadu_ps(up + i) : one));
    }
    gated_portable(activation, gate + i, up ? up + i : NULL, out + i, n - i);
}

static TARGET_AVX2 void gated_avx2(skiff_gate activation, const float *gate, const float *up, float *out, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(gate + i);
        __m256 z = activation == SKIFF_GATE_SILU
            ? x
            : _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_SCALE), x),
                            _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(0.044715f), one));
        __m256 e = exp_avx2(_mm256_or_ps(z, sign));
        __m256 inverse = _mm256_div_ps(one, _mm256_add_ps(one, e));
        __m256 negative = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
        __m256 sigmoid = _mm256_blendv_ps(inverse, _mm256_mul_ps(inverse, e), negative);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(x, sigmoid), up ? _mm256_loadu_ps(up + i) : one));
    }
    gated_portable(activation, gate + i, up ? up + i : NULL, out + i, n - i);
}
#endif

typedef struct {
    skiff_gate activation;
    const float *gate;
    const float *up;
    float *out;
    int64_t n;
} gated_job;

static void gated_task(void *context, int thread_index, int thread_count) {
    const gated_job *job = context;
    // Slices of whole 16-value groups, so every thread but the last runs only vector code.
    int64_t groups = (job->n + 15) / 16;
    int64_t begin = groups * thread_index / thread_count * 16;
    int64_t end = groups * (thread_index + 1) / thread_count * 16;
    if (end > job->n) end = job->n;
    if (begin >= end) return;
    skiff_gate_span(job->activation, job->gate + begin, job->up + begin, job->out + begin, end - begin);
}

void skiff_gate_span(skiff_gate activation, const float *gate, const float *up, float *out, int64_t n) {
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI: gated_avx512(activation, gate, up, out, n); return;
    case SKIFF_ISA_AVX2: gated_avx2(activation, gate, up, out, n); return;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    gated_portable(activation, gate, up, out, n);
}

/// Values below which the calling thread does the work alone: waking the pool costs more than it saves
/// (a decoding step's few thousand values).
#define GATED_PARALLEL_MINIMUM 65536

void skiff_gated(skiff_pool *pool, skiff_gate activation, const float *gate, const float *up, float *out, int64_t n) {
    gated_job job = {activation, gate, up, out, n};
    if (n < GATED_PARALLEL_MINIMUM) {
        gated_task(&job, 0, 1);
    } else {
        skiff_pool_run(pool, gated_task, &job);
    }
}

void skiff_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void skiff_scale(float *x, float factor, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= factor;
}
