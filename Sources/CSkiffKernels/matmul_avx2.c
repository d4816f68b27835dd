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
    if (skiff_subblock_layout_of(a->w->format)) {
        // The sub-block formats have no vector kernel yet.
        skiff_matmul_tiles_portable(a, tile_begin, tile_end);
        return;
    }
    const int format = a->w->format;
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
