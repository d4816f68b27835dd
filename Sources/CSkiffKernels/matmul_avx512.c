// AVX-512 VNNI matmul kernel: one pass over a tile's weights serves up to 8 tokens held in registers.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

INLINE TARGET_AVX512 __m512i broadcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

INLINE TARGET_AVX512 void store_results(const skiff_matmul_args *a, const __m512 *acc, int64_t t0, int tb,
                                        int64_t row0) {
    int full = row0 + SKIFF_TILE <= a->w->rows;
    for (int i = 0; i < tb; i++) {
        float *y = a->y + (t0 + i) * a->y_stride + row0;
        if (full) {
            __m512 v = a->accumulate ? _mm512_add_ps(_mm512_loadu_ps(y), acc[i]) : acc[i];
            _mm512_storeu_ps(y, v);
        } else {
            float tmp[SKIFF_TILE];
            _mm512_storeu_ps(tmp, acc[i]);
            skiff_store_tile(a->y + (t0 + i) * a->y_stride, tmp, row0, a->w->rows, a->accumulate);
        }
    }
}

/// 4-bit weights (Q4_1 with minimums, or Q4_0 with offset 8) × int8 activations, `tb` tokens.
INLINE TARGET_AVX512 void tile_u4(const skiff_matmul_args *a, const uint8_t *tile, int64_t t0, const int tb,
                                  const int has_min, int64_t row0) {
    const int64_t columns = a->w->columns;
    const int64_t blocks = columns / SKIFF_BLOCK;
    const size_t block_bytes = has_min ? 320 : 288;
    const __m512i low = _mm512_set1_epi8(0x0F);
    const int8_t *q[SKIFF_TOKEN_TILE];
    const float *ds[SKIFF_TOKEN_TILE];
    const float *ss[SKIFF_TOKEN_TILE];
    __m512 acc[SKIFF_TOKEN_TILE];
    for (int i = 0; i < tb; i++) {
        q[i] = a->xq->values + (t0 + i) * columns;
        ds[i] = a->xq->scales + (t0 + i) * blocks;
        ss[i] = a->xq->sums + (t0 + i) * blocks;
        acc[i] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = tile + (size_t)b * block_bytes;
        __m512i dot[SKIFF_TOKEN_TILE];
        for (int i = 0; i < tb; i++) dot[i] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i v = _mm512_loadu_si512(blk + 64 * c);
            __m512i lo = _mm512_and_si512(v, low);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            for (int i = 0; i < tb; i++) {
                const int8_t *qb = q[i] + b * SKIFF_BLOCK;
                dot[i] = _mm512_dpbusd_epi32(dot[i], lo, broadcast4(qb + 4 * c));
                dot[i] = _mm512_dpbusd_epi32(dot[i], hi, broadcast4(qb + 16 + 4 * c));
            }
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + 256)));
        if (has_min) {
            __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + 288)));
            for (int i = 0; i < tb; i++) {
                __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(dot[i]), _mm512_set1_ps(ds[i][b]));
                acc[i] = _mm512_fmadd_ps(p, dw, acc[i]);
                acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ss[i][b]), acc[i]);
            }
        } else {
            for (int i = 0; i < tb; i++) {
                __m512 p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[i]), _mm512_set1_ps(ds[i][b]),
                                           _mm512_set1_ps(-8.0f * ss[i][b]));
                acc[i] = _mm512_fmadd_ps(p, dw, acc[i]);
            }
        }
    }
    store_results(a, acc, t0, tb, row0);
}

/// 8-bit weights stored as q + 128 × int8 activations, `tb` tokens.
INLINE TARGET_AVX512 void tile_u8(const skiff_matmul_args *a, const uint8_t *tile, int64_t t0, const int tb,
                                  int64_t row0) {
    const int64_t columns = a->w->columns;
    const int64_t blocks = columns / SKIFF_BLOCK;
    const int8_t *q[SKIFF_TOKEN_TILE];
    const float *ds[SKIFF_TOKEN_TILE];
    const float *ss[SKIFF_TOKEN_TILE];
    __m512 acc[SKIFF_TOKEN_TILE];
    for (int i = 0; i < tb; i++) {
        q[i] = a->xq->values + (t0 + i) * columns;
        ds[i] = a->xq->scales + (t0 + i) * blocks;
        ss[i] = a->xq->sums + (t0 + i) * blocks;
        acc[i] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = tile + (size_t)b * 544;
        __m512i dot[SKIFF_TOKEN_TILE];
        for (int i = 0; i < tb; i++) dot[i] = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
            __m512i v = _mm512_loadu_si512(blk + 64 * g);
            for (int i = 0; i < tb; i++) dot[i] = _mm512_dpbusd_epi32(dot[i], v, broadcast4(q[i] + b * SKIFF_BLOCK + 4 * g));
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + 512)));
        for (int i = 0; i < tb; i++) {
            __m512 p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[i]), _mm512_set1_ps(ds[i][b]),
                                       _mm512_set1_ps(-128.0f * ss[i][b]));
            acc[i] = _mm512_fmadd_ps(p, dw, acc[i]);
        }
    }
    store_results(a, acc, t0, tb, row0);
}

/// Float weights (F16 or F32) × float activations, `tb` tokens.
INLINE TARGET_AVX512 void tile_float(const skiff_matmul_args *a, const uint8_t *tile, int64_t t0, const int tb,
                                     int64_t row0) {
    const int is_f16 = a->w->format == SKIFF_PACKED_F16;
    __m512 acc[SKIFF_TOKEN_TILE];
    for (int i = 0; i < tb; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < a->w->columns; k++) {
        __m512 w = is_f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + (size_t)k * 32)))
                          : _mm512_loadu_ps((const float *)(tile + (size_t)k * 64));
        for (int i = 0; i < tb; i++) {
            acc[i] = _mm512_fmadd_ps(w, _mm512_set1_ps(a->xf[(t0 + i) * a->x_stride + k]), acc[i]);
        }
    }
    store_results(a, acc, t0, tb, row0);
}

#define DISPATCH_TB(call)                                                                                   \
    switch (tb) {                                                                                           \
    case 8: { const int n = 8; call; break; }                                                               \
    case 7: { const int n = 7; call; break; }                                                               \
    case 6: { const int n = 6; call; break; }                                                               \
    case 5: { const int n = 5; call; break; }                                                               \
    case 4: { const int n = 4; call; break; }                                                               \
    case 3: { const int n = 3; call; break; }                                                               \
    case 2: { const int n = 2; call; break; }                                                               \
    default: { const int n = 1; call; break; }                                                              \
    }

TARGET_AVX512 void skiff_matmul_tiles_avx512(const skiff_matmul_args *a, int64_t tile_begin, int64_t tile_end) {
    if (skiff_subblock_layout_of(a->w->format)) {
        // The sub-block formats have no vector kernel yet.
        skiff_matmul_tiles_portable(a, tile_begin, tile_end);
        return;
    }
    const int format = a->w->format;
    const size_t tile_bytes = skiff_packed_tile_bytes(format, a->w->columns);
    for (int64_t tile = tile_begin; tile < tile_end; tile++) {
        const uint8_t *tp = (const uint8_t *)a->w->data + (size_t)tile * tile_bytes;
        const int64_t row0 = tile * SKIFF_TILE;
        for (int64_t t0 = 0; t0 < a->tokens; t0 += SKIFF_TOKEN_TILE) {
            const int tb = (int)(a->tokens - t0 < SKIFF_TOKEN_TILE ? a->tokens - t0 : SKIFF_TOKEN_TILE);
            switch (format) {
            case SKIFF_PACKED_U4_DM: DISPATCH_TB(tile_u4(a, tp, t0, n, 1, row0)) break;
            case SKIFF_PACKED_U4_D: DISPATCH_TB(tile_u4(a, tp, t0, n, 0, row0)) break;
            case SKIFF_PACKED_U8_D: DISPATCH_TB(tile_u8(a, tp, t0, n, row0)) break;
            default: DISPATCH_TB(tile_float(a, tp, t0, n, row0)) break;
            }
        }
    }
}
#endif
