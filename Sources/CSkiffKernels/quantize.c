// Quantization of activations to int8 blocks (ggml's Q8_1 scheme) for integer dot products.
#include "internal.h"

#include <math.h>

size_t skiff_q8_values_bytes(int64_t tokens, int64_t columns) { return (size_t)(tokens * columns); }

size_t skiff_q8_scales_bytes(int64_t tokens, int64_t columns) {
    return (size_t)(tokens * (columns / SKIFF_BLOCK)) * sizeof(float);
}

/// Quantizes one row like ggml's Q8_1 on x86: q = round-half-even(x * 127 / amax), with the scale
/// rounded to IEEE half as ggml stores it. `sums` holds that scale times the sum of q, kept in float so
/// the offset formats (Q4_0, Q8_0) subtract it exactly.
static void quantize_row(const float *x, int8_t *q, float *scales, float *sums, int64_t columns) {
    for (int64_t b = 0; b < columns / SKIFF_BLOCK; b++) {
        const float *xb = x + b * SKIFF_BLOCK;
        float amax = 0;
        for (int j = 0; j < SKIFF_BLOCK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < SKIFF_BLOCK; j++) {
            int v = (int)nearbyintf(xb[j] * id);
            q[b * SKIFF_BLOCK + j] = (int8_t)v;
            sum += v;
        }
        float d = skiff_half_to_float(skiff_float_to_half(amax / 127.0f));
        scales[b] = d;
        sums[b] = d * (float)sum;
    }
}

typedef struct {
    const float *x;
    int64_t stride;
    skiff_q8_activations *out;
} quantize_args;

static void quantize_task(void *context, int thread_index, int thread_count) {
    const quantize_args *a = context;
    int64_t tokens = a->out->tokens;
    int64_t begin = tokens * thread_index / thread_count;
    int64_t end = tokens * (thread_index + 1) / thread_count;
    int64_t columns = a->out->columns;
    int64_t blocks = columns / SKIFF_BLOCK;
    for (int64_t t = begin; t < end; t++) {
        quantize_row(a->x + t * a->stride, a->out->values + t * columns, a->out->scales + t * blocks,
                     a->out->sums + t * blocks, columns);
    }
}

void skiff_quantize_activations(skiff_pool *pool, const float *x, int64_t stride, skiff_q8_activations *out) {
    quantize_args args = {x, stride, out};
    if (out->tokens < 4) quantize_task(&args, 0, 1);
    else skiff_pool_run(pool, quantize_task, &args);
}
