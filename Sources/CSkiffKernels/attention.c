// Attention of query tokens over their sequences' paged KV cache (keys and values in IEEE half).
#include "internal.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

void skiff_kv_store(const skiff_kv_layer *layer, int32_t block, int32_t slot, const float *k, const float *v) {
    for (int32_t h = 0; h < layer->kv_heads; h++) {
        size_t offset = (((size_t)block * layer->kv_heads + h) * layer->block_size + slot) * layer->head_dim;
        skiff_f32_to_f16(k + (size_t)h * layer->head_dim, layer->keys + offset, (size_t)layer->head_dim);
        skiff_f32_to_f16(v + (size_t)h * layer->head_dim, layer->values + offset, (size_t)layer->head_dim);
    }
}

// MARK: - Vector primitives (q · k and acc += p * v over half-precision rows)

typedef float (*dot_fn)(const float *q, const uint16_t *k, int64_t n);
typedef void (*axpy_fn)(float *acc, float p, const uint16_t *v, int64_t n);

static float dot_portable(const float *q, const uint16_t *k, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += q[i] * skiff_half_to_float(k[i]);
    return sum;
}

static void axpy_portable(float *acc, float p, const uint16_t *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc[i] += p * skiff_half_to_float(v[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static float dot_avx2(const float *q, const uint16_t *k, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float sum = _mm_cvtss_f32(s);
    for (; i < n; i++) sum += q[i] * skiff_half_to_float(k[i]);
    return sum;
}

__attribute__((target("avx2,fma,f16c")))
static void axpy_avx2(float *acc, float p, const uint16_t *v, int64_t n) {
    __m256 pv = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(pv, x, _mm256_loadu_ps(acc + i)));
    }
    for (; i < n; i++) acc[i] += p * skiff_half_to_float(v[i]);
}

__attribute__((target("avx512f,fma,f16c")))
static float dot_avx512(const float *q, const uint16_t *k, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i))), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    for (; i < n; i++) sum += q[i] * skiff_half_to_float(k[i]);
    return sum;
}

__attribute__((target("avx512f,fma,f16c")))
static void axpy_avx512(float *acc, float p, const uint16_t *v, int64_t n) {
    __m512 pv = _mm512_set1_ps(p);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i)));
        _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(pv, x, _mm512_loadu_ps(acc + i)));
    }
    for (; i < n; i++) acc[i] += p * skiff_half_to_float(v[i]);
}
#endif

// MARK: - Attention

typedef struct {
    const skiff_kv_layer *layer;
    const skiff_attention_query *queries;
    int64_t tokens;
    const float *q;
    int64_t heads;
    float scale;
    float *out;
    float *scratch;          // per thread: group × max_context scores
    int64_t max_context;
    dot_fn dot;
    axpy_fn axpy;
} attention_job;

static void attend(const attention_job *job, int64_t t, int64_t g, float *scores) {
    const skiff_kv_layer *layer = job->layer;
    const int64_t d = layer->head_dim;
    const int64_t group = job->heads / layer->kv_heads;
    const int64_t bs = layer->block_size;
    const int64_t n = job->queries[t].context_length;
    const int32_t *table = job->queries[t].block_table;
    const float *q = job->q + (t * job->heads + g * group) * d;
    float *out = job->out + (t * job->heads + g * group) * d;

    for (int64_t p = 0; p < n; p++) {
        const uint16_t *k = layer->keys + (((size_t)table[p / bs] * layer->kv_heads + g) * bs + p % bs) * d;
        for (int64_t h = 0; h < group; h++) scores[h * n + p] = job->dot(q + h * d, k, d) * job->scale;
    }
    for (int64_t h = 0; h < group; h++) {
        float *s = scores + h * n;
        float max = -INFINITY;
        for (int64_t p = 0; p < n; p++) max = s[p] > max ? s[p] : max;
        float sum = 0;
        for (int64_t p = 0; p < n; p++) {
            s[p] = expf(s[p] - max);
            sum += s[p];
        }
        float inv = 1.0f / sum;
        for (int64_t p = 0; p < n; p++) s[p] *= inv;
        memset(out + h * d, 0, (size_t)d * sizeof(float));
    }
    for (int64_t p = 0; p < n; p++) {
        const uint16_t *v = layer->values + (((size_t)table[p / bs] * layer->kv_heads + g) * bs + p % bs) * d;
        for (int64_t h = 0; h < group; h++) job->axpy(out + h * d, scores[h * n + p], v, d);
    }
}

static void attention_task(void *context, int thread_index, int thread_count) {
    const attention_job *job = context;
    int64_t units = job->tokens * job->layer->kv_heads;
    int64_t begin = units * thread_index / thread_count;
    int64_t end = units * (thread_index + 1) / thread_count;
    float *scores = job->scratch + (size_t)thread_index * (size_t)(job->heads / job->layer->kv_heads) * (size_t)job->max_context;
    for (int64_t u = begin; u < end; u++) attend(job, u / job->layer->kv_heads, u % job->layer->kv_heads, scores);
}

int skiff_attention(skiff_pool *pool, const skiff_kv_layer *layer, const skiff_attention_query *queries,
                     int64_t tokens, const float *q, int64_t heads, float scale, float *out) {
    int64_t max_context = 1;
    for (int64_t t = 0; t < tokens; t++) {
        if (queries[t].context_length > max_context) max_context = queries[t].context_length;
    }
    int threads = skiff_pool_thread_count(pool);
    int64_t group = heads / layer->kv_heads;
    float *scratch = malloc((size_t)threads * (size_t)group * (size_t)max_context * sizeof(float));
    if (!scratch) return -1;
    attention_job job = {layer, queries, tokens, q, heads, scale, out, scratch, max_context, dot_portable, axpy_portable};
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI: job.dot = dot_avx512; job.axpy = axpy_avx512; break;
    case SKIFF_ISA_AVX2: job.dot = dot_avx2; job.axpy = axpy_avx2; break;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    skiff_pool_run(pool, attention_task, &job);
    free(scratch);
    return 0;
}
