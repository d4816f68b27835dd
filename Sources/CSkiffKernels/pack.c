// Repacking GGUF tensors into the compute layout, and reading rows back from it.
#include "internal.h"

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/// Each sub-block format and the GGUF type it holds.
static const struct {
    skiff_packed_format format;
    skiff_type type;
} subblock_types[] = {
#define PAIR(name, ...) {SKIFF_PACKED_##name, SKIFF_TYPE_##name},
    SKIFF_SUBBLOCK_FORMATS(PAIR)
#undef PAIR
};

const skiff_subblock_layout *skiff_subblock_layout_of(int format) {
    for (size_t i = 0; i < sizeof subblock_types / sizeof subblock_types[0]; i++) {
        if ((int)subblock_types[i].format == format) return skiff_subblock_layout_of_type(subblock_types[i].type);
    }
    return NULL;
}

static int packed_format(skiff_type type) {
    for (size_t i = 0; i < sizeof subblock_types / sizeof subblock_types[0]; i++) {
        if (subblock_types[i].type == type) return (int)subblock_types[i].format;
    }
    switch (type) {
    case SKIFF_TYPE_Q4_1: return SKIFF_PACKED_U4_DM;
    case SKIFF_TYPE_Q4_0: return SKIFF_PACKED_U4_D;
    case SKIFF_TYPE_Q8_0: return SKIFF_PACKED_U8_D;
    case SKIFF_TYPE_F16: return SKIFF_PACKED_F16;
    case SKIFF_TYPE_F32:
    case SKIFF_TYPE_BF16: return SKIFF_PACKED_F32;
    default: return 0;
    }
}

size_t skiff_packed_bytes(skiff_type type, int64_t rows, int64_t columns) {
    int format = packed_format(type);
    if (!format || rows <= 0 || columns <= 0) return 0;
    const skiff_subblock_layout *l = skiff_subblock_layout_of(format);
    int64_t multiple = l ? l->super : format == SKIFF_PACKED_F16 || format == SKIFF_PACKED_F32 ? 1 : SKIFF_BLOCK;
    if (columns % multiple != 0) return 0;
    int64_t tiles = (rows + SKIFF_TILE - 1) / SKIFF_TILE;
    return (size_t)tiles * skiff_packed_tile_bytes(format, columns);
}

/// Writes one row (`lane` of its tile) of one unpacked super-block into the tile's super-block area.
static void pack_subblocks(const skiff_subblock_layout *l, const skiff_subblocks *in, int lane, uint8_t *area) {
    skiff_subblock_offsets o = skiff_subblock_offsets_of(l);
    int blocks = l->super / SKIFF_BLOCK, per_row = l->super / l->sub;
    for (int b = 0; b < blocks; b++) {
        const uint8_t *u = in->u + SKIFF_BLOCK * b;
        for (int c = 0; c < 4; c++) {
            for (int j = 0; j < 4; j++) {
                int first = u[4 * c + j], second = u[16 + 4 * c + j];
                area[256 * b + 64 * c + 4 * lane + j] = (uint8_t)((first & 0xF) | (second & 0xF) << 4);
                for (int p = 0; p < l->high_planes; p++) {
                    uint8_t *byte = &area[o.planes + 64 * ((size_t)p * blocks + b) + 4 * lane + j];
                    *byte |= (uint8_t)(((first >> (4 + p)) & 1) << c | ((second >> (4 + p)) & 1) << (4 + c));
                }
            }
        }
    }
    for (int k = 0; k < per_row; k++) {
        area[o.scales + SKIFF_TILE * k + lane] = (uint8_t)in->scale[k];
        if (l->has_min) area[o.mins + SKIFF_TILE * k + lane] = (uint8_t)in->min[k];
    }
    memcpy(area + o.d + 2 * lane, &in->d, 2);
    if (l->has_min) memcpy(area + o.dmin + 2 * lane, &in->dmin, 2);
}

void skiff_unpack_lane(const skiff_subblock_layout *l, const uint8_t *area, int lane, skiff_subblocks *out) {
    skiff_subblock_offsets o = skiff_subblock_offsets_of(l);
    int blocks = l->super / SKIFF_BLOCK, per_row = l->super / l->sub;
    for (int b = 0; b < blocks; b++) {
        for (int c = 0; c < 4; c++) {
            for (int j = 0; j < 4; j++) {
                uint8_t byte = area[256 * b + 64 * c + 4 * lane + j];
                int first = byte & 0xF, second = byte >> 4;
                for (int p = 0; p < l->high_planes; p++) {
                    uint8_t bits = area[o.planes + 64 * ((size_t)p * blocks + b) + 4 * lane + j];
                    first |= ((bits >> c) & 1) << (4 + p);
                    second |= ((bits >> (4 + c)) & 1) << (4 + p);
                }
                out->u[SKIFF_BLOCK * b + 4 * c + j] = (uint8_t)first;
                out->u[SKIFF_BLOCK * b + 16 + 4 * c + j] = (uint8_t)second;
            }
        }
    }
    for (int k = 0; k < per_row; k++) {
        out->scale[k] = (int8_t)area[o.scales + SKIFF_TILE * k + lane];
        out->min[k] = l->has_min ? (int8_t)area[o.mins + SKIFF_TILE * k + lane] : 0;
    }
    out->d = load_u16(area + o.d + 2 * lane);
    out->dmin = l->has_min ? load_u16(area + o.dmin + 2 * lane) : 0;
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

    const skiff_subblock_layout *layout = skiff_subblock_layout_of(format);
    for (int64_t row = 0; row < rows; row++) {
        const uint8_t *r = in + (size_t)row * row_bytes;
        uint8_t *tile = base + (size_t)(row / SKIFF_TILE) * tile_bytes;
        int lane = (int)(row % SKIFF_TILE);
        if (layout) {
            size_t source_bytes = skiff_row_bytes(type, layout->super);
            for (int64_t s = 0; s < columns / layout->super; s++) {
                skiff_subblocks unpacked;
                skiff_unpack_subblocks(type, r + (size_t)s * source_bytes, &unpacked);
                pack_subblocks(layout, &unpacked, lane, tile + (size_t)s * skiff_subblock_bytes(layout));
            }
            continue;
        }
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
    const skiff_subblock_layout *layout = skiff_subblock_layout_of(format);
    if (layout) {
        for (int64_t s = 0; s < m->columns / layout->super; s++) {
            skiff_subblocks unpacked;
            skiff_unpack_lane(layout, tile + (size_t)s * skiff_subblock_bytes(layout), lane, &unpacked);
            float d = skiff_half_to_float(unpacked.d), dmin = skiff_half_to_float(unpacked.dmin);
            for (int e = 0; e < layout->super; e++) {
                dst[s * layout->super + e] = skiff_subblock_value(layout, unpacked.u[e], unpacked.scale[e / layout->sub],
                                                                  unpacked.min[e / layout->sub], d, dmin);
            }
        }
        return;
    }
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
