// Repacking GGUF tensors into the compute layout, and reading rows back from it.
#include "internal.h"

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static int packed_format(skiff_type type) {
    switch (type) {
    case SKIFF_TYPE_Q4_1: return SKIFF_PACKED_U4_DM;
    case SKIFF_TYPE_Q4_0: return SKIFF_PACKED_U4_D;
    case SKIFF_TYPE_Q8_0: return SKIFF_PACKED_U8_D;
    case SKIFF_TYPE_F16: return SKIFF_PACKED_F16;
    case SKIFF_TYPE_F32:
    case SKIFF_TYPE_BF16: return SKIFF_PACKED_F32;
    default: return 0;   // no compute layout yet: skiff_packed_bytes answers 0 and the loader refuses the tensor
    }
}

size_t skiff_packed_bytes(skiff_type type, int64_t rows, int64_t columns) {
    int format = packed_format(type);
    if (!format || rows <= 0 || columns <= 0) return 0;
    if (format != SKIFF_PACKED_F16 && format != SKIFF_PACKED_F32 && columns % SKIFF_BLOCK != 0) return 0;
    int64_t tiles = (rows + SKIFF_TILE - 1) / SKIFF_TILE;
    return (size_t)tiles * skiff_packed_tile_bytes(format, columns);
}

int skiff_pack_matrix(skiff_type type, const void *src, int64_t rows, int64_t columns, void *dst,
                      skiff_packed_matrix *out) {
    size_t total = skiff_packed_bytes(type, rows, columns);
    if (total == 0) return -1;
    int format = packed_format(type);
    memset(dst, 0, total);
    const uint8_t *in = src;
    uint8_t *base = dst;
    size_t row_bytes = skiff_row_bytes(type, columns);
    size_t tile_bytes = skiff_packed_tile_bytes(format, columns);
    int64_t blocks = columns / SKIFF_BLOCK;
    size_t block_bytes = skiff_packed_block_bytes(format);

    for (int64_t row = 0; row < rows; row++) {
        const uint8_t *r = in + (size_t)row * row_bytes;
        uint8_t *tile = base + (size_t)(row / SKIFF_TILE) * tile_bytes;
        int lane = (int)(row % SKIFF_TILE);
        switch (format) {
        case SKIFF_PACKED_U4_DM:
        case SKIFF_PACKED_U4_D: {
            int has_min = format == SKIFF_PACKED_U4_DM;
            size_t src_block = has_min ? 20 : 18;
            size_t quants = has_min ? 4 : 2;
            for (int64_t b = 0; b < blocks; b++) {
                const uint8_t *sb = r + (size_t)b * src_block;
                uint8_t *db = tile + (size_t)b * block_bytes;
                for (int c = 0; c < 4; c++) memcpy(db + c * 64 + lane * 4, sb + quants + 4 * c, 4);
                memcpy(db + 256 + lane * 2, sb, 2);
                if (has_min) memcpy(db + 288 + lane * 2, sb + 2, 2);
            }
            break;
        }
        case SKIFF_PACKED_U8_D:
            for (int64_t b = 0; b < blocks; b++) {
                const uint8_t *sb = r + (size_t)b * 34;
                uint8_t *db = tile + (size_t)b * block_bytes;
                for (int g = 0; g < 8; g++) {
                    for (int j = 0; j < 4; j++) db[g * 64 + lane * 4 + j] = sb[2 + 4 * g + j] ^ 0x80;
                }
                memcpy(db + 512 + lane * 2, sb, 2);
            }
            break;
        case SKIFF_PACKED_F16:
            for (int64_t k = 0; k < columns; k++) memcpy(tile + (size_t)k * 32 + lane * 2, r + 2 * k, 2);
            break;
        case SKIFF_PACKED_F32:
            for (int64_t k = 0; k < columns; k++) {
                float v = type == SKIFF_TYPE_BF16 ? skiff_bf16_to_float(load_u16(r + 2 * k)) : 0;
                if (type == SKIFF_TYPE_F32) memcpy(&v, r + 4 * k, 4);
                memcpy(tile + (size_t)k * 64 + lane * 4, &v, 4);
            }
            break;
        }
    }
    out->format = format;
    out->rows = rows;
    out->columns = columns;
    out->data = dst;
    out->byte_count = total;
    return 0;
}

void skiff_packed_row(const skiff_packed_matrix *m, int64_t row, float *dst) {
    const int format = m->format;
    const uint8_t *tile = (const uint8_t *)m->data + (size_t)(row / SKIFF_TILE) * skiff_packed_tile_bytes(format, m->columns);
    const int lane = (int)(row % SKIFF_TILE);
    const int64_t blocks = m->columns / SKIFF_BLOCK;
    const size_t block_bytes = skiff_packed_block_bytes(format);
    switch (format) {
    case SKIFF_PACKED_U4_DM:
    case SKIFF_PACKED_U4_D:
        for (int64_t b = 0; b < blocks; b++) {
            const uint8_t *blk = tile + (size_t)b * block_bytes;
            float d = skiff_half_to_float(load_u16(blk + 256 + 2 * lane));
            int has_min = format == SKIFF_PACKED_U4_DM;
            float m = has_min ? skiff_half_to_float(load_u16(blk + 288 + 2 * lane)) : 0.0f;
            int offset = has_min ? 0 : 8;
            for (int c = 0; c < 4; c++) {
                for (int j = 0; j < 4; j++) {
                    uint8_t byte = blk[c * 64 + lane * 4 + j];
                    dst[b * 32 + 4 * c + j] = d * (float)((byte & 0xF) - offset) + m;
                    dst[b * 32 + 16 + 4 * c + j] = d * (float)((byte >> 4) - offset) + m;
                }
            }
        }
        return;
    case SKIFF_PACKED_U8_D:
        for (int64_t b = 0; b < blocks; b++) {
            const uint8_t *blk = tile + (size_t)b * block_bytes;
            float d = skiff_half_to_float(load_u16(blk + 512 + 2 * lane));
            for (int g = 0; g < 8; g++) {
                for (int j = 0; j < 4; j++) dst[b * 32 + 4 * g + j] = d * (float)(int8_t)(blk[g * 64 + lane * 4 + j] ^ 0x80);
            }
        }
        return;
    case SKIFF_PACKED_F16:
        for (int64_t k = 0; k < m->columns; k++) dst[k] = skiff_half_to_float(load_u16(tile + (size_t)k * 32 + 2 * lane));
        return;
    case SKIFF_PACKED_F32:
        for (int64_t k = 0; k < m->columns; k++) memcpy(dst + k, tile + (size_t)k * 64 + 4 * lane, 4);
        return;
    }
}
