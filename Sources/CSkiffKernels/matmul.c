// Matrix products over packed weights: thread split, instruction-set dispatch, portable kernel and
// the float reference used by tests.
#include "internal.h"

#include <stdlib.h>

enum { MAX_GROUP = 8 };

typedef struct {
    skiff_matmul_args args[MAX_GROUP];
    int64_t first_tile[MAX_GROUP + 1];   // prefix sums of each matrix's tile count
    int count;
    skiff_matmul_tiles_fn fn;
} matmul_job;

static void matmul_task(void *context, int thread_index, int thread_count) {
    const matmul_job *job = context;
    int64_t total = job->first_tile[job->count];
    int64_t begin = total * thread_index / thread_count;
    int64_t end = total * (thread_index + 1) / thread_count;
    for (int m = 0; m < job->count && begin < end; m++) {
        int64_t lo = job->first_tile[m], hi = job->first_tile[m + 1];
        int64_t from = begin > lo ? begin : lo;
        int64_t to = end < hi ? end : hi;
        if (from < to) job->fn(&job->args[m], from - lo, to - lo);
    }
}

static skiff_matmul_tiles_fn select_kernel(void) {
#if defined(__x86_64__)
    switch (skiff_active_isa()) {
    case SKIFF_ISA_AVX512_VNNI: return skiff_matmul_tiles_avx512;
    case SKIFF_ISA_AVX2: return skiff_matmul_tiles_avx2;
    case SKIFF_ISA_PORTABLE: break;
    }
#endif
    return skiff_matmul_tiles_portable;
}

void skiff_matmul_group(skiff_pool *pool, const skiff_matmul_output *outputs, int count,
                        const skiff_q8_activations *x_q8, const float *x_float, int64_t x_stride, int64_t tokens) {
    for (int start = 0; start < count; start += MAX_GROUP) {
        matmul_job job;
        job.count = count - start < MAX_GROUP ? count - start : MAX_GROUP;
        job.fn = select_kernel();
        job.first_tile[0] = 0;
        for (int m = 0; m < job.count; m++) {
            const skiff_matmul_output *o = &outputs[start + m];
            job.args[m] = (skiff_matmul_args){o->w, x_q8, x_float, x_stride, tokens, o->y, o->y_stride, o->accumulate};
            job.first_tile[m + 1] = job.first_tile[m] + (o->w->rows + SKIFF_TILE - 1) / SKIFF_TILE;
        }
        skiff_pool_run(pool, matmul_task, &job);
    }
}

void skiff_matmul(skiff_pool *pool, const skiff_packed_matrix *w, const skiff_q8_activations *x_q8,
                  const float *x_float, int64_t x_stride, int64_t tokens, float *y, int64_t y_stride,
                  int accumulate) {
    skiff_matmul_output output = {w, y, y_stride, accumulate};
    skiff_matmul_group(pool, &output, 1, x_q8, x_float, x_stride, tokens);
}

// MARK: - Portable kernel

static void tile_integer(const skiff_matmul_args *a, const uint8_t *tile, int64_t t, float acc[SKIFF_TILE]) {
    int format = a->w->format;
    int64_t blocks = a->w->columns / SKIFF_BLOCK;
    size_t block_bytes = skiff_packed_block_bytes(format);
    const int8_t *q = a->xq->values + t * a->w->columns;
    const float *ds = a->xq->scales + t * blocks;
    const float *ss = a->xq->sums + t * blocks;
    for (int r = 0; r < SKIFF_TILE; r++) acc[r] = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = tile + (size_t)b * block_bytes;
        const int8_t *qb = q + b * SKIFF_BLOCK;
        for (int r = 0; r < SKIFF_TILE; r++) {
            int dot = 0;
            const uint8_t *scales;
            if (format == SKIFF_PACKED_U8_D) {
                for (int g = 0; g < 8; g++) {
                    for (int j = 0; j < 4; j++) dot += (int)blk[g * 64 + r * 4 + j] * qb[4 * g + j];
                }
                scales = blk + 512;
            } else {
                for (int c = 0; c < 4; c++) {
                    for (int j = 0; j < 4; j++) {
                        uint8_t byte = blk[c * 64 + r * 4 + j];
                        dot += (byte & 0xF) * qb[4 * c + j] + (byte >> 4) * qb[16 + 4 * c + j];
                    }
                }
                scales = blk + 256;
            }
            float dw = skiff_half_to_float((uint16_t)(scales[2 * r] | (scales[2 * r + 1] << 8)));
            float v;
            switch (format) {
            case SKIFF_PACKED_U4_DM: {
                float m = skiff_half_to_float((uint16_t)(scales[32 + 2 * r] | (scales[33 + 2 * r] << 8)));
                v = dw * ds[b] * (float)dot + m * ss[b];
                break;
            }
            case SKIFF_PACKED_U4_D: v = dw * (ds[b] * (float)dot - 8.0f * ss[b]); break;
            default: v = dw * (ds[b] * (float)dot - 128.0f * ss[b]); break;
            }
            acc[r] += v;
        }
    }
}

/// A sub-block format: each row's super-block unpacked, then per block of 32 columns integer dots of w(u)
/// with the activations per sub-block, the offset taken out with the activations' half sums, then scales,
/// minimums and factors.
static void tile_subblocks(const skiff_matmul_args *a, const skiff_subblock_layout *l, const uint8_t *tile, int64_t t,
                           float acc[SKIFF_TILE]) {
    const int64_t columns = a->w->columns;
    const int blocks = l->super / SKIFF_BLOCK;
    const size_t super_bytes = skiff_subblock_bytes(l);
    for (int r = 0; r < SKIFF_TILE; r++) acc[r] = 0;
    for (int64_t s = 0; s < columns / l->super; s++) {
        for (int r = 0; r < SKIFF_TILE; r++) {
            skiff_subblocks row;
            skiff_unpack_lane(l, tile + (size_t)s * super_bytes, r, &row);
            const float d = skiff_half_to_float(row.d), dmin = skiff_half_to_float(row.dmin);
            for (int b = 0; b < blocks; b++) {
                const int64_t block = s * blocks + b;
                const int8_t *x = a->xq->values + t * columns + block * SKIFF_BLOCK;
                const int16_t *half_sums = a->xq->half_sums + t * (columns / 16) + 2 * block;
                int scaled = 0, mins = 0;
                for (int h = 0; h < 2; h++) {
                    // Each half of the block, with its sub-block's scale (one sub-block of 32 has one scale).
                    int dot = 0;
                    for (int j = 16 * h; j < 16 * h + 16; j++) {
                        int u = row.u[SKIFF_BLOCK * b + j];
                        dot += (l->iq4 ? skiff_iq4_unsigned[u] : u) * x[j];
                    }
                    int k = (SKIFF_BLOCK * b + 16 * h) / l->sub;
                    scaled += row.scale[k] * (dot - l->offset * half_sums[h]);
                    mins += row.min[k] * half_sums[h];
                }
                float value = d * (float)scaled;
                if (l->has_min) value -= dmin * (float)mins;
                acc[r] += a->xq->scales[t * (columns / SKIFF_BLOCK) + block] * value;
            }
        }
    }
}

static void tile_float(const skiff_matmul_args *a, const uint8_t *tile, int64_t t, float acc[SKIFF_TILE]) {
    const float *x = a->xf + t * a->x_stride;
    for (int r = 0; r < SKIFF_TILE; r++) acc[r] = 0;
    for (int64_t k = 0; k < a->w->columns; k++) {
        for (int r = 0; r < SKIFF_TILE; r++) {
            float w;
            if (a->w->format == SKIFF_PACKED_F16) {
                const uint8_t *p = tile + (size_t)k * 32 + 2 * r;
                w = skiff_half_to_float((uint16_t)(p[0] | (p[1] << 8)));
            } else {
                memcpy(&w, tile + (size_t)k * 64 + 4 * r, 4);
            }
            acc[r] += w * x[k];
        }
    }
}

void skiff_matmul_tiles_portable(const skiff_matmul_args *a, int64_t tile_begin, int64_t tile_end) {
    size_t tile_bytes = skiff_packed_tile_bytes(a->w->format, a->w->columns);
    int is_float = a->w->format == SKIFF_PACKED_F16 || a->w->format == SKIFF_PACKED_F32;
    const skiff_subblock_layout *layout = skiff_subblock_layout_of(a->w->format);
    for (int64_t tile = tile_begin; tile < tile_end; tile++) {
        const uint8_t *tp = (const uint8_t *)a->w->data + (size_t)tile * tile_bytes;
        for (int64_t t = 0; t < a->tokens; t++) {
            float acc[SKIFF_TILE];
            if (is_float) tile_float(a, tp, t, acc);
            else if (layout) tile_subblocks(a, layout, tp, t, acc);
            else tile_integer(a, tp, t, acc);
            skiff_store_tile(a->y + t * a->y_stride, acc, tile * SKIFF_TILE, a->w->rows, a->accumulate);
        }
    }
}

// MARK: - Reference

void skiff_matmul_reference(skiff_type type, const void *w, int64_t rows, int64_t columns, const float *x,
                            int64_t tokens, float *y) {
    float *row = malloc((size_t)columns * sizeof(float));
    if (!row) return;
    size_t row_bytes = skiff_row_bytes(type, columns);
    for (int64_t r = 0; r < rows; r++) {
        skiff_dequantize_row(type, (const uint8_t *)w + (size_t)r * row_bytes, row, columns);
        for (int64_t t = 0; t < tokens; t++) {
            double sum = 0;
            for (int64_t k = 0; k < columns; k++) sum += (double)row[k] * x[t * columns + k];
            y[t * rows + r] = (float)sum;
        }
    }
    free(row);
}
