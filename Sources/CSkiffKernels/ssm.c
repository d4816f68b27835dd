// Mamba-2's state-space operations (and Llamba's variants of them): the causal convolution with its
// rolling state, the selective scan, the gated group norm and the plain output gate.
#include "internal.h"
#include "vector_math.h"

#include <math.h>
#include <string.h>

// MARK: - Convolution

typedef struct {
    const skiff_ssm_sequence *sequences;
    int64_t sequence_count;
    float *x;
    int64_t x_stride;
    int64_t channels;
    const float *weight;
    const float *bias;
    int64_t kernel;
    int silu;
} conv_job;

/// Channels per slice: each thread takes whole slices, and a slice's new state fits on the stack.
#define CONV_SLICE 64

static void conv_slice(const conv_job *job, const skiff_ssm_sequence *s, int64_t c0, int64_t c1) {
    const int64_t k = job->kernel, held = k - 1;
    float next_state[SKIFF_SSM_MAX_CONV_KERNEL - 1][CONV_SLICE];
    // The state after these tokens: the last `held` inputs, read before the outputs overwrite them.
    for (int64_t j = 0; j < held; j++) {
        int64_t source = s->count - held + j;   // an input row, or (when negative) a row of the old state
        for (int64_t c = c0; c < c1; c++) {
            next_state[j][c - c0] = source >= 0 ? job->x[(s->first + source) * job->x_stride + c]
                                                : s->conv_state[(held + source) * job->channels + c];
        }
    }
    // Outputs from the last token back, so each reads inputs that are not yet overwritten.
    for (int64_t t = s->count - 1; t >= 0; t--) {
        float *row = job->x + (s->first + t) * job->x_stride;
        float acc[CONV_SLICE];
        for (int64_t c = c0; c < c1; c++) acc[c - c0] = job->bias ? job->bias[c] : 0.0f;
        for (int64_t j = 0; j < k; j++) {
            int64_t source = t - held + j;
            const float *in = source >= 0 ? job->x + (s->first + source) * job->x_stride
                                          : s->conv_state + (held + source) * job->channels;
            const float *w = job->weight + j * job->channels;
            for (int64_t c = c0; c < c1; c++) acc[c - c0] += w[c] * in[c];
        }
        if (job->silu) {
            skiff_gate_span(SKIFF_GATE_SILU, acc, NULL, row + c0, c1 - c0);
        } else {
            memcpy(row + c0, acc, (size_t)(c1 - c0) * sizeof(float));
        }
    }
    for (int64_t j = 0; j < held; j++) {
        memcpy(s->conv_state + j * job->channels + c0, next_state[j], (size_t)(c1 - c0) * sizeof(float));
    }
}

static void conv_task(void *context, int thread_index, int thread_count) {
    const conv_job *job = context;
    int64_t slices = (job->channels + CONV_SLICE - 1) / CONV_SLICE;
    int64_t begin = slices * thread_index / thread_count, end = slices * (thread_index + 1) / thread_count;
    for (int64_t n = 0; n < job->sequence_count; n++) {
        for (int64_t slice = begin; slice < end; slice++) {
            int64_t c0 = slice * CONV_SLICE, c1 = c0 + CONV_SLICE < job->channels ? c0 + CONV_SLICE : job->channels;
            conv_slice(job, &job->sequences[n], c0, c1);
        }
    }
}

int skiff_ssm_conv(skiff_pool *pool, const skiff_ssm_sequence *sequences, int64_t sequence_count, float *x, int64_t x_stride,
                   int64_t channels, const float *weight, const float *bias, int64_t kernel, int silu) {
    if (kernel < 1 || kernel > SKIFF_SSM_MAX_CONV_KERNEL) return -1;
    conv_job job = {sequences, sequence_count, x, x_stride, channels, weight, bias, kernel, silu};
    skiff_pool_run(pool, conv_task, &job);
    return 0;
}

// MARK: - Selective scan

/// One channel's step: state = decay state + input B, returning state · C, over `n` values.
typedef float (*scan_row_fn)(float *state, const float *b, const float *c, float decay, float input, int64_t n);

typedef struct {
    const skiff_ssm_sequence *sequences;
    int64_t sequence_count;
    const float *x, *b, *c, *dt_raw;
    int64_t stride;
    const float *a, *d, *dt_bias;
    int scale_by_dt;
    int64_t heads, head_dim, groups, state_size;
    float *y;
    int64_t y_stride;
    scan_row_fn row_fn;
} scan_job;

/// log(1 + e^v), taken as v where e^v would swamp the 1 (as Mamba's kernels do above 20).
static inline float softplus(float v) {
    return v > 20.0f ? v : log1pf(expf(v));
}

static float scan_row_portable(float *state, const float *b, const float *c, float decay, float input, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = state[i] * decay + b[i] * input;
        state[i] = v;
        sum += v * c[i];
    }
    return sum;
}

#if defined(__x86_64__)
static TARGET_AVX512 float scan_row_avx512(float *state, const float *b, const float *c, float decay, float input, int64_t n) {
    const __m512 vd = _mm512_set1_ps(decay), vi = _mm512_set1_ps(input);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_fmadd_ps(_mm512_loadu_ps(state + i), vd, _mm512_mul_ps(_mm512_loadu_ps(b + i), vi));
        __m512 v1 = _mm512_fmadd_ps(_mm512_loadu_ps(state + i + 16), vd, _mm512_mul_ps(_mm512_loadu_ps(b + i + 16), vi));
        _mm512_storeu_ps(state + i, v0);
        _mm512_storeu_ps(state + i + 16, v1);
        sum0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(c + i), sum0);
        sum1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(c + i + 16), sum1);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(state + i), vd, _mm512_mul_ps(_mm512_loadu_ps(b + i), vi));
        _mm512_storeu_ps(state + i, v);
        sum0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(c + i), sum0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1)) + scan_row_portable(state + i, b + i, c + i, decay, input, n - i);
}

static TARGET_AVX2 float scan_row_avx2(float *state, const float *b, const float *c, float decay, float input, int64_t n) {
    const __m256 vd = _mm256_set1_ps(decay), vi = _mm256_set1_ps(input);
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_fmadd_ps(_mm256_loadu_ps(state + i), vd, _mm256_mul_ps(_mm256_loadu_ps(b + i), vi));
        __m256 v1 = _mm256_fmadd_ps(_mm256_loadu_ps(state + i + 8), vd, _mm256_mul_ps(_mm256_loadu_ps(b + i + 8), vi));
        _mm256_storeu_ps(state + i, v0);
        _mm256_storeu_ps(state + i + 8, v1);
        sum0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(c + i), sum0);
        sum1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(c + i + 8), sum1);
    }
    __m256 sum = _mm256_add_ps(sum0, sum1);
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    return _mm_cvtss_f32(half) + scan_row_portable(state + i, b + i, c + i, decay, input, n - i);
}
#endif

static scan_row_fn scan_row_for_active_isa(void) {
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI: return scan_row_avx512;
    case SKIFF_ISA_AVX2: return scan_row_avx2;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    return scan_row_portable;
}

static void scan_head(const scan_job *job, const skiff_ssm_sequence *s, int64_t h, scan_row_fn row_fn) {
    const int64_t hd = job->head_dim, n = job->state_size;
    const int64_t g = h / (job->heads / job->groups);
    for (int64_t t = 0; t < s->count; t++) {
        const int64_t row = s->first + t;
        const float *x = job->x + row * job->stride + h * hd;
        const float *b = job->b + row * job->stride + g * n;
        const float *c = job->c + row * job->stride + g * n;
        const float dt = softplus(job->dt_raw[row * job->stride + h] + job->dt_bias[h]);
        const float decay = expf(dt * job->a[h]);
        float *y = job->y + row * job->y_stride + h * hd;
        for (int64_t p = 0; p < hd; p++) {
            y[p] = row_fn(s->ssm_state + (h * hd + p) * n, b, c, decay, job->scale_by_dt ? x[p] * dt : x[p], n) + job->d[h] * x[p];
        }
    }
}

static void scan_task(void *context, int thread_index, int thread_count) {
    const scan_job *job = context;
    int64_t units = job->sequence_count * job->heads;
    int64_t begin = units * thread_index / thread_count, end = units * (thread_index + 1) / thread_count;
    scan_row_fn row_fn = job->row_fn;
    for (int64_t unit = begin; unit < end; unit++) {
        scan_head(job, &job->sequences[unit / job->heads], unit % job->heads, row_fn);
    }
}

int skiff_ssm_scan(skiff_pool *pool, const skiff_ssm_sequence *sequences, int64_t sequence_count,
                   const float *x, const float *b, const float *c, const float *dt_raw, int64_t stride,
                   const float *a, const float *d, const float *dt_bias, int scale_by_dt,
                   int64_t heads, int64_t head_dim, int64_t groups, int64_t state_size, float *y, int64_t y_stride) {
    if (groups < 1 || heads % groups != 0) return -1;
    // The instruction set is chosen here, on the calling thread, so the pool's workers follow it.
    scan_job job = {sequences, sequence_count, x, b, c, dt_raw, stride, a, d, dt_bias, scale_by_dt, heads, head_dim, groups, state_size,
                    y, y_stride, scan_row_for_active_isa()};
    skiff_pool_run(pool, scan_task, &job);
    return 0;
}

// MARK: - Gated norm

typedef struct {
    float *y;
    int64_t y_stride;
    const float *z;
    int64_t z_stride;
    const float *weight;
    int64_t tokens, width, groups;
    float epsilon;
} gated_norm_job;

static void gated_norm_task(void *context, int thread_index, int thread_count) {
    const gated_norm_job *job = context;
    const int64_t size = job->width / job->groups;
    int64_t begin = job->tokens * thread_index / thread_count, end = job->tokens * (thread_index + 1) / thread_count;
    for (int64_t t = begin; t < end; t++) {
        float *row = job->y + t * job->y_stride;
        const float *weight = job->weight;
        const float epsilon = job->epsilon;
        skiff_gate_span(SKIFF_GATE_SILU, job->z + t * job->z_stride, row, row, job->width);
        for (int64_t g = 0; g < job->groups; g++) {
            float *part = row + g * size;
            double sum = 0;
            for (int64_t i = 0; i < size; i++) sum += (double)(part[i] * part[i]);
            float scale = 1.0f / sqrtf((float)(sum / (double)size) + epsilon);
            for (int64_t i = 0; i < size; i++) part[i] *= scale * weight[g * size + i];
        }
    }
}

void skiff_gated_group_rms_norm(skiff_pool *pool, float *y, int64_t y_stride, const float *z, int64_t z_stride, const float *weight,
                                int64_t tokens, int64_t width, int64_t groups, float epsilon) {
    gated_norm_job job = {y, y_stride, z, z_stride, weight, tokens, width, groups, epsilon};
    if (tokens < 2) {
        gated_norm_task(&job, 0, 1);
    } else {
        skiff_pool_run(pool, gated_norm_task, &job);
    }
}

// MARK: - Output gate

typedef struct {
    float *y;
    int64_t y_stride;
    const float *z;
    int64_t z_stride;
    const float *bias;
    int64_t tokens, width;
} gate_job;

/// Values gated per pass: z + bias is formed on the stack this many at a time.
#define GATE_SPAN 256

static void gate_task(void *context, int thread_index, int thread_count) {
    const gate_job *job = context;
    int64_t begin = job->tokens * thread_index / thread_count, end = job->tokens * (thread_index + 1) / thread_count;
    float shifted[GATE_SPAN];
    for (int64_t t = begin; t < end; t++) {
        float *row = job->y + t * job->y_stride;
        const float *z = job->z + t * job->z_stride;
        for (int64_t i = 0; i < job->width; i += GATE_SPAN) {
            int64_t n = job->width - i < GATE_SPAN ? job->width - i : GATE_SPAN;
            for (int64_t j = 0; j < n; j++) shifted[j] = z[i + j] + (job->bias ? job->bias[i + j] : 0.0f);
            skiff_gate_span(SKIFF_GATE_SILU, shifted, row + i, row + i, n);
        }
    }
}

void skiff_ssm_gate(skiff_pool *pool, float *y, int64_t y_stride, const float *z, int64_t z_stride, const float *bias,
                    int64_t tokens, int64_t width) {
    gate_job job = {y, y_stride, z, z_stride, bias, tokens, width};
    if (tokens < 2) {
        gate_task(&job, 0, 1);
    } else {
        skiff_pool_run(pool, gate_task, &job);
    }
}
