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
typedef enum {
    SKIFF_PACKED_U4_DM = 1,
    SKIFF_PACKED_U4_D = 2,
    SKIFF_PACKED_U8_D = 3,
    SKIFF_PACKED_F16 = 4,
    SKIFF_PACKED_F32 = 5,
} skiff_packed_format;

/// Bytes of one tile × block for the integer formats.
static inline size_t skiff_packed_block_bytes(int format) {
    switch (format) {
    case SKIFF_PACKED_U4_DM: return 256 + 64;
    case SKIFF_PACKED_U4_D: return 256 + 32;
    case SKIFF_PACKED_U8_D: return 512 + 32;
    default: return 0;
    }
}

/// Bytes of one tile (all blocks or columns).
static inline size_t skiff_packed_tile_bytes(int format, int64_t columns) {
    switch (format) {
    case SKIFF_PACKED_F16: return (size_t)columns * SKIFF_TILE * 2;
    case SKIFF_PACKED_F32: return (size_t)columns * SKIFF_TILE * 4;
    default: return skiff_packed_block_bytes(format) * (size_t)(columns / SKIFF_BLOCK);
    }
}

float skiff_half_to_float(uint16_t h);
uint16_t skiff_float_to_half(float f);
float skiff_bf16_to_float(uint16_t h);

/// Elements per block of a GGUF storage type (1 for the float types), 0 for a type the kernels cannot read.
size_t skiff_type_block_size(skiff_type type);
/// The 16 values an IQ4_NL or IQ4_XS nibble selects.
extern const int8_t skiff_iq4_values[16];
/// The 6-bit scale and minimum multipliers of sub-block `k` (0..7) from a Q4_K/Q5_K block's 12 scale bytes.
void skiff_k_scale_min(const uint8_t *packed, int k, uint8_t *scale, uint8_t *min);

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

/// Stores (or adds) a tile's 16 results for one token, skipping rows past `rows`.
static inline void skiff_store_tile(float *y, const float *values, int64_t row0, int64_t rows, int accumulate) {
    int64_t n = rows - row0 < SKIFF_TILE ? rows - row0 : SKIFF_TILE;
    for (int64_t i = 0; i < n; i++) y[row0 + i] = accumulate ? y[row0 + i] + values[i] : values[i];
}

#endif
