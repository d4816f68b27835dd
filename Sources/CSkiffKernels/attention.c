// Attention of query tokens over their sequences' paged KV cache (keys and values in IEEE half).
//
// Each work unit is one query token and one KV head with the query heads that share it. The context is
// walked 16 positions at a time with an online softmax (running maximum and sum), so no score buffer
// proportional to the context is needed and keys/values are read once per unit.
#include "internal.h"
#include "vector_math.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Positions handled per step (a key block's transposed rows hold this many slots side by side).
#define SPAN 16
/// Query heads sharing a KV head that one pass handles; more are done in further passes.
#define MAX_GROUP 8
/// Largest head dimension supported.
#define MAX_HEAD_DIM 512

void skiff_kv_store(const skiff_kv_layer *layer, int32_t block, int32_t slot, const float *k, const float *v) {
    const int64_t d = layer->head_dim;
    const int64_t bs = layer->block_size;
    for (int32_t h = 0; h < layer->kv_heads; h++) {
        size_t head = (size_t)block * layer->kv_heads + h;
        uint16_t *kt = layer->keys + head * (size_t)(d * bs) + slot;
        for (int64_t i = 0; i < d; i++) kt[i * bs] = skiff_float_to_half(k[h * d + i]);
        skiff_f32_to_f16(v + h * d, layer->values + (head * (size_t)bs + (size_t)slot) * (size_t)d, (size_t)d);
    }
}

/// One unit: `group` query heads (q, out: group × head_dim) over positions first ..< n of one KV head.
typedef struct {
    const skiff_kv_layer *layer;
    const int32_t *block_table;
    int64_t first;
    int64_t n;
    int64_t kv_head;
    const float *q;
    float *out;
    int64_t group;
    float scale;
} attention_unit;

// MARK: - Portable

static void attend_portable(const attention_unit *u) {
    const skiff_kv_layer *layer = u->layer;
    const int64_t d = layer->head_dim;
    const int64_t bs = layer->block_size;
    float maximum[MAX_GROUP], sum[MAX_GROUP];
    for (int64_t h = 0; h < u->group; h++) {
        maximum[h] = -INFINITY;
        sum[h] = 0;
        memset(u->out + h * d, 0, (size_t)d * sizeof(float));
    }
    for (int64_t p0 = u->first - u->first % SPAN; p0 < u->n; p0 += SPAN) {
        int64_t span = u->n - p0 < SPAN ? u->n - p0 : SPAN;
        int64_t skip = u->first > p0 ? u->first - p0 : 0;
        size_t head = (size_t)u->block_table[p0 / bs] * layer->kv_heads + u->kv_head;
        const uint16_t *kt = layer->keys + head * (size_t)(d * bs) + p0 % bs;
        const uint16_t *vt = layer->values + (head * (size_t)bs + (size_t)(p0 % bs)) * (size_t)d;
        for (int64_t h = 0; h < u->group; h++) {
            float s[SPAN];
            float block_max = -INFINITY;
            for (int64_t j = skip; j < span; j++) {
                float dot = 0;
                for (int64_t i = 0; i < d; i++) dot += u->q[h * d + i] * skiff_half_to_float(kt[i * bs + j]);
                s[j] = dot * u->scale;
                if (s[j] > block_max) block_max = s[j];
            }
            float new_max = block_max > maximum[h] ? block_max : maximum[h];
            float correction = expf(maximum[h] - new_max);
            maximum[h] = new_max;
            sum[h] *= correction;
            float *o = u->out + h * d;
            for (int64_t i = 0; i < d; i++) o[i] *= correction;
            for (int64_t j = skip; j < span; j++) {
                float p = expf(s[j] - new_max);
                sum[h] += p;
                for (int64_t i = 0; i < d; i++) o[i] += p * skiff_half_to_float(vt[j * d + i]);
            }
        }
    }
    for (int64_t h = 0; h < u->group; h++) {
        float inverse = 1.0f / sum[h];
        for (int64_t i = 0; i < d; i++) u->out[h * d + i] *= inverse;
    }
}

#if defined(__x86_64__)

// MARK: - AVX-512


/// One KV head's attention for its `group` query heads. Inlined with `group` a constant, so that the
/// per-head scores and value sums live in registers.
static inline __attribute__((always_inline)) TARGET_AVX512 void attend_avx512_group(const attention_unit *u,
                                                                                  const int64_t group) {
    const skiff_kv_layer *layer = u->layer;
    const int64_t d = layer->head_dim;
    const int64_t bs = layer->block_size;
    float maximum[MAX_GROUP], sum[MAX_GROUP];
    for (int64_t h = 0; h < group; h++) {
        maximum[h] = -INFINITY;
        sum[h] = 0;
        memset(u->out + h * d, 0, (size_t)d * sizeof(float));
    }
    for (int64_t p0 = u->first - u->first % SPAN; p0 < u->n; p0 += SPAN) {
        int64_t span = u->n - p0 < SPAN ? u->n - p0 : SPAN;
        int64_t skip = u->first > p0 ? u->first - p0 : 0;
        __mmask16 valid = (__mmask16)(((1u << span) - 1) & ~((1u << skip) - 1));
        size_t head = (size_t)u->block_table[p0 / bs] * layer->kv_heads + u->kv_head;
        const uint16_t *kt = layer->keys + head * (size_t)(d * bs) + p0 % bs;
        const uint16_t *vt = layer->values + (head * (size_t)bs + (size_t)(p0 % bs)) * (size_t)d;

        // Scores of 16 positions for every head: one pass over the transposed keys.
        __m512 s[MAX_GROUP];
        for (int64_t h = 0; h < group; h++) s[h] = _mm512_setzero_ps();
        for (int64_t i = 0; i < d; i++) {
            __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kt + i * bs)));
            for (int64_t h = 0; h < group; h++) s[h] = _mm512_fmadd_ps(_mm512_set1_ps(u->q[h * d + i]), k, s[h]);
        }
        float probabilities[MAX_GROUP][SPAN];
        for (int64_t h = 0; h < group; h++) {
            __m512 scores = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), valid, _mm512_mul_ps(s[h], _mm512_set1_ps(u->scale)));
            float block_max = _mm512_reduce_max_ps(scores);
            float new_max = block_max > maximum[h] ? block_max : maximum[h];
            float correction = expf(maximum[h] - new_max);
            maximum[h] = new_max;
            __m512 p = _mm512_maskz_mov_ps(valid, exp_avx512(_mm512_sub_ps(scores, _mm512_set1_ps(new_max))));
            sum[h] = sum[h] * correction + _mm512_reduce_add_ps(p);
            _mm512_storeu_ps(probabilities[h], p);
            if (correction != 1.0f) {
                float *o = u->out + h * d;
                __m512 c = _mm512_set1_ps(correction);
                for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), c));
            }
        }
        // Weighted values, 16 dimensions at a time with every head's sums in registers: each value row is
        // read once for all heads, and each output element still adds the positions in order.
        for (int64_t i = 0; i < d; i += 16) {
            __m512 acc[MAX_GROUP];
            for (int64_t h = 0; h < group; h++) acc[h] = _mm512_loadu_ps(u->out + h * d + i);
            for (int64_t j = skip; j < span; j++) {
                __m512 vv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vt + j * d + i)));
                for (int64_t h = 0; h < group; h++) acc[h] = _mm512_fmadd_ps(_mm512_set1_ps(probabilities[h][j]), vv, acc[h]);
            }
            for (int64_t h = 0; h < group; h++) _mm512_storeu_ps(u->out + h * d + i, acc[h]);
        }
    }
    for (int64_t h = 0; h < group; h++) {
        __m512 inverse = _mm512_set1_ps(1.0f / sum[h]);
        float *o = u->out + h * d;
        for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), inverse));
    }
}

static TARGET_AVX512 void attend_avx512(const attention_unit *u) {
    switch (u->group) {
    case 1: attend_avx512_group(u, 1); break;
    case 2: attend_avx512_group(u, 2); break;
    case 3: attend_avx512_group(u, 3); break;
    case 4: attend_avx512_group(u, 4); break;
    case 5: attend_avx512_group(u, 5); break;
    case 6: attend_avx512_group(u, 6); break;
    case 7: attend_avx512_group(u, 7); break;
    default: attend_avx512_group(u, u->group); break;
    }
}

// MARK: - AVX2


static inline __attribute__((always_inline)) TARGET_AVX2 float reduce_avx2(__m256 v, int maximum) {
    __m128 s = maximum ? _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))
                       : _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = maximum ? _mm_max_ps(s, _mm_movehl_ps(s, s)) : _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = maximum ? _mm_max_ss(s, _mm_movehdup_ps(s)) : _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static TARGET_AVX2 void attend_avx2(const attention_unit *u) {
    const skiff_kv_layer *layer = u->layer;
    const int64_t d = layer->head_dim;
    const int64_t bs = layer->block_size;
    const int64_t group = u->group;
    float maximum[MAX_GROUP], sum[MAX_GROUP];
    for (int64_t h = 0; h < group; h++) {
        maximum[h] = -INFINITY;
        sum[h] = 0;
        memset(u->out + h * d, 0, (size_t)d * sizeof(float));
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t p0 = u->first - u->first % SPAN; p0 < u->n; p0 += SPAN) {
        int64_t span = u->n - p0 < SPAN ? u->n - p0 : SPAN;
        int64_t skip = u->first > p0 ? u->first - p0 : 0;
        size_t head = (size_t)u->block_table[p0 / bs] * layer->kv_heads + u->kv_head;
        const uint16_t *kt = layer->keys + head * (size_t)(d * bs) + p0 % bs;
        const uint16_t *vt = layer->values + (head * (size_t)bs + (size_t)(p0 % bs)) * (size_t)d;
        __m256 valid[2];
        for (int half = 0; half < 2; half++) {
            __m256i below_end = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)span - 8 * half), lane);
            __m256i from_first = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)skip - 8 * half - 1));
            valid[half] = _mm256_castsi256_ps(_mm256_and_si256(below_end, from_first));
        }
        __m256 s[MAX_GROUP][2];
        for (int64_t h = 0; h < group; h++) s[h][0] = s[h][1] = _mm256_setzero_ps();
        for (int64_t i = 0; i < d; i++) {
            __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i * bs)));
            __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i * bs + 8)));
            for (int64_t h = 0; h < group; h++) {
                __m256 qv = _mm256_set1_ps(u->q[h * d + i]);
                s[h][0] = _mm256_fmadd_ps(qv, k0, s[h][0]);
                s[h][1] = _mm256_fmadd_ps(qv, k1, s[h][1]);
            }
        }
        float probabilities[MAX_GROUP][SPAN];
        for (int64_t h = 0; h < group; h++) {
            __m256 scores[2];
            for (int half = 0; half < 2; half++) {
                scores[half] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_mul_ps(s[h][half], _mm256_set1_ps(u->scale)), valid[half]);
            }
            float block_max = reduce_avx2(_mm256_max_ps(scores[0], scores[1]), 1);
            float new_max = block_max > maximum[h] ? block_max : maximum[h];
            float correction = expf(maximum[h] - new_max);
            maximum[h] = new_max;
            __m256 total = _mm256_setzero_ps();
            for (int half = 0; half < 2; half++) {
                __m256 p = _mm256_and_ps(exp_avx2(_mm256_sub_ps(scores[half], _mm256_set1_ps(new_max))), valid[half]);
                total = _mm256_add_ps(total, p);
                _mm256_storeu_ps(probabilities[h] + 8 * half, p);
            }
            sum[h] = sum[h] * correction + reduce_avx2(total, 0);
            if (correction != 1.0f) {
                float *o = u->out + h * d;
                __m256 c = _mm256_set1_ps(correction);
                for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), c));
            }
        }
        for (int64_t j = skip; j < span; j++) {
            const uint16_t *v = vt + j * d;
            for (int64_t i = 0; i < d; i += 8) {
                __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
                for (int64_t h = 0; h < group; h++) {
                    float *o = u->out + h * d + i;
                    _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(probabilities[h][j]), vv, _mm256_loadu_ps(o)));
                }
            }
        }
    }
    for (int64_t h = 0; h < group; h++) {
        __m256 inverse = _mm256_set1_ps(1.0f / sum[h]);
        float *o = u->out + h * d;
        for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), inverse));
    }
}
#endif

// MARK: - Scheduling

typedef struct {
    const skiff_kv_layer *layer;
    const skiff_attention_query *queries;
    int64_t tokens;
    const float *q;
    int64_t heads;
    float scale;
    float *out;
    void (*attend)(const attention_unit *);
} attention_job;

static void attention_task(void *context, int thread_index, int thread_count) {
    const attention_job *job = context;
    const int64_t kv_heads = job->layer->kv_heads;
    const int64_t d = job->layer->head_dim;
    const int64_t group = job->heads / kv_heads;
    // Units are (token, kv head); balance by attended positions, which grow with the token's context.
    int64_t total = 0;
    for (int64_t t = 0; t < job->tokens; t++) {
        total += (job->queries[t].context_length - job->queries[t].first_position) * kv_heads;
    }
    int64_t begin = total * thread_index / thread_count;
    int64_t end = total * (thread_index + 1) / thread_count;
    int64_t cursor = 0;
    for (int64_t t = 0; t < job->tokens; t++) {
        for (int64_t g = 0; g < kv_heads; g++) {
            int64_t n = job->queries[t].context_length;
            int64_t first = job->queries[t].first_position;
            int64_t mid = cursor + (n - first) / 2;
            cursor += n - first;
            if (mid < begin || mid >= end) continue;
            for (int64_t h0 = 0; h0 < group; h0 += MAX_GROUP) {
                int64_t first_head = g * group + h0;
                attention_unit unit = {
                    .layer = job->layer,
                    .block_table = job->queries[t].block_table,
                    .first = first,
                    .n = n,
                    .kv_head = g,
                    .q = job->q + (t * job->heads + first_head) * d,
                    .out = job->out + (t * job->heads + first_head) * d,
                    .group = group - h0 < MAX_GROUP ? group - h0 : MAX_GROUP,
                    .scale = job->scale,
                };
                job->attend(&unit);
            }
        }
    }
}

int skiff_attention(skiff_pool *pool, const skiff_kv_layer *layer, const skiff_attention_query *queries,
                    int64_t tokens, const float *q, int64_t heads, float scale, float *out) {
    if (layer->block_size % SPAN != 0 || layer->head_dim > MAX_HEAD_DIM || layer->head_dim % 16 != 0 ||
        heads % layer->kv_heads != 0) {
        return -1;
    }
    attention_job job = {layer, queries, tokens, q, heads, scale, out, attend_portable};
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI: job.attend = attend_avx512; break;
    case SKIFF_ISA_AVX2: job.attend = attend_avx2; break;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    skiff_pool_run(pool, attention_task, &job);
    return 0;
}
