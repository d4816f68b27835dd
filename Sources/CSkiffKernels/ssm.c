// Mamba-2's state-space operations (and Llamba's variants of them): the causal convolution with its
// rolling state, the selective scan, the gated group norm and the plain output gate.
#include "internal.h"
#include "vector_math.h"

#include <math.h>
#include <stdlib.h>
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

/// Tokens per chunk of the chunked scan.
#define SCAN_CHUNK 64
/// A sequence needs this many tokens in the batch before its scan goes by chunks (decoding goes token by token).
#define SCAN_CHUNK_MIN 16

/// What the heads of one group share in one chunk of one sequence: Cᵀ (state_size × SCAN_CHUNK) and
/// Gᵀ = B Cᵀ (SCAN_CHUNK × SCAN_CHUNK, on and above the diagonal: Gᵀ[k][t] = B_k · C_t for k <= t).
typedef struct {
    float *ct;
    float *gt;
} chunk_shared;

/// One thread's working memory for a chunk of one head.
typedef struct {
    float *yt;   // head_dim × SCAN_CHUNK: the chunk's outputs, transposed
    float *wt;   // SCAN_CHUNK × SCAN_CHUNK: the weights between its tokens, transposed
    float *bs;   // SCAN_CHUNK × state_size: B weighted by each token's share of the new state
    float row[SCAN_CHUNK];
    float log_decay[SCAN_CHUNK];
    float scale[SCAN_CHUNK];
} chunk_scratch;

struct scan_job;
/// A chunk of one sequence's tokens through one head.
typedef void (*scan_chunk_fn)(const struct scan_job *job, const skiff_ssm_sequence *s, int64_t h, int64_t first, int64_t q,
                              const chunk_shared *shared, chunk_scratch *m);
/// The shared part of a chunk of one sequence's tokens for one group.
typedef void (*scan_shared_fn)(const struct scan_job *job, const skiff_ssm_sequence *s, int64_t g, int64_t first, int64_t q,
                               const chunk_shared *shared);

typedef struct scan_job {
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
    scan_chunk_fn chunk_fn;
    scan_shared_fn shared_fn;
    /// Per sequence, its first chunk's index in `shared` (each chunk has `groups` entries); -1: token by token.
    int64_t *first_chunk;
    /// Chunks of all sequences that go by chunks, × groups; NULL: every sequence goes token by token.
    chunk_shared *shared;
    int64_t chunk_count;
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

/// A sequence's tokens through head `h`, one step of the recurrence each.
static void scan_tokens(const scan_job *job, const skiff_ssm_sequence *s, int64_t h) {
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
            y[p] = job->row_fn(s->ssm_state + (h * hd + p) * n, b, c, decay, job->scale_by_dt ? x[p] * dt : x[p], n) + job->d[h] * x[p];
        }
    }
}

// MARK: Chunked scan (prefill)

enum { TILE_ROWS = 4, TILE_COLUMNS = 32 };

/// One 4 × 32 tile of `small_gemm`: out = (accumulate ? out : 0) + a b over `depth`, a's element (i, k) at
/// a[i·a_row + k·a_step].
typedef void (*gemm_tile_fn)(const float *a, int64_t a_row, int64_t a_step, const float *b, int64_t ldb, float *out, int64_t ldo,
                             int64_t depth, int accumulate);

static inline __attribute__((always_inline)) void gemm_tile_body(const float *restrict a, int64_t a_row, int64_t a_step,
                                                                 const float *restrict b, int64_t ldb, float *restrict out, int64_t ldo,
                                                                 int64_t depth, int accumulate) {
    float acc[TILE_ROWS][TILE_COLUMNS];
    for (int i = 0; i < TILE_ROWS; i++) {
        for (int j = 0; j < TILE_COLUMNS; j++) acc[i][j] = accumulate ? out[i * ldo + j] : 0.0f;
    }
    for (int64_t k = 0; k < depth; k++) {
        const float *restrict bk = b + k * ldb;
        for (int i = 0; i < TILE_ROWS; i++) {
            const float ai = a[i * a_row + k * a_step];
            for (int j = 0; j < TILE_COLUMNS; j++) acc[i][j] += ai * bk[j];
        }
    }
    for (int i = 0; i < TILE_ROWS; i++) {
        for (int j = 0; j < TILE_COLUMNS; j++) out[i * ldo + j] = acc[i][j];
    }
}

/// out[r][c] = (accumulate ? out[r][c] : 0) + Σ_k a(r, k) b[k][c] for r < rows, c < cols, k < depth, where
/// a(r, k) = a[r·a_row + k·a_step] (so a may be read transposed) and b and out are row-major: whole 4 × 32
/// tiles by `tile`, the edges as row-by-row axpys, which the compiler vectorizes for the instruction set of
/// the chunk function this is inlined in.
static inline __attribute__((always_inline)) void small_gemm(const float *restrict a, int64_t a_row, int64_t a_step, const float *restrict b,
                                                             int64_t ldb, float *restrict out, int64_t ldo, int64_t rows, int64_t cols,
                                                             int64_t depth, int accumulate, gemm_tile_fn tile) {
    int64_t r = 0;
    for (; r + TILE_ROWS <= rows; r += TILE_ROWS) {
        int64_t c = 0;
        for (; c + TILE_COLUMNS <= cols; c += TILE_COLUMNS) tile(a + r * a_row, a_row, a_step, b + c, ldb, out + r * ldo + c, ldo, depth, accumulate);
        if (c < cols) {
            for (int i = 0; i < TILE_ROWS; i++) {
                float *restrict o = out + (r + i) * ldo;
                if (!accumulate) for (int64_t j = c; j < cols; j++) o[j] = 0.0f;
                for (int64_t k = 0; k < depth; k++) {
                    const float ai = a[(r + i) * a_row + k * a_step];
                    const float *restrict bk = b + k * ldb;
                    for (int64_t j = c; j < cols; j++) o[j] += ai * bk[j];
                }
            }
        }
    }
    for (; r < rows; r++) {
        float *restrict o = out + r * ldo;
        if (!accumulate) for (int64_t j = 0; j < cols; j++) o[j] = 0.0f;
        for (int64_t k = 0; k < depth; k++) {
            const float ai = a[r * a_row + k * a_step];
            const float *restrict bk = b + k * ldb;
            for (int64_t j = 0; j < cols; j++) o[j] += ai * bk[j];
        }
    }
}

/// out[i] = e^{in[i]} for in[i] <= 0, per instruction set.
typedef void (*exp_row_fn)(float *out, const float *in, int64_t n);

/// What a group's heads share in a chunk: Cᵀ, and Gᵀ = B Cᵀ on and above the diagonal (whole 32-column tiles
/// from the one holding the diagonal).
static inline __attribute__((always_inline)) void scan_shared_body(const scan_job *job, const skiff_ssm_sequence *s, int64_t g,
                                                                   int64_t first, int64_t q, const chunk_shared *shared,
                                                                   gemm_tile_fn tile) {
    const int64_t n = job->state_size, stride = job->stride, row0 = s->first + first;
    const float *b = job->b + row0 * stride + g * n, *c = job->c + row0 * stride + g * n;
    // A short chunk's columns are padded with zeros to whole tiles, which the products then take whole.
    const int64_t padded = (q + TILE_COLUMNS - 1) / TILE_COLUMNS * TILE_COLUMNS;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t t = 0; t < q; t++) shared->ct[i * SCAN_CHUNK + t] = c[t * stride + i];
        for (int64_t t = q; t < padded; t++) shared->ct[i * SCAN_CHUNK + t] = 0.0f;
    }
    for (int64_t k = 0; k < q; k += TILE_ROWS) {
        const int64_t rows = q - k < TILE_ROWS ? q - k : TILE_ROWS, from = k / TILE_COLUMNS * TILE_COLUMNS;
        small_gemm(b + k * stride, stride, 1, shared->ct + from, SCAN_CHUNK, shared->gt + k * SCAN_CHUNK + from, SCAN_CHUNK,
                   rows, padded - from, n, 0, tile);
    }
}

/// The SSD form of the scan over `q` tokens from `first` (Dao and Gu, 2024): with L_t the running sum of
/// dt·a over the chunk, u_t the input scale and S₀ the state before it,
///   y_t = e^{L_t} C_t·S₀ + Σ_{k≤t} (B_k·C_t) e^{L_t − L_k} u_k x_k + D x_t,
///   S = e^{L_last} S₀ + Σ_k e^{L_last − L_k} u_k x_k B_kᵀ,
/// which is q steps of the recurrence as three small matrix products per head (`small_gemm`), computed
/// transposed (yᵀ = S₀ Cᵀ + Xᵀ Wᵀ) so that no operand needs copying but Cᵀ and B Cᵀ, which the group's heads
/// share (`scan_shared_body`).
static inline __attribute__((always_inline)) void scan_chunk_body(const scan_job *job, const skiff_ssm_sequence *s, int64_t h,
                                                                  int64_t first, int64_t q, const chunk_shared *shared,
                                                                  chunk_scratch *m, exp_row_fn exp_row, gemm_tile_fn tile) {
    const int64_t hd = job->head_dim, n = job->state_size, stride = job->stride;
    const int64_t g = h / (job->heads / job->groups), row0 = s->first + first;
    const float *x = job->x + row0 * stride + h * hd, *b = job->b + row0 * stride + g * n;
    float *y = job->y + row0 * job->y_stride + h * hd;
    float *restrict state = s->ssm_state + h * hd * n;
    float running = 0.0f;
    for (int64_t t = 0; t < q; t++) {
        const float dt = softplus(job->dt_raw[(row0 + t) * stride + h] + job->dt_bias[h]);
        running += dt * job->a[h];
        m->log_decay[t] = running;
        m->scale[t] = job->scale_by_dt ? dt : 1.0f;
    }
    // yᵀ = S₀ Cᵀ, column t scaled by e^{L_t} (columns past q, of Cᵀ's zero padding, are computed and unused).
    const int64_t padded = (q + TILE_COLUMNS - 1) / TILE_COLUMNS * TILE_COLUMNS;
    small_gemm(state, n, 1, shared->ct, SCAN_CHUNK, m->yt, SCAN_CHUNK, hd, padded, n, 0, tile);
    exp_row(m->row, m->log_decay, q);
    for (int64_t p = 0; p < hd; p++) {
        for (int64_t t = 0; t < q; t++) m->yt[p * SCAN_CHUNK + t] *= m->row[t];
    }
    // Wᵀ[k][t] = Gᵀ[k][t] e^{L_t − L_k} u_k for t >= k, then yᵀ += Xᵀ Wᵀ (a column tile needs the tokens up to its last).
    for (int64_t k = 0; k < q; k++) {
        float *restrict w = m->wt + k * SCAN_CHUNK;
        const float *restrict gk = shared->gt + k * SCAN_CHUNK;
        for (int64_t t = 0; t < k; t++) w[t] = 0.0f;
        for (int64_t t = k; t < q; t++) m->row[t] = m->log_decay[t] - m->log_decay[k];
        exp_row(m->row + k, m->row + k, q - k);
        for (int64_t t = k; t < q; t++) w[t] = gk[t] * m->row[t] * m->scale[k];
        for (int64_t t = q; t < padded; t++) w[t] = 0.0f;
    }
    for (int64_t from = 0; from < q; from += TILE_COLUMNS) {
        const int64_t depth = q - from < TILE_COLUMNS ? q : from + TILE_COLUMNS;
        small_gemm(x, 1, stride, m->wt + from, SCAN_CHUNK, m->yt + from, SCAN_CHUNK, hd, TILE_COLUMNS, depth, 1, tile);
    }
    for (int64_t t = 0; t < q; t++) {
        for (int64_t p = 0; p < hd; p++) y[t * job->y_stride + p] = m->yt[p * SCAN_CHUNK + t] + job->d[h] * x[t * stride + p];
    }
    // S = e^{L_last} S₀ + Xᵀ (B weighted by e^{L_last − L_k} u_k).
    const float last = m->log_decay[q - 1];
    for (int64_t k = 0; k < q; k++) m->row[k] = last - m->log_decay[k];
    exp_row(m->row, m->row, q);
    for (int64_t k = 0; k < q; k++) {
        const float weight = m->row[k] * m->scale[k];
        for (int64_t i = 0; i < n; i++) m->bs[k * n + i] = weight * b[k * stride + i];
    }
    float carried;
    exp_row(&carried, &last, 1);
    for (int64_t e = 0; e < hd * n; e++) state[e] *= carried;
    small_gemm(x, 1, stride, m->bs, n, state, n, hd, n, q, 1, tile);
}

static void exp_row_portable(float *out, const float *in, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = expf(in[i]);
}

static void gemm_tile_portable(const float *a, int64_t a_row, int64_t a_step, const float *b, int64_t ldb, float *out, int64_t ldo,
                               int64_t depth, int accumulate) {
    gemm_tile_body(a, a_row, a_step, b, ldb, out, ldo, depth, accumulate);
}

static void scan_shared_portable(const scan_job *job, const skiff_ssm_sequence *s, int64_t g, int64_t first, int64_t q,
                                 const chunk_shared *shared) {
    scan_shared_body(job, s, g, first, q, shared, gemm_tile_portable);
}

static void scan_chunk_portable(const scan_job *job, const skiff_ssm_sequence *s, int64_t h, int64_t first, int64_t q,
                                const chunk_shared *shared, chunk_scratch *m) {
    scan_chunk_body(job, s, h, first, q, shared, m, exp_row_portable, gemm_tile_portable);
}

#if defined(__x86_64__)
static TARGET_AVX512 void exp_row_avx512(float *out, const float *in, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, exp_avx512(_mm512_loadu_ps(in + i)));
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, mask, exp_avx512(_mm512_maskz_loadu_ps(mask, in + i)));
    }
}

/// The 4 × 32 tile in eight registers: per step of k, two loads of b, four broadcasts of a, eight FMAs.
static TARGET_AVX512 void gemm_tile_avx512(const float *a, int64_t a_row, int64_t a_step, const float *b, int64_t ldb, float *out,
                                           int64_t ldo, int64_t depth, int accumulate) {
    __m512 acc[TILE_ROWS][2];
    for (int i = 0; i < TILE_ROWS; i++) {
        acc[i][0] = accumulate ? _mm512_loadu_ps(out + i * ldo) : _mm512_setzero_ps();
        acc[i][1] = accumulate ? _mm512_loadu_ps(out + i * ldo + 16) : _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < depth; k++) {
        const __m512 b0 = _mm512_loadu_ps(b + k * ldb), b1 = _mm512_loadu_ps(b + k * ldb + 16);
        for (int i = 0; i < TILE_ROWS; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * a_row + k * a_step]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < TILE_ROWS; i++) {
        _mm512_storeu_ps(out + i * ldo, acc[i][0]);
        _mm512_storeu_ps(out + i * ldo + 16, acc[i][1]);
    }
}

static TARGET_AVX512 void scan_shared_avx512(const scan_job *job, const skiff_ssm_sequence *s, int64_t g, int64_t first, int64_t q,
                                             const chunk_shared *shared) {
    scan_shared_body(job, s, g, first, q, shared, gemm_tile_avx512);
}

static TARGET_AVX512 void scan_chunk_avx512(const scan_job *job, const skiff_ssm_sequence *s, int64_t h, int64_t first, int64_t q,
                                            const chunk_shared *shared, chunk_scratch *m) {
    scan_chunk_body(job, s, h, first, q, shared, m, exp_row_avx512, gemm_tile_avx512);
}

static TARGET_AVX2 void exp_row_avx2(float *out, const float *in, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp_avx2(_mm256_loadu_ps(in + i)));
    for (; i < n; i++) out[i] = expf(in[i]);
}

static TARGET_AVX2 void gemm_tile_avx2(const float *a, int64_t a_row, int64_t a_step, const float *b, int64_t ldb, float *out,
                                       int64_t ldo, int64_t depth, int accumulate) {
    gemm_tile_body(a, a_row, a_step, b, ldb, out, ldo, depth, accumulate);
}

static TARGET_AVX2 void scan_shared_avx2(const scan_job *job, const skiff_ssm_sequence *s, int64_t g, int64_t first, int64_t q,
                                         const chunk_shared *shared) {
    scan_shared_body(job, s, g, first, q, shared, gemm_tile_avx2);
}

static TARGET_AVX2 void scan_chunk_avx2(const scan_job *job, const skiff_ssm_sequence *s, int64_t h, int64_t first, int64_t q,
                                        const chunk_shared *shared, chunk_scratch *m) {
    scan_chunk_body(job, s, h, first, q, shared, m, exp_row_avx2, gemm_tile_avx2);
}
#endif

/// The scan's functions (token step, chunk, shared part of a chunk) for the calling thread's instruction set.
static void choose_scan_kernels(scan_job *job) {
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI:
        job->row_fn = scan_row_avx512, job->chunk_fn = scan_chunk_avx512, job->shared_fn = scan_shared_avx512;
        return;
    case SKIFF_ISA_AVX2:
        job->row_fn = scan_row_avx2, job->chunk_fn = scan_chunk_avx2, job->shared_fn = scan_shared_avx2;
        return;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    job->row_fn = scan_row_portable, job->chunk_fn = scan_chunk_portable, job->shared_fn = scan_shared_portable;
}

/// Whether sequence `index` goes by chunks: it has enough tokens in the batch (prefill) and its shared
/// working memory was had.
static int by_chunks(const scan_job *job, int64_t index) { return job->shared != NULL && job->first_chunk[index] >= 0; }

/// First phase: Cᵀ and B Cᵀ of every chunk of every sequence that goes by chunks, for every group.
static void shared_task(void *context, int thread_index, int thread_count) {
    const scan_job *job = context;
    int64_t units = job->chunk_count * job->groups;
    int64_t begin = units * thread_index / thread_count, end = units * (thread_index + 1) / thread_count;
    for (int64_t unit = begin; unit < end; unit++) {
        const int64_t chunk = unit / job->groups, g = unit % job->groups;
        // The sequence the chunk belongs to: the last whose first chunk is not after it.
        int64_t owner = 0;
        for (int64_t i = 0; i < job->sequence_count; i++) {
            if (job->first_chunk[i] >= 0 && job->first_chunk[i] <= chunk) owner = i;
        }
        const skiff_ssm_sequence *s = &job->sequences[owner];
        const int64_t first = (chunk - job->first_chunk[owner]) * SCAN_CHUNK;
        const int64_t q = s->count - first < SCAN_CHUNK ? s->count - first : SCAN_CHUNK;
        job->shared_fn(job, s, g, first, q, &job->shared[unit]);
    }
}

/// Second phase: every sequence through every head, by chunks or token by token.
static void scan_task(void *context, int thread_index, int thread_count) {
    const scan_job *job = context;
    int64_t units = job->sequence_count * job->heads;
    int64_t begin = units * thread_index / thread_count, end = units * (thread_index + 1) / thread_count;
    chunk_scratch scratch;
    scratch.yt = NULL;
    for (int64_t unit = begin; unit < end; unit++) {
        if (by_chunks(job, unit / job->heads)) {
            const int64_t n = job->state_size, hd = job->head_dim;
            scratch.yt = malloc(sizeof(float) * (size_t)(hd * SCAN_CHUNK + SCAN_CHUNK * SCAN_CHUNK + SCAN_CHUNK * n));
            if (scratch.yt) {
                scratch.wt = scratch.yt + hd * SCAN_CHUNK;
                scratch.bs = scratch.wt + SCAN_CHUNK * SCAN_CHUNK;
            }
            break;
        }
    }
    for (int64_t unit = begin; unit < end; unit++) {
        const int64_t index = unit / job->heads, h = unit % job->heads;
        const skiff_ssm_sequence *s = &job->sequences[index];
        // The chunked form's exponentials assume the head decays (a <= 0).
        if (!by_chunks(job, index) || scratch.yt == NULL || !(job->a[h] <= 0.0f)) {
            scan_tokens(job, s, h);
            continue;
        }
        const int64_t g = h / (job->heads / job->groups);
        for (int64_t first = 0, chunk = job->first_chunk[index]; first < s->count; first += SCAN_CHUNK, chunk++) {
            const int64_t q = s->count - first < SCAN_CHUNK ? s->count - first : SCAN_CHUNK;
            job->chunk_fn(job, s, h, first, q, &job->shared[chunk * job->groups + g], &scratch);
        }
    }
    free(scratch.yt);
}

int skiff_ssm_scan(skiff_pool *pool, const skiff_ssm_sequence *sequences, int64_t sequence_count,
                   const float *x, const float *b, const float *c, const float *dt_raw, int64_t stride,
                   const float *a, const float *d, const float *dt_bias, int scale_by_dt,
                   int64_t heads, int64_t head_dim, int64_t groups, int64_t state_size, float *y, int64_t y_stride) {
    if (groups < 1 || heads % groups != 0) return -1;
    // The instruction set is chosen here, on the calling thread, so the pool's workers follow it.
    scan_job job = {sequences, sequence_count, x, b, c, dt_raw, stride, a, d, dt_bias, scale_by_dt, heads, head_dim, groups, state_size,
                    y, y_stride, NULL, NULL, NULL, NULL, NULL, 0};
    choose_scan_kernels(&job);
    // Number the chunks of the sequences long enough to go by them; their shared parts come first.
    int64_t *first_chunk = malloc(sizeof(int64_t) * (size_t)(sequence_count > 0 ? sequence_count : 1));
    if (first_chunk) {
        for (int64_t i = 0; i < sequence_count; i++) {
            first_chunk[i] = sequences[i].count >= SCAN_CHUNK_MIN ? job.chunk_count : -1;
            if (first_chunk[i] >= 0) job.chunk_count += (sequences[i].count + SCAN_CHUNK - 1) / SCAN_CHUNK;
        }
    }
    float *shared_memory = NULL;
    if (first_chunk && job.chunk_count > 0) {
        const size_t per = (size_t)(state_size * SCAN_CHUNK + SCAN_CHUNK * SCAN_CHUNK);
        shared_memory = malloc(sizeof(float) * per * (size_t)(job.chunk_count * groups));
        job.shared = shared_memory ? malloc(sizeof(chunk_shared) * (size_t)(job.chunk_count * groups)) : NULL;
        if (job.shared) {
            for (int64_t u = 0; u < job.chunk_count * groups; u++) {
                job.shared[u].ct = shared_memory + (size_t)u * per;
                job.shared[u].gt = job.shared[u].ct + state_size * SCAN_CHUNK;
            }
            job.first_chunk = first_chunk;
            skiff_pool_run(pool, shared_task, &job);
        }
    }
    skiff_pool_run(pool, scan_task, &job);
    free(job.shared);
    free(shared_memory);
    free(first_chunk);
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
