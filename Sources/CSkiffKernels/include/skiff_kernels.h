// Skiff's compute kernels: quantized matrix products, attention over a paged KV cache, the small
// per-token operations of a transformer, and the thread pool they run on.
//
// Every entry point picks its instruction set at run time (AVX-512 VNNI, AVX2, or portable C), so one
// binary runs on any x86-64 and the package builds on arm64 with the portable path.
#ifndef SKIFF_KERNELS_H
#define SKIFF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - CPU features

/// The instruction set the kernels use on this machine.
typedef enum {
    SKIFF_ISA_PORTABLE = 0,
    SKIFF_ISA_AVX2 = 1,
    SKIFF_ISA_AVX512_VNNI = 2,
} skiff_isa;

/// The best instruction set this CPU supports (cached after the first call).
skiff_isa skiff_detect_isa(void);

/// The instruction set the kernels currently use: the best one, or a lesser one named by the
/// environment variable SKIFF_ISA (`portable`, `avx2`, `avx512`) for comparisons.
skiff_isa skiff_active_isa(void);

/// Forces a (supported) instruction set for kernels called from this thread (tests that compare paths
/// use it; other threads are unaffected). Returns the one now in use, `isa` clamped to what the CPU
/// supports. Instruction-set choices are made on the calling thread, so a pool's workers follow it.
skiff_isa skiff_set_isa(skiff_isa isa);

// MARK: - Thread pool

/// A persistent pool of worker threads. The calling thread takes part as worker 0.
typedef struct skiff_pool skiff_pool;

/// A unit of parallel work: called once on each of `thread_count` threads with its index.
typedef void (*skiff_task)(void *context, int thread_index, int thread_count);

/// Starts a pool of `thread_count` threads in all (the caller counts as one). Returns NULL on failure.
skiff_pool *skiff_pool_create(int thread_count);

/// Stops and joins the workers, then frees the pool.
void skiff_pool_destroy(skiff_pool *pool);

/// Number of threads, the caller included.
int skiff_pool_thread_count(const skiff_pool *pool);

/// Runs `task` on every thread and returns when all have finished. Not reentrant: one run at a time.
void skiff_pool_run(skiff_pool *pool, skiff_task task, void *context);

// MARK: - Half precision

/// Converts `count` IEEE half values to float.
void skiff_f16_to_f32(const uint16_t *src, float *dst, size_t count);

/// Converts `count` floats to IEEE half (round to nearest even).
void skiff_f32_to_f16(const float *src, uint16_t *dst, size_t count);

// MARK: - Weights

/// Storage types of a GGUF tensor that the kernels can read (values are GGUF's type ids).
typedef enum {
    SKIFF_TYPE_F32 = 0,
    SKIFF_TYPE_F16 = 1,
    SKIFF_TYPE_Q4_0 = 2,
    SKIFF_TYPE_Q4_1 = 3,
    SKIFF_TYPE_Q5_0 = 6,
    SKIFF_TYPE_Q5_1 = 7,
    SKIFF_TYPE_Q8_0 = 8,
    SKIFF_TYPE_Q2_K = 10,
    SKIFF_TYPE_Q3_K = 11,
    SKIFF_TYPE_Q4_K = 12,
    SKIFF_TYPE_Q5_K = 13,
    SKIFF_TYPE_Q6_K = 14,
    SKIFF_TYPE_IQ4_NL = 20,
    SKIFF_TYPE_IQ4_XS = 23,
    SKIFF_TYPE_BF16 = 30,
} skiff_type;

/// Bytes one row of `columns` elements takes in the GGUF storage type (`columns` a multiple of the
/// type's block: 32, or 256 for the K-quants and IQ4_XS).
size_t skiff_row_bytes(skiff_type type, int64_t columns);

/// Dequantizes one row of a GGUF tensor to floats (the reference definition of each type).
void skiff_dequantize_row(skiff_type type, const void *row, float *dst, int64_t columns);

/// Stores `rows` rows of `columns` floats as GGUF type `type` (F32, F16, Q8_0 or Q4_K) into `out`
/// (`rows × skiff_row_bytes(type, columns)` bytes), the rows split across the pool's threads. Q8_0 rounds as
/// ggml does: per 32 values a half-precision scale of the largest magnitude over 127. Q4_K fits each 32
/// values' step and offset by least squares and stores them as 6-bit multiples of the block's two scales.
/// Returns 0 (writing nothing) for another type or a row length that is not a multiple of its block.
int skiff_quantize_rows(skiff_pool *pool, skiff_type type, const float *x, void *out, int64_t rows, int64_t columns);

/// Converts `count` bfloat16 values to float (exact).
void skiff_bf16_to_f32(const uint16_t *src, float *dst, size_t count);

/// A weight matrix in Skiff's compute layout: rows interleaved in tiles of 16 with each block's
/// scales beside it, so one pass over the weights serves a whole batch of tokens.
typedef struct {
    /// How the values are stored (see skiff_packed_format in the implementation).
    int32_t format;
    /// Output features (rows of the GGUF tensor).
    int64_t rows;
    /// Input features (the GGUF row length).
    int64_t columns;
    /// The packed bytes, 64-byte aligned, owned by the caller.
    void *data;
    /// Size of `data`.
    size_t byte_count;
} skiff_packed_matrix;

/// Bytes needed to pack a `rows` × `columns` matrix stored as `type`, or 0 if the type or shape is not
/// supported (columns must be a multiple of 32 for the quantized types).
size_t skiff_packed_bytes(skiff_type type, int64_t rows, int64_t columns);

/// Repacks a GGUF tensor (`rows` rows of `columns`) into `out->data` (skiff_packed_bytes in size,
/// 64-byte aligned). Quantized values are kept bit-exact; F32/BF16 become F32 and F16 stays F16.
/// Returns 0 on success, -1 if the type or shape is not supported.
int skiff_pack_matrix(skiff_type type, const void *src, int64_t rows, int64_t columns,
                      void *dst, skiff_packed_matrix *out);

/// Dequantizes row `row` of a packed matrix into `columns` floats (for embedding lookups in a matrix
/// that also serves as the output head).
void skiff_packed_row(const skiff_packed_matrix *m, int64_t row, float *dst);

// MARK: - Activations

/// Activations quantized for integer dot products: per token and per block of 32 values, 32 int8
/// values, a scale `d` and `s = d * sum(q)`; per 16 values, the integer sum of q (the sub-block formats
/// take their offsets and minimums out with it). Buffers are owned by the caller.
typedef struct {
    int8_t *values;     // tokens × columns
    float *scales;      // tokens × columns/32
    float *sums;        // tokens × columns/32
    int16_t *half_sums; // tokens × columns/16
    int64_t tokens;
    int64_t columns;
} skiff_q8_activations;

/// Quantizes `tokens` rows of `columns` floats (row stride `stride` floats) like ggml's Q8_1.
void skiff_quantize_activations(skiff_pool *pool, const float *x, int64_t stride, skiff_q8_activations *out);

/// y[t][r] = sum_k W[r][k] * x[t][k] for every token t of `x` and row r of `w`, with W quantized.
/// `y` has row stride `y_stride` floats. `x_float` is used for float weights and may be NULL otherwise;
/// `x_q8` is used for quantized weights and may be NULL otherwise.
/// When `accumulate` is nonzero the product is added to `y` instead of stored.
void skiff_matmul(skiff_pool *pool, const skiff_packed_matrix *w,
                  const skiff_q8_activations *x_q8, const float *x_float, int64_t x_stride, int64_t tokens,
                  float *y, int64_t y_stride, int accumulate);

/// One product of a `skiff_matmul_group`: a weight matrix and where its results go.
typedef struct {
    const skiff_packed_matrix *w;
    float *y;
    int64_t y_stride;
    int accumulate;
} skiff_matmul_output;

/// Several products of the same input (for example a layer's query, key and value projections) in one
/// parallel run, so the threads synchronize once instead of once per matrix. Inputs are as for
/// skiff_matmul; every matrix must have `x_q8->columns` (or `x_stride`) columns.
void skiff_matmul_group(skiff_pool *pool, const skiff_matmul_output *outputs, int count,
                        const skiff_q8_activations *x_q8, const float *x_float, int64_t x_stride, int64_t tokens);

/// Reference matmul for tests: dequantizes each GGUF row and uses float dot products.
void skiff_matmul_reference(skiff_type type, const void *w, int64_t rows, int64_t columns,
                            const float *x, int64_t tokens, float *y);

// MARK: - Transformer operations

/// out[t] = x[t] / rms(x[t]) * weight, for `tokens` rows of `n` floats (row strides in floats).
void skiff_rms_norm(const float *x, int64_t x_stride, const float *weight, float *out, int64_t out_stride,
                    int64_t tokens, int64_t n, float epsilon);

/// Rotary position embedding applied in place to `heads` heads of `head_dim` floats at position
/// `position`. Only the first `rotary_dims` dims rotate. `inverse_frequencies` holds rotary_dims/2
/// values (theta_i, with any frequency scaling already applied). `neox` selects the pairing:
/// 0 rotates (x[2i], x[2i+1]) (llama), 1 rotates (x[i], x[i + rotary_dims/2]) (NeoX, Gemma, Qwen).
void skiff_rope(float *x, int64_t heads, int64_t head_dim, int64_t rotary_dims, int64_t position,
                const float *inverse_frequencies, float attention_factor, int neox);

/// The activation of a gated feed-forward network.
typedef enum {
    /// SiLU: x sigmoid(x) (SwiGLU).
    SKIFF_GATE_SILU = 0,
    /// GELU in its tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x sigmoid(2 sqrt(2/pi)
    /// (x + 0.044715 x^3)) (GeGLU).
    SKIFF_GATE_GELU_TANH = 1,
} skiff_gate;

/// out[i] = activation(gate[i]) * up[i] for `n` values, split over the pool's threads when there are many (`out` may be `gate`).
void skiff_gated(skiff_pool *pool, skiff_gate activation, const float *gate, const float *up, float *out, int64_t n);

/// x[i] += y[i] for `n` values.
void skiff_add(float *x, const float *y, int64_t n);

/// x[i] *= factor for `n` values.
void skiff_scale(float *x, float factor, int64_t n);

// MARK: - Attention over a paged KV cache

/// A layer's keys and values in fixed-size blocks of `block_size` tokens (a multiple of 16), stored as
/// IEEE half. Keys are transposed inside a block so 16 positions' scores come from one pass over the
/// head's dimensions: key (block b, head h, slot s, dim d) lives at
/// `((b * kv_heads + h) * head_dim + d) * block_size + s`; value (b, h, s, d) at
/// `((b * kv_heads + h) * block_size + s) * head_dim + d`.
typedef struct {
    uint16_t *keys;
    uint16_t *values;
    int32_t block_size;
    int32_t kv_heads;
    int32_t head_dim;
} skiff_kv_layer;

/// Writes one token's keys and values (kv_heads × head_dim floats each) into `block`, `slot`.
void skiff_kv_store(const skiff_kv_layer *layer, int32_t block, int32_t slot, const float *k, const float *v);

/// One query token's view of its sequence: its block table and which cached tokens it attends to.
typedef struct {
    const int32_t *block_table;
    int32_t context_length;   // tokens first_position ..< context_length are attended (causal: includes itself)
    int32_t first_position;   // 0, or where a sliding window begins (context_length - window)
} skiff_attention_query;

/// Scaled dot-product attention for `tokens` query tokens, each with `heads` query heads of head_dim
/// (grouped: query head h reads KV head h / (heads / kv_heads)). q and out are tokens × heads × head_dim.
/// Returns 0, or -1 when the shapes are unsupported (block size not a multiple of 16, head_dim not a
/// multiple of 16 or above 512, heads not a multiple of kv_heads).
int skiff_attention(skiff_pool *pool, const skiff_kv_layer *layer, const skiff_attention_query *queries,
                     int64_t tokens, const float *q, int64_t heads, float scale, float *out);

// MARK: - State-space layers (Mamba-2)

/// One sequence's tokens in a batch and its recurrent state in one layer, for the state-space kernels.
/// Its tokens are rows `first ..< first + count` of the activations, in position order.
typedef struct {
    int64_t first;
    int64_t count;
    float *conv_state;   // the last (kernel - 1) inputs of the convolution, oldest first, `channels` floats each
    float *ssm_state;    // heads × head_dim × state_size floats
} skiff_ssm_sequence;

/// The widest convolution `skiff_ssm_conv` takes (Mamba-2 uses 4).
#define SKIFF_SSM_MAX_CONV_KERNEL 8

/// Causal depthwise convolution of each sequence's rows of x (`channels` floats from `x`, rows `x_stride`
/// floats apart) over its last `kernel` inputs, the earliest taken from its conv state, which is then
/// advanced; plus `bias` (NULL: none), then SiLU when `silu`, in place. `weight` is tap-major: kernel ×
/// channels, tap 0 the oldest. Returns 0, or -1 when `kernel` is outside 1 ... SKIFF_SSM_MAX_CONV_KERNEL.
int skiff_ssm_conv(skiff_pool *pool, const skiff_ssm_sequence *sequences, int64_t sequence_count, float *x, int64_t x_stride,
                   int64_t channels, const float *weight, const float *bias, int64_t kernel, int silu);

/// Mamba-2's selective scan, token by token, continuing each sequence's SSM state. Per token and head h
/// (group g = h / (heads / groups)): dt = softplus(dt_raw[h] + dt_bias[h]), decay = exp(dt a[h]);
/// state[h][p] = decay state[h][p] + u x[h][p] B[g]; y[h][p] = state[h][p] · C[g] + d[h] x[h][p], where u is
/// dt, or 1 without `scale_by_dt` (Llamba's discrete form, whose input is x / dt before the usual scan).
/// x (heads × head_dim), B and C (groups × state_size each) and dt_raw (heads) are read from rows
/// `stride` floats apart; y is written to rows `y_stride` apart. Returns 0, or -1 when `heads` is not a
/// multiple of `groups`.
int skiff_ssm_scan(skiff_pool *pool, const skiff_ssm_sequence *sequences, int64_t sequence_count,
                   const float *x, const float *b, const float *c, const float *dt_raw, int64_t stride,
                   const float *a, const float *d, const float *dt_bias, int scale_by_dt,
                   int64_t heads, int64_t head_dim, int64_t groups, int64_t state_size, float *y, int64_t y_stride);

/// y = y ⊙ silu(z + bias) for `tokens` rows of `width` values (bias NULL: none), split over the pool's threads
/// by rows (Llamba's output gate).
void skiff_ssm_gate(skiff_pool *pool, float *y, int64_t y_stride, const float *z, int64_t z_stride, const float *bias,
                    int64_t tokens, int64_t width);

/// y = rmsnorm(y ⊙ silu(z)) ⊙ weight over each of a row's `groups` groups of width / groups values, for
/// `tokens` rows (Mamba-2's gated norm), split over the pool's threads by rows.
void skiff_gated_group_rms_norm(skiff_pool *pool, float *y, int64_t y_stride, const float *z, int64_t z_stride, const float *weight,
                                int64_t tokens, int64_t width, int64_t groups, float epsilon);

#ifdef __cplusplus
}
#endif

#endif
