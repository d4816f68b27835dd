// Shared definitions of the kernel implementation (not part of the public header).
#ifndef SKIFF_INTERNAL_H
#define SKIFF_INTERNAL_H

#include "skiff_kernels.h"

#include <stdint.h>
#include <string.h>

/// Rows per tile of a packed matrix.
#define SKIFF_TILE 16
/// Values per quantization block.
#define SKIFF_BLOCK 32
/// Tokens a micro-kernel keeps in registers at once.
#define SKIFF_TOKEN_TILE 8

/// How a packed matrix stores its values. For each tile of 16 rows and each block of 32 columns:
/// - U4_DM (from Q4_1): 256 bytes of nibbles, then 16 half scales d, then 16 half minimums m.
///   Chunk c (0..3) is 64 bytes: for row r, 4 bytes whose low nibbles are columns 4c..4c+3 and high
///   nibbles columns 16+4c..16+4c+3 (these are the GGUF block's bytes 4c..4c+3 unchanged).
///   value = d * q + m.
/// - U4_D (from Q4_0): the same nibbles, then 16 half scales. value = d * (q - 8).
/// - U8_D (from Q8_0): 8 chunks of 64 bytes: for row r, columns 4g..4g+3 as unsigned bytes (q + 128),
///   then 16 half scales. value = d * (u - 128).
/// - F16 / F32: for each column, the tile's 16 values.
/// - The sub-block formats (from Q5_0, Q5_1, IQ4_NL and the K-quants): see skiff_subblock_layout.
typedef enum {
    SKIFF_PACKED_U4_DM = 1,
    SKIFF_PACKED_U4_D = 2,
    SKIFF_PACKED_U8_D = 3,
    SKIFF_PACKED_F16 = 4,
    SKIFF_PACKED_F32 = 5,
    SKIFF_PACKED_Q5_0 = 6,
    SKIFF_PACKED_Q5_1 = 7,
    SKIFF_PACKED_IQ4_NL = 8,
    SKIFF_PACKED_Q2_K = 9,
    SKIFF_PACKED_Q3_K = 10,
    SKIFF_PACKED_Q4_K = 11,
    SKIFF_PACKED_Q5_K = 12,
    SKIFF_PACKED_Q6_K = 13,
    SKIFF_PACKED_IQ4_XS = 14,
} skiff_packed_format;

/// The sub-block formats: each value is an unsigned integer u of 4 to 6 bits, scaled by a small integer
/// per sub-block of 16 or 32 columns and by a half-precision factor per super-block of 32 or 256:
///
///     value = d · scale · (w(u) − offset) − dmin · min
///
/// where w(u) = u, or the IQ4 table entry + 128 for the IQ4 types. Every GGUF type among them maps onto
/// this exactly (the products are the same floats its dequantization computes). For each tile of 16 rows
/// and each super-block, in order:
/// - per block of 32 columns, 256 bytes of low nibbles in the U4 chunk layout;
/// - `high_planes` planes of the bits above them: per plane and block, row r has 4 bytes, whose bit c
///   (0..3) of byte j is the plane's bit of column 4c+j and bit 4+c that of column 16+4c+j;
/// - the scales, int8: per sub-block, the 16 rows' (so one load gives a tile's scales);
/// - the minimums, likewise, when `has_min`;
/// - 16 half factors d, then 16 half factors dmin when `has_min`.
typedef struct {
    int super;         // columns per d (32 or 256)
    int sub;           // columns per scale (16 or 32)
    int high_planes;   // bit planes above the low nibble (0, 1 or 2)
    int offset;        // subtracted from w(u)
    int has_min;
    int iq4;           // w(u) is the IQ4 table entry + 128
} skiff_subblock_layout;

/// Every sub-block format, once: X(GGUF type name, super, sub, high planes, offset, has_min, iq4). The
/// layouts, the packed format ids' types and the vector kernels' specializations all expand it.
#define SKIFF_SUBBLOCK_FORMATS(X)     \
    X(Q5_0, 32, 32, 1, 16, 0, 0)      \
    X(Q5_1, 32, 32, 1, 0, 1, 0)       \
    X(IQ4_NL, 32, 32, 0, 128, 0, 1)   \
    X(Q2_K, 256, 16, 0, 0, 1, 0)      \
    X(Q3_K, 256, 16, 0, 4, 0, 0)      \
    X(Q4_K, 256, 32, 0, 0, 1, 0)      \
    X(Q5_K, 256, 32, 1, 0, 1, 0)      \
    X(Q6_K, 256, 16, 2, 32, 0, 0)     \
    X(IQ4_XS, 256, 32, 0, 128, 0, 1)

/// The layout of a sub-block format, or NULL for the other formats.
const skiff_subblock_layout *skiff_subblock_layout_of(int format);

/// Bytes of one tile × super-block of a sub-block format.
static inline size_t skiff_subblock_bytes(const skiff_subblock_layout *l) {
    size_t blocks = (size_t)(l->super / SKIFF_BLOCK);
    size_t scales = (size_t)SKIFF_TILE * (size_t)(l->super / l->sub);
    return blocks * (256 + 64 * (size_t)l->high_planes) + scales * (l->has_min ? 2 : 1) + (l->has_min ? 64 : 32);
}

/// Bytes of one tile × block for the integer formats.
static inline size_t skiff_packed_block_bytes(int format) {
    switch (format) {
    case SKIFF_PACKED_U4_DM: return 256 + 64;
    case SKIFF_PACKED_U4_D: return 256 + 32;
    case SKIFF_PACKED_U8_D: return 512 + 32;
    default: return 0;
    }
}

/// Where the parts of one tile × super-block of a sub-block format begin.
typedef struct {
    size_t planes, scales, mins, d, dmin;
} skiff_subblock_offsets;

static inline skiff_subblock_offsets skiff_subblock_offsets_of(const skiff_subblock_layout *l) {
    size_t blocks = (size_t)(l->super / SKIFF_BLOCK);
    size_t per_row = (size_t)(l->super / l->sub);
    skiff_subblock_offsets o;
    o.planes = 256 * blocks;
    o.scales = o.planes + 64 * blocks * (size_t)l->high_planes;
    o.mins = o.scales + SKIFF_TILE * per_row;
    o.d = o.mins + (l->has_min ? SKIFF_TILE * per_row : 0);
    o.dmin = o.d + 2 * SKIFF_TILE;
    return o;
}

/// Bytes of one tile (all blocks or columns).
static inline size_t skiff_packed_tile_bytes(int format, int64_t columns) {
    const skiff_subblock_layout *l = skiff_subblock_layout_of(format);
    if (l) return skiff_subblock_bytes(l) * (size_t)(columns / l->super);
    switch (format) {
    case SKIFF_PACKED_F16: return (size_t)columns * SKIFF_TILE * 2;
    case SKIFF_PACKED_F32: return (size_t)columns * SKIFF_TILE * 4;
    default: return skiff_packed_block_bytes(format) * (size_t)(columns / SKIFF_BLOCK);
    }
}

float skiff_half_to_float(uint16_t h);
uint16_t skiff_float_to_half(float f);
float skiff_bf16_to_float(uint16_t h);

/// The 16 values an IQ4_NL or IQ4_XS nibble selects, and the same + 128 (w(u) of the sub-block formats).
extern const int8_t skiff_iq4_values[16];
extern const uint8_t skiff_iq4_unsigned[16];

/// One super-block of a sub-block format unpacked: each value's u, each sub-block's scale and minimum,
/// and the half factors d and dmin (bits).
typedef struct {
    uint8_t u[256];
    int8_t scale[16];
    int8_t min[16];
    uint16_t d, dmin;
} skiff_subblocks;

/// The layout of a GGUF type's sub-block format, or NULL when the type has none.
const skiff_subblock_layout *skiff_subblock_layout_of_type(skiff_type type);
/// Unpacks one GGUF block (a super-block) of a type that has a sub-block format.
void skiff_unpack_subblocks(skiff_type type, const uint8_t *block, skiff_subblocks *out);
/// Reads row `lane` of a tile's super-block area (a sub-block format) back into unpacked form.
void skiff_unpack_lane(const skiff_subblock_layout *l, const uint8_t *area, int lane, skiff_subblocks *out);
/// d · scale · (w(u) − offset) − dmin · min: one value of a sub-block format, as the GGUF type defines it.
float skiff_subblock_value(const skiff_subblock_layout *l, int u, int scale, int min, float d, float dmin);

/// Arguments of one matmul, shared by every instruction-set variant.
typedef struct {
    const skiff_packed_matrix *w;
    const skiff_q8_activations *xq;
    const float *xf;
    int64_t x_stride;
    int64_t tokens;
    float *y;
    int64_t y_stride;
    int accumulate;
} skiff_matmul_args;

/// Computes tiles [tile_begin, tile_end) for all tokens.
typedef void (*skiff_matmul_tiles_fn)(const skiff_matmul_args *args, int64_t tile_begin, int64_t tile_end);

void skiff_matmul_tiles_portable(const skiff_matmul_args *args, int64_t tile_begin, int64_t tile_end);
#if defined(__x86_64__)
void skiff_matmul_tiles_avx2(const skiff_matmul_args *args, int64_t tile_begin, int64_t tile_end);
void skiff_matmul_tiles_avx512(const skiff_matmul_args *args, int64_t tile_begin, int64_t tile_end);
#endif

/// out[i] = activation(gate[i]) * up[i] (up NULL: 1) for `n` values on the calling thread, in the active
/// instruction set (`out` may be `gate` or `up`).
void skiff_gate_span(skiff_gate activation, const float *gate, const float *up, float *out, int64_t n);

/// Stores (or adds) a tile's 16 results for one token, skipping rows past `rows`.
static inline void skiff_store_tile(float *y, const float *values, int64_t row0, int64_t rows, int accumulate) {
    int64_t n = rows - row0 < SKIFF_TILE ? rows - row0 : SKIFF_TILE;
    for (int64_t i = 0; i < n; i++) y[row0 + i] = accumulate ? y[row0 + i] + values[i] : values[i];
}

#endif
