// Weights to GGUF storage types, for the converter: F16, Q8_0 as ggml rounds it, Q4_K by a least-squares fit
// of each sub-block's scale and minimum, and bfloat16 to float.

#include "skiff_kernels.h"

#include <math.h>
#include <string.h>

static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void quantize_q8_0(const float *x, uint8_t *out, int64_t count) {
    uint8_t *b = out;
    for (int64_t start = 0; start < count; start += 32, b += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[start + i]));
        float d = amax / 127;
        float inverse = d != 0 ? 1 / d : 0;
        uint16_t half;
        skiff_f32_to_f16(&d, &half, 1);
        store_u16(b, half);
        for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)roundf(x[start + i] * inverse);
    }
}

/// The scale s ≥ 0 and offset m ≥ 0 that fit 32 values as s·q − m with q in 0..15, by least squares over a
/// few candidate step sizes around the range's: each candidate fixes the q, the fit then solves s and m.
static void fit_scale_min(const float *x, float *scale, float *min) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    lo = fminf(lo, 0); // the offset only ever lowers the values (m ≥ 0)
    if (hi <= lo) {
        *scale = 0;
        *min = -lo;
        return;
    }
    float best_error = INFINITY, best_scale = (hi - lo) / 15, best_min = -lo;
    for (int step = -6; step <= 10; step++) {
        float inverse = (15 + 0.1f * (float)step) / (hi - lo);
        uint8_t q[32];
        float sq = 0, sqq = 0, sx = 0, sqx = 0;
        for (int i = 0; i < 32; i++) {
            int l = (int)lrintf((x[i] - lo) * inverse);
            q[i] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
            sq += q[i];
            sqq += (float)q[i] * q[i];
            sx += x[i];
            sqx += q[i] * x[i];
        }
        // Minimize Σ (s q − m − x)²: the normal equations of (s, −m).
        float det = 32 * sqq - sq * sq;
        if (det <= 0) continue;
        float s = (32 * sqx - sq * sx) / det;
        float offset = (sqq * sx - sq * sqx) / det;
        if (offset > 0) { // m would be negative: fit s alone with m = 0
            offset = 0;
            s = sqq > 0 ? sqx / sqq : 0;
        }
        if (s <= 0) continue;
        float error = 0;
        for (int i = 0; i < 32; i++) {
            float e = s * q[i] + offset - x[i];
            error += e * e;
        }
        if (error < best_error) {
            best_error = error;
            best_scale = s;
            best_min = -offset;
        }
    }
    *scale = best_scale;
    *min = best_min;
}

static void quantize_q4_k(const float *x, uint8_t *out, int64_t count) {
    uint8_t *b = out;
    for (int64_t start = 0; start < count; start += 256, b += 144) {
        const float *v = x + start;
        float scales[8], mins[8], max_scale = 0, max_min = 0;
        for (int k = 0; k < 8; k++) {
            fit_scale_min(v + 32 * k, &scales[k], &mins[k]);
            max_scale = fmaxf(max_scale, scales[k]);
            max_min = fmaxf(max_min, mins[k]);
        }
        // Super-block scales as stored (half precision), then 6-bit multipliers of them.
        float d = max_scale / 63, dmin = max_min / 63;
        uint16_t d_half, dmin_half;
        skiff_f32_to_f16(&d, &d_half, 1);
        skiff_f32_to_f16(&dmin, &dmin_half, 1);
        skiff_f16_to_f32(&d_half, &d, 1);
        skiff_f16_to_f32(&dmin_half, &dmin, 1);
        uint8_t sc[8], m[8];
        for (int k = 0; k < 8; k++) {
            long s = d > 0 ? lrintf(scales[k] / d) : 0, n = dmin > 0 ? lrintf(mins[k] / dmin) : 0;
            sc[k] = (uint8_t)(s < 0 ? 0 : s > 63 ? 63 : s);
            m[k] = (uint8_t)(n < 0 ? 0 : n > 63 ? 63 : n);
        }
        store_u16(b, d_half);
        store_u16(b + 2, dmin_half);
        // Packing: sub-blocks 0..3 keep 6 bits in bytes k (scale) and k+4 (min); 4..7 a nibble each in byte
        // k+4 and their top 2 bits in the high bits of bytes k-4 (scale) and k (min).
        uint8_t *packed = b + 4;
        for (int k = 0; k < 4; k++) {
            packed[k] = (uint8_t)(sc[k] | (sc[k + 4] >> 4) << 6);
            packed[k + 4] = (uint8_t)(m[k] | (m[k + 4] >> 4) << 6);
            packed[k + 8] = (uint8_t)((sc[k + 4] & 0xF) | (m[k + 4] & 0xF) << 4);
        }
        // Sub-block k's 4-bit values: low nibbles of qs[32(k/2) ...] when k is even, high ones when odd.
        uint8_t *qs = b + 16;
        memset(qs, 0, 128);
        for (int k = 0; k < 8; k++) {
            float step = d * sc[k], offset = dmin * m[k];
            float inverse = step > 0 ? 1 / step : 0;
            for (int l = 0; l < 32; l++) {
                long q = lrintf((v[32 * k + l] + offset) * inverse);
                q = q < 0 ? 0 : q > 15 ? 15 : q;
                qs[32 * (k / 2) + l] |= (uint8_t)(q << (4 * (k % 2)));
            }
        }
    }
}

typedef struct {
    skiff_type type;
    const float *x;
    uint8_t *out;
    int64_t rows, columns;
} quantize_rows_args;

static void quantize_rows_task(void *context, int thread_index, int thread_count) {
    const quantize_rows_args *a = context;
    int64_t begin = a->rows * thread_index / thread_count, end = a->rows * (thread_index + 1) / thread_count;
    size_t row_bytes = skiff_row_bytes(a->type, a->columns);
    const float *x = a->x + begin * a->columns;
    uint8_t *out = a->out + (size_t)begin * row_bytes;
    int64_t count = (end - begin) * a->columns;
    switch (a->type) {
    case SKIFF_TYPE_F32: memcpy(out, x, (size_t)count * 4); break;
    case SKIFF_TYPE_F16: skiff_f32_to_f16(x, (uint16_t *)(void *)out, (size_t)count); break;
    case SKIFF_TYPE_Q8_0: quantize_q8_0(x, out, count); break;
    case SKIFF_TYPE_Q4_K: quantize_q4_k(x, out, count); break;
    default: break;
    }
}

int skiff_quantize_rows(skiff_pool *pool, skiff_type type, const float *x, void *out, int64_t rows, int64_t columns) {
    if (type != SKIFF_TYPE_F32 && type != SKIFF_TYPE_F16 && type != SKIFF_TYPE_Q8_0 && type != SKIFF_TYPE_Q4_K) return 0;
    if (columns % (type == SKIFF_TYPE_Q4_K ? 256 : type == SKIFF_TYPE_Q8_0 ? 32 : 1) != 0) return 0;
    quantize_rows_args args = {type, x, out, rows, columns};
    skiff_pool_run(pool, quantize_rows_task, &args);
    return 1;
}

void skiff_bf16_to_f32(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &bits, 4);
    }
}
