// Quantization of activations to int8 blocks (ggml's Q8_1 scheme) for integer dot products.
#include "internal.h"

#include <math.h>

/// Quantizes one row like ggml's Q8_1 on x86: q = round-half-even(x * 127 / amax), with the scale
/// rounded to IEEE half as ggml stores it. `sums` holds that scale times the sum of q, kept in float so
/// the offset formats (Q4_0, Q8_0) subtract it exactly.
static void quantize_row(const float *x, int8_t *q, float *scales, float *sums, int16_t *half_sums, int64_t columns) {
    for (int64_t b = 0; b < columns / SKIFF_BLOCK; b++) {
        const float *xb = x + b * SKIFF_BLOCK;
        float amax = 0;
        for (int j = 0; j < SKIFF_BLOCK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        int halves[2] = {0, 0};
        for (int j = 0; j < SKIFF_BLOCK; j++) {
            int v = (int)nearbyintf(xb[j] * id);
            q[b * SKIFF_BLOCK + j] = (int8_t)v;
            halves[j / 16] += v;
        }
        float d = skiff_half_to_float(skiff_float_to_half(amax / 127.0f));
        scales[b] = d;
        sums[b] = d * (float)(halves[0] + halves[1]);
        half_sums[2 * b] = (int16_t)halves[0];
        half_sums[2 * b + 1] = (int16_t)halves[1];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The same quantization with AVX2, bit for bit: |x| maximum, one multiply per value, conversion with
/// the default round-half-even mode (as nearbyintf), the scale through the same half rounding.
__attribute__((target("avx2,fma,f16c")))
static void quantize_row_avx2(const float *x, int8_t *q, float *scales, float *sums, int16_t *half_sums, int64_t columns) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < columns / SKIFF_BLOCK; b++) {
        const float *xb = x + b * SKIFF_BLOCK;
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        const __m256 scale = _mm256_set1_ps(id);
        __m256i n[4];
        for (int i = 0; i < 4; i++) n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], scale));
        __m256i words = _mm256_packs_epi16(_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3]));
        _mm256_storeu_si256((__m256i *)(q + b * SKIFF_BLOCK), _mm256_permutevar8x32_epi32(words, order));
        int halves[2];
        for (int h = 0; h < 2; h++) {
            __m256i pair = _mm256_add_epi32(n[2 * h], n[2 * h + 1]);
            __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(pair), _mm256_extracti128_si256(pair, 1));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, _MM_SHUFFLE(1, 0, 3, 2)));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, _MM_SHUFFLE(2, 3, 0, 1)));
            halves[h] = _mm_cvtsi128_si32(t4);
        }
        float d = skiff_half_to_float(skiff_float_to_half(amax / 127.0f));
        scales[b] = d;
        sums[b] = d * (float)(halves[0] + halves[1]);
        half_sums[2 * b] = (int16_t)halves[0];
        half_sums[2 * b + 1] = (int16_t)halves[1];
    }
}
#endif

typedef void (*quantize_row_fn)(const float *, int8_t *, float *, float *, int16_t *, int64_t);

typedef struct {
    const float *x;
    int64_t stride;
    skiff_q8_activations *out;
    quantize_row_fn row;
} quantize_args;

static void quantize_task(void *context, int thread_index, int thread_count) {
    const quantize_args *a = context;
    int64_t tokens = a->out->tokens;
    int64_t begin = tokens * thread_index / thread_count;
    int64_t end = tokens * (thread_index + 1) / thread_count;
    int64_t columns = a->out->columns;
    int64_t blocks = columns / SKIFF_BLOCK;
    for (int64_t t = begin; t < end; t++) {
        a->row(a->x + t * a->stride, a->out->values + t * columns, a->out->scales + t * blocks,
               a->out->sums + t * blocks, a->out->half_sums + t * 2 * blocks, columns);
    }
}

void skiff_quantize_activations(skiff_pool *pool, const float *x, int64_t stride, skiff_q8_activations *out) {
    // The caller's instruction set decides (workers do not see a per-thread choice).
#if defined(__x86_64__)
    quantize_row_fn row = skiff_active_isa() >= SKIFF_ISA_AVX2 ? quantize_row_avx2 : quantize_row;
#else
    quantize_row_fn row = quantize_row;
#endif
    quantize_args args = {x, stride, out, row};
    if (out->tokens < 4) quantize_task(&args, 0, 1);
    else skiff_pool_run(pool, quantize_task, &args);
}
