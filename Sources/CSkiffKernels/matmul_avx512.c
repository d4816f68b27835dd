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

/// A sub-block format (see skiff_subblock_layout) × int8 activations, `tb` tokens. Per block of 32 columns:
/// w(u) is rebuilt from the nibbles and bit planes (and the IQ4 table), dotted with the activations per half
/// block (`halves` 2 when each 16 columns have their own scale), then scaled in integers with the offset
/// and the minimums taken out through the activations' half sums, then multiplied by d, dmin and the
/// activations' scale. The layout's fields arrive as constants, so each format compiles to its own loop.
INLINE TARGET_AVX512 void tile_subblocks(const skiff_matmul_args *a, const skiff_subblock_layout *l, const uint8_t *tile,
                                         int64_t t0, const int tb, int64_t row0, const int halves, const int planes,
                                         const int offset, const int has_min, const int iq4) {
    const int64_t columns = a->w->columns;
    const int blocks = l->super / SKIFF_BLOCK;
    const skiff_subblock_offsets o = skiff_subblock_offsets_of(l);
    const size_t super_bytes = skiff_subblock_bytes(l);
    const __m512i low = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)skiff_iq4_unsigned));
    const int8_t *q[SKIFF_TOKEN_TILE];
    const float *dx[SKIFF_TOKEN_TILE];
    const int16_t *hs[SKIFF_TOKEN_TILE];
    __m512 acc[SKIFF_TOKEN_TILE];
    for (int i = 0; i < tb; i++) {
        q[i] = a->xq->values + (t0 + i) * columns;
        dx[i] = a->xq->scales + (t0 + i) * (columns / SKIFF_BLOCK);
        hs[i] = a->xq->half_sums + (t0 + i) * (columns / 16);
        acc[i] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < columns / l->super; s++) {
        const uint8_t *area = tile + (size_t)s * super_bytes;
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(area + o.d)));
        const __m512 dmin = has_min ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(area + o.dmin))) : _mm512_setzero_ps();
        for (int b = 0; b < blocks; b++) {
            const int64_t block = s * blocks + b;
            __m512i dot[SKIFF_TOKEN_TILE][2];
            for (int i = 0; i < tb; i++) dot[i][0] = dot[i][1] = _mm512_setzero_si512();
            __m512i bits[2];
            for (int p = 0; p < planes; p++) bits[p] = _mm512_loadu_si512(area + o.planes + 64 * ((size_t)p * blocks + b));
            for (int c = 0; c < 4; c++) {
                __m512i v = _mm512_loadu_si512(area + 256 * b + 64 * c);
                __m512i lo = _mm512_and_si512(v, low);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
                for (int p = 0; p < planes; p++) {
                    __m512i lo_bit = _mm512_and_si512(_mm512_srli_epi16(bits[p], c), one);
                    __m512i hi_bit = _mm512_and_si512(_mm512_srli_epi16(bits[p], 4 + c), one);
                    lo = _mm512_or_si512(lo, _mm512_slli_epi16(lo_bit, 4 + p));
                    hi = _mm512_or_si512(hi, _mm512_slli_epi16(hi_bit, 4 + p));
                }
                if (iq4) {
                    lo = _mm512_shuffle_epi8(table, lo);
                    hi = _mm512_shuffle_epi8(table, hi);
                }
                for (int i = 0; i < tb; i++) {
                    const int8_t *x = q[i] + block * SKIFF_BLOCK;
                    dot[i][0] = _mm512_dpbusd_epi32(dot[i][0], lo, broadcast4(x + 4 * c));
                    dot[i][halves - 1] = _mm512_dpbusd_epi32(dot[i][halves - 1], hi, broadcast4(x + 16 + 4 * c));
                }
            }
            const uint8_t *scales = area + o.scales + SKIFF_TILE * halves * b;
            const uint8_t *mins = area + o.mins + SKIFF_TILE * halves * b;
            __m512i sc[2], mn[2];
            for (int h = 0; h < halves; h++) {
                sc[h] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(scales + SKIFF_TILE * h)));
                if (has_min) mn[h] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(mins + SKIFF_TILE * h)));
            }
            for (int i = 0; i < tb; i++) {
                int sums[2] = {hs[i][2 * block], hs[i][2 * block + 1]};
                if (halves == 1) sums[0] += sums[1];
                __m512i scaled = _mm512_setzero_si512(), taken = _mm512_setzero_si512();
                for (int h = 0; h < halves; h++) {
                    __m512i centered = _mm512_sub_epi32(dot[i][h], _mm512_set1_epi32(offset * sums[h]));
                    scaled = _mm512_add_epi32(scaled, _mm512_mullo_epi32(sc[h], centered));
                    if (has_min) taken = _mm512_add_epi32(taken, _mm512_mullo_epi32(mn[h], _mm512_set1_epi32(sums[h])));
                }
                const __m512 x = _mm512_set1_ps(dx[i][block]);
                acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(scaled), x), d, acc[i]);
                if (has_min) acc[i] = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(taken), x), dmin, acc[i]);
            }
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
    const int format = a->w->format;
    const skiff_subblock_layout *l = skiff_subblock_layout_of(format);
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
#define SUBBLOCKS(name, super, sub, planes, offset, has_min, iq4) \
    case SKIFF_PACKED_##name: DISPATCH_TB(tile_subblocks(a, l, tp, t0, n, row0, SKIFF_BLOCK / sub, planes, offset, has_min, iq4)) break;
            SKIFF_SUBBLOCK_FORMATS(SUBBLOCKS)
#undef SUBBLOCKS
            default: DISPATCH_TB(tile_float(a, tp, t0, n, row0)) break;
            }
        }
    }
}
#endif
