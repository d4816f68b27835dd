// AVX2 matmul kernel (no VNNI): maddubs/madd integer dot products, up to 4 tokens per weight pass.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#define AVX2_TOKEN_TILE 4

INLINE TARGET_AVX2 __m256i broadcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// Sum of unsigned×signed byte products, 4 per int32 lane.
INLINE TARGET_AVX2 __m256i dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

INLINE TARGET_AVX2 void store_results(const skiff_matmul_args *a, const __m256 acc[][2], int64_t t0, int tb,
                                      int64_t row0) {
    for (int i = 0; i < tb; i++) {
        float tmp[SKIFF_TILE];
        _mm256_storeu_ps(tmp, acc[i][0]);
        _mm256_storeu_ps(tmp + 8, acc[i][1]);
        skiff_store_tile(a->y + (t0 + i) * a->y_stride, tmp, row0, a->w->rows, a->accumulate);
    }
}

INLINE TARGET_AVX2 void tile_int(const skiff_matmul_args *a, const uint8_t *tile, int64_t t0, const int tb,
                                 const int format, int64_t row0) {
    const int64_t columns = a->w->columns;
    const int64_t blocks = columns / SKIFF_BLOCK;
    const size_t block_bytes = skiff_packed_block_bytes(format);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[AVX2_TOKEN_TILE][2];
    for (int i = 0; i < tb; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = tile + (size_t)b * block_bytes;
        __m256i dot[AVX2_TOKEN_TILE][2];
        for (int i = 0; i < tb; i++) dot[i][0] = dot[i][1] = _mm256_setzero_si256();
        const uint8_t *scales;
        if (format == SKIFF_PACKED_U8_D) {
            for (int g = 0; g < 8; g++) {
                for (int h = 0; h < 2; h++) {
                    __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 64 * g + 32 * h)),
                                                 _mm256_set1_epi8((char)0x80));
                    __m256i aw = _mm256_sign_epi8(w, w);
                    for (int i = 0; i < tb; i++) {
                        __m256i x = broadcast4(a->xq->values + (t0 + i) * columns + b * SKIFF_BLOCK + 4 * g);
                        dot[i][h] = _mm256_add_epi32(dot[i][h], dot_u8_s8(aw, _mm256_sign_epi8(x, w)));
                    }
                }
            }
            scales = blk + 512;
        } else {
            for (int c = 0; c < 4; c++) {
                for (int h = 0; h < 2; h++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 64 * c + 32 * h));
                    __m256i lo = _mm256_and_si256(v, low);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                    for (int i = 0; i < tb; i++) {
                        const int8_t *qb = a->xq->values + (t0 + i) * columns + b * SKIFF_BLOCK;
                        __m256i s = _mm256_add_epi32(dot_u8_s8(lo, broadcast4(qb + 4 * c)),
                                                     dot_u8_s8(hi, broadcast4(qb + 16 + 4 * c)));
                        dot[i][h] = _mm256_add_epi32(dot[i][h], s);
                    }
                }
            }
            scales = blk + 256;
        }
        for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + 16 * h)));
            __m256 mw = format == SKIFF_PACKED_U4_DM
                            ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + 32 + 16 * h)))
                            : _mm256_setzero_ps();
            for (int i = 0; i < tb; i++) {
                float d = a->xq->scales[(t0 + i) * blocks + b];
                float s = a->xq->sums[(t0 + i) * blocks + b];
                __m256 p = _mm256_cvtepi32_ps(dot[i][h]);
                if (format == SKIFF_PACKED_U4_DM) {
                    acc[i][h] = _mm256_fmadd_ps(_mm256_mul_ps(p, _mm256_set1_ps(d)), dw, acc[i][h]);
                    acc[i][h] = _mm256_fmadd_ps(mw, _mm256_set1_ps(s), acc[i][h]);
                } else {
                    // U8 used signed weights directly; U4_D still carries the offset 8.
                    float offset = format == SKIFF_PACKED_U4_D ? -8.0f * s : 0.0f;
                    __m256 v = _mm256_fmadd_ps(p, _mm256_set1_ps(d), _mm256_set1_ps(offset));
                    acc[i][h] = _mm256_fmadd_ps(v, dw, acc[i][h]);
                }
            }
        }
    }
    store_results(a, acc, t0, tb, row0);
}

/// A sub-block format (see skiff_subblock_layout) × int8 activations, `tb` tokens, as the AVX-512 kernel
/// does it but 8 rows at a time. maddubs adds pairs of products in 16 bits, which w(u) ≤ 63 keeps from
/// saturating; the IQ4 values (up to 241 unsigned) go in signed, with the sign moved onto the activation,
/// and need no offset.
INLINE TARGET_AVX2 void tile_subblocks(const skiff_matmul_args *a, const skiff_subblock_layout *l, const uint8_t *tile,
                                       int64_t t0, const int tb, int64_t row0, const int halves, const int planes,
                                       const int offset, const int has_min, const int iq4) {
    const int64_t columns = a->w->columns;
    const int blocks = l->super / SKIFF_BLOCK;
    const skiff_subblock_offsets o = skiff_subblock_offsets_of(l);
    const size_t super_bytes = skiff_subblock_bytes(l);
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)skiff_iq4_values));
    const int shift = iq4 ? 0 : offset;
    __m256 acc[AVX2_TOKEN_TILE][2];
    for (int i = 0; i < tb; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t s = 0; s < columns / l->super; s++) {
        const uint8_t *area = tile + (size_t)s * super_bytes;
        for (int b = 0; b < blocks; b++) {
            const int64_t block = s * blocks + b;
            for (int rh = 0; rh < 2; rh++) {
                __m256i dot[AVX2_TOKEN_TILE][2];
                for (int i = 0; i < tb; i++) dot[i][0] = dot[i][1] = _mm256_setzero_si256();
                __m256i bits[2];
                for (int p = 0; p < planes; p++) {
                    bits[p] = _mm256_loadu_si256((const __m256i *)(area + o.planes + 64 * ((size_t)p * blocks + b) + 32 * rh));
                }
                for (int c = 0; c < 4; c++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(area + 256 * b + 64 * c + 32 * rh));
                    __m256i lo = _mm256_and_si256(v, low);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                    for (int p = 0; p < planes; p++) {
                        __m256i lo_bit = _mm256_and_si256(_mm256_srli_epi16(bits[p], c), one);
                        __m256i hi_bit = _mm256_and_si256(_mm256_srli_epi16(bits[p], 4 + c), one);
                        lo = _mm256_or_si256(lo, _mm256_slli_epi16(lo_bit, 4 + p));
                        hi = _mm256_or_si256(hi, _mm256_slli_epi16(hi_bit, 4 + p));
                    }
                    for (int i = 0; i < tb; i++) {
                        const int8_t *x = a->xq->values + (t0 + i) * columns + block * SKIFF_BLOCK;
                        __m256i xl = broadcast4(x + 4 * c), xh = broadcast4(x + 16 + 4 * c);
                        if (iq4) {
                            __m256i wl = _mm256_shuffle_epi8(table, lo), wh = _mm256_shuffle_epi8(table, hi);
                            dot[i][0] = _mm256_add_epi32(dot[i][0], dot_u8_s8(_mm256_sign_epi8(wl, wl), _mm256_sign_epi8(xl, wl)));
                            dot[i][halves - 1] = _mm256_add_epi32(dot[i][halves - 1],
                                                                  dot_u8_s8(_mm256_sign_epi8(wh, wh), _mm256_sign_epi8(xh, wh)));
                        } else {
                            dot[i][0] = _mm256_add_epi32(dot[i][0], dot_u8_s8(lo, xl));
                            dot[i][halves - 1] = _mm256_add_epi32(dot[i][halves - 1], dot_u8_s8(hi, xh));
                        }
                    }
                }
                const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(area + o.d + 16 * rh)));
                const __m256 dmin = has_min ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(area + o.dmin + 16 * rh)))
                                            : _mm256_setzero_ps();
                __m256i sc[2], mn[2];
                for (int h = 0; h < halves; h++) {
                    size_t k = (size_t)(halves * b + h);
                    sc[h] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(area + o.scales + SKIFF_TILE * k + 8 * rh)));
                    if (has_min) mn[h] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(area + o.mins + SKIFF_TILE * k + 8 * rh)));
                }
                for (int i = 0; i < tb; i++) {
                    const int16_t *hs = a->xq->half_sums + (t0 + i) * (columns / 16) + 2 * block;
                    int sums[2] = {hs[0], hs[1]};
                    if (halves == 1) sums[0] += sums[1];
                    __m256i scaled = _mm256_setzero_si256(), taken = _mm256_setzero_si256();
                    for (int h = 0; h < halves; h++) {
                        __m256i centered = _mm256_sub_epi32(dot[i][h], _mm256_set1_epi32(shift * sums[h]));
                        scaled = _mm256_add_epi32(scaled, _mm256_mullo_epi32(sc[h], centered));
                        if (has_min) taken = _mm256_add_epi32(taken, _mm256_mullo_epi32(mn[h], _mm256_set1_epi32(sums[h])));
                    }
                    const __m256 x = _mm256_set1_ps(a->xq->scales[(t0 + i) * (columns / SKIFF_BLOCK) + block]);
                    acc[i][rh] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(scaled), x), d, acc[i][rh]);
                    if (has_min) acc[i][rh] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(taken), x), dmin, acc[i][rh]);
                }
            }
        }
    }
    store_results(a, acc, t0, tb, row0);
}

INLINE TARGET_AVX2 void tile_float(const skiff_matmul_args *a, const uint8_t *tile, int64_t t0, const int tb,
                                   int64_t row0) {
    const int is_f16 = a->w->format == SKIFF_PACKED_F16;
    __m256 acc[AVX2_TOKEN_TILE][2];
    for (int i = 0; i < tb; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < a->w->columns; k++) {
        for (int h = 0; h < 2; h++) {
            __m256 w = is_f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + (size_t)k * 32 + 16 * h)))
                              : _mm256_loadu_ps((const float *)(tile + (size_t)k * 64 + 32 * h));
            for (int i = 0; i < tb; i++) {
                acc[i][h] = _mm256_fmadd_ps(w, _mm256_set1_ps(a->xf[(t0 + i) * a->x_stride + k]), acc[i][h]);
            }
        }
    }
    store_results(a, acc, t0, tb, row0);
}

TARGET_AVX2 void skiff_matmul_tiles_avx2(const skiff_matmul_args *a, int64_t tile_begin, int64_t tile_end) {
    const int format = a->w->format;
    const skiff_subblock_layout *l = skiff_subblock_layout_of(format);
    const size_t tile_bytes = skiff_packed_tile_bytes(format, a->w->columns);
    const int is_float = format == SKIFF_PACKED_F16 || format == SKIFF_PACKED_F32;
    for (int64_t tile = tile_begin; tile < tile_end; tile++) {
        const uint8_t *tp = (const uint8_t *)a->w->data + (size_t)tile * tile_bytes;
        const int64_t row0 = tile * SKIFF_TILE;
        for (int64_t t0 = 0; t0 < a->tokens; t0 += AVX2_TOKEN_TILE) {
            const int tb = (int)(a->tokens - t0 < AVX2_TOKEN_TILE ? a->tokens - t0 : AVX2_TOKEN_TILE);
            if (is_float) {
                switch (tb) {
                case 4: tile_float(a, tp, t0, 4, row0); break;
                case 3: tile_float(a, tp, t0, 3, row0); break;
                case 2: tile_float(a, tp, t0, 2, row0); break;
                default: tile_float(a, tp, t0, 1, row0); break;
                }
            } else if (l) {
                switch (format) {
#define SUBBLOCKS(name, super, sub, planes, offset, has_min, iq4)                                                    \
    case SKIFF_PACKED_##name:                                                                                      \
        switch (tb) {                                                                                              \
        case 4: tile_subblocks(a, l, tp, t0, 4, row0, SKIFF_BLOCK / sub, planes, offset, has_min, iq4); break;     \
        case 3: tile_subblocks(a, l, tp, t0, 3, row0, SKIFF_BLOCK / sub, planes, offset, has_min, iq4); break;     \
        case 2: tile_subblocks(a, l, tp, t0, 2, row0, SKIFF_BLOCK / sub, planes, offset, has_min, iq4); break;     \
        default: tile_subblocks(a, l, tp, t0, 1, row0, SKIFF_BLOCK / sub, planes, offset, has_min, iq4); break;    \
        }                                                                                                          \
        break;
                SKIFF_SUBBLOCK_FORMATS(SUBBLOCKS)
#undef SUBBLOCKS
                }
            } else {
                switch (tb) {
                case 4: tile_int(a, tp, t0, 4, format, row0); break;
                case 3: tile_int(a, tp, t0, 3, format, row0); break;
                case 2: tile_int(a, tp, t0, 2, format, row0); break;
                default: tile_int(a, tp, t0, 1, format, row0); break;
                }
            }
        }
    }
}
#endif
