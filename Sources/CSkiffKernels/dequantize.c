// GGUF storage types: the bytes of a row and the reference dequantization of each type. These loops
// define what every packed layout and every matrix kernel must compute; they favour clarity over speed.
#include "internal.h"

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t load_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static float load_half(const uint8_t *p) { return skiff_half_to_float(load_u16(p)); }

float skiff_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// The 16 values an IQ4 nibble selects (before the block's scale).
#define IQ4_TABLE(f) {f(-127), f(-104), f(-83), f(-65), f(-49), f(-35), f(-22), f(-10), f(1), f(13), f(25), f(38), f(53), f(69), f(89), f(113)}
#define AS_SIGNED(v) (v)
#define AS_UNSIGNED(v) ((v) + 128)
const int8_t skiff_iq4_values[16] = IQ4_TABLE(AS_SIGNED);
const uint8_t skiff_iq4_unsigned[16] = IQ4_TABLE(AS_UNSIGNED);
#undef AS_SIGNED
#undef AS_UNSIGNED
#undef IQ4_TABLE

/// Elements per block of a GGUF storage type (1 for the float types), 0 for a type the kernels cannot read.
static size_t type_block_size(skiff_type type) {
    switch (type) {
    case SKIFF_TYPE_F32:
    case SKIFF_TYPE_F16:
    case SKIFF_TYPE_BF16: return 1;
    case SKIFF_TYPE_Q4_0:
    case SKIFF_TYPE_Q4_1:
    case SKIFF_TYPE_Q5_0:
    case SKIFF_TYPE_Q5_1:
    case SKIFF_TYPE_Q8_0:
    case SKIFF_TYPE_IQ4_NL: return 32;
    case SKIFF_TYPE_Q2_K:
    case SKIFF_TYPE_Q3_K:
    case SKIFF_TYPE_Q4_K:
    case SKIFF_TYPE_Q5_K:
    case SKIFF_TYPE_Q6_K:
    case SKIFF_TYPE_IQ4_XS: return 256;
    }
    return 0;
}

static size_t block_bytes(skiff_type type) {
    switch (type) {
    case SKIFF_TYPE_F32: return 4;
    case SKIFF_TYPE_F16:
    case SKIFF_TYPE_BF16: return 2;
    case SKIFF_TYPE_Q4_0: return 18;
    case SKIFF_TYPE_Q4_1: return 20;
    case SKIFF_TYPE_Q5_0: return 22;
    case SKIFF_TYPE_Q5_1: return 24;
    case SKIFF_TYPE_Q8_0: return 34;
    case SKIFF_TYPE_IQ4_NL: return 18;
    case SKIFF_TYPE_Q2_K: return 84;
    case SKIFF_TYPE_Q3_K: return 110;
    case SKIFF_TYPE_Q4_K: return 144;
    case SKIFF_TYPE_Q5_K: return 176;
    case SKIFF_TYPE_Q6_K: return 210;
    case SKIFF_TYPE_IQ4_XS: return 136;
    }
    return 0;
}

size_t skiff_row_bytes(skiff_type type, int64_t columns) {
    size_t per_block = type_block_size(type);
    return per_block ? (size_t)columns / per_block * block_bytes(type) : 0;
}

/// The scale and minimum multipliers (6 bits each) of sub-block `k` (0..7) of a Q4_K or Q5_K block,
/// from its 12 packed bytes: the first four sub-blocks keep theirs in the low 6 bits of bytes k and k+4;
/// the last four combine a nibble of byte k+4 with the top 2 bits of bytes k-4 and k.
static void k_scale_min(const uint8_t *packed, int k, uint8_t *scale, uint8_t *min) {
    if (k < 4) {
        *scale = packed[k] & 63;
        *min = packed[k + 4] & 63;
    } else {
        *scale = (uint8_t)((packed[k + 4] & 0xF) | ((packed[k - 4] >> 6) << 4));
        *min = (uint8_t)((packed[k + 4] >> 4) | ((packed[k] >> 6) << 4));
    }
}

/// The signed 6-bit scale of sub-block `k` (0..15) of a Q3_K block, from its 12 packed bytes: low
/// nibbles of bytes 0..7 for sub-blocks 0..7, their high nibbles for 8..15, and 2 high bits each from
/// bytes 8..11.
static int q3_k_scale(const uint8_t *packed, int k) {
    int low = (packed[k % 8] >> (4 * (k / 8))) & 0xF;
    int high = (packed[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (low | high << 4) - 32;
}

/// The nibble of element j (0..31) of a 32-element block whose 16 bytes hold elements 0..15 in their low
/// nibbles and 16..31 in their high ones (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, and IQ4_XS's sub-blocks).
static int split_nibble(const uint8_t *qs, int j) { return (qs[j % 16] >> (4 * (j / 16))) & 0xF; }

#define LAYOUT(name, super, sub, planes, offset, has_min, iq4) [SKIFF_TYPE_##name] = {super, sub, planes, offset, has_min, iq4},
static const skiff_subblock_layout layouts[] = {SKIFF_SUBBLOCK_FORMATS(LAYOUT)};
#undef LAYOUT

const skiff_subblock_layout *skiff_subblock_layout_of_type(skiff_type type) {
    if ((size_t)type >= sizeof layouts / sizeof layouts[0] || layouts[type].super == 0) return NULL;
    return &layouts[type];
}

void skiff_unpack_subblocks(skiff_type type, const uint8_t *b, skiff_subblocks *out) {
    memset(out, 0, sizeof *out);
    switch (type) {
    case SKIFF_TYPE_Q5_0:
    case SKIFF_TYPE_Q5_1: {
        // d, (Q5_1: m,) qh (u32: the fifth bit of element j is bit j), qs[16]. Q5_0's value is
        // d·(u − 16); Q5_1's d·u + m, which is d·1·u − m·(−1).
        int has_min = type == SKIFF_TYPE_Q5_1;
        const uint8_t *qh = b + (has_min ? 4 : 2);
        uint32_t high = load_u32(qh);
        for (int j = 0; j < 32; j++) out->u[j] = (uint8_t)(split_nibble(qh + 4, j) | (int)((high >> j) & 1) << 4);
        out->d = load_u16(b);
        out->scale[0] = 1;
        if (has_min) {
            out->dmin = load_u16(b + 2);
            out->min[0] = -1;
        }
        return;
    }
    case SKIFF_TYPE_IQ4_NL:
        // d, qs[16]: the value is d·table[nibble].
        for (int j = 0; j < 32; j++) out->u[j] = (uint8_t)split_nibble(b + 2, j);
        out->d = load_u16(b);
        out->scale[0] = 1;
        return;
    case SKIFF_TYPE_Q2_K:
        // scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Element e = 128g + 32s + l holds
        // bits 2s..2s+1 of qs[32g + l]; sub-blocks are 16 elements.
        for (int e = 0; e < 256; e++) out->u[e] = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        for (int k = 0; k < 16; k++) {
            out->scale[k] = (int8_t)(b[k] & 0xF);
            out->min[k] = (int8_t)(b[k] >> 4);
        }
        out->d = load_u16(b + 80);
        out->dmin = load_u16(b + 82);
        return;
    case SKIFF_TYPE_Q3_K:
        // hmask[32], qs[64], scales[12], d. Low 2 bits as in Q2_K; the third bit of element e is bit e/32 of
        // hmask[e % 32]. A clear third bit means −4, so the value is d·scale·(u − 4) with u = low | bit << 2.
        for (int e = 0; e < 256; e++) {
            int low = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            out->u[e] = (uint8_t)(low | ((b[e % 32] >> (e / 32)) & 1) << 2);
        }
        for (int k = 0; k < 16; k++) out->scale[k] = (int8_t)q3_k_scale(b + 96, k);
        out->d = load_u16(b + 108);
        return;
    case SKIFF_TYPE_Q4_K:
    case SKIFF_TYPE_Q5_K: {
        // d, dmin, scales[12], (Q5_K: qh[32],) qs[128]. Sub-block k (32 elements) takes the low nibbles of
        // qs[32(k/2) ...] when k is even, the high ones when odd; Q5_K's fifth bit is bit k of qh[l].
        int five = type == SKIFF_TYPE_Q5_K;
        const uint8_t *qs = b + (five ? 48 : 16);
        for (int k = 0; k < 8; k++) {
            uint8_t sc, m;
            k_scale_min(b + 4, k, &sc, &m);
            out->scale[k] = (int8_t)sc;
            out->min[k] = (int8_t)m;
            for (int l = 0; l < 32; l++) {
                int q = (qs[32 * (k / 2) + l] >> (4 * (k % 2))) & 0xF;
                if (five) q |= ((b[16 + l] >> k) & 1) << 4;
                out->u[32 * k + l] = (uint8_t)q;
            }
        }
        out->d = load_u16(b);
        out->dmin = load_u16(b + 2);
        return;
    }
    case SKIFF_TYPE_Q6_K:
        // ql[128], qh[64], scales[16] (signed), d. Element e = 128h + 32j + l: the low nibble of
        // ql[64h + 32(j % 2) + l] (the high nibble for j ≥ 2), the top 2 bits j of qh[32h + l]; value − 32.
        for (int e = 0; e < 256; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int low = (b[64 * h + 32 * (j % 2) + l] >> (4 * (j / 2))) & 0xF;
            int high = (b[128 + 32 * h + l] >> (2 * j)) & 3;
            out->u[e] = (uint8_t)(low | high << 4);
        }
        memcpy(out->scale, b + 192, 16);
        out->d = load_u16(b + 208);
        return;
    case SKIFF_TYPE_IQ4_XS: {
        // d, scales_h (u16: 2 bits a sub-block), scales_l[4] (a nibble a sub-block), qs[128]. Sub-block k
        // (32 elements) is split like Q4_0's block in qs[16k ...], each nibble indexing the IQ4 table.
        uint16_t scales_h = load_u16(b + 2);
        for (int k = 0; k < 8; k++) {
            out->scale[k] = (int8_t)((((b[4 + k / 2] >> (4 * (k % 2))) & 0xF) | ((scales_h >> (2 * k)) & 3) << 4) - 32);
            for (int l = 0; l < 32; l++) out->u[32 * k + l] = (uint8_t)split_nibble(b + 8 + 16 * k, l);
        }
        out->d = load_u16(b);
        return;
    }
    default: return;
    }
}

float skiff_subblock_value(const skiff_subblock_layout *l, int u, int scale, int min, float d, float dmin) {
    int w = l->iq4 ? skiff_iq4_values[u] + 128 : u;
    float value = d * (float)scale * (float)(w - l->offset);
    return l->has_min ? value - dmin * (float)min : value;
}

static void dequantize_block(skiff_type type, const uint8_t *p, float *x) {
    const skiff_subblock_layout *l = skiff_subblock_layout_of_type(type);
    if (l) {
        skiff_subblocks blocks;
        skiff_unpack_subblocks(type, p, &blocks);
        float d = skiff_half_to_float(blocks.d), dmin = skiff_half_to_float(blocks.dmin);
        for (int e = 0; e < l->super; e++) {
            x[e] = skiff_subblock_value(l, blocks.u[e], blocks.scale[e / l->sub], blocks.min[e / l->sub], d, dmin);
        }
        return;
    }
    switch (type) {
    case SKIFF_TYPE_F32: memcpy(x, p, 4); return;
    case SKIFF_TYPE_F16: x[0] = load_half(p); return;
    case SKIFF_TYPE_BF16: x[0] = skiff_bf16_to_float(load_u16(p)); return;
    case SKIFF_TYPE_Q4_0: {
        // d, qs[16]; value d·(nibble − 8).
        float d = load_half(p);
        for (int j = 0; j < 32; j++) x[j] = d * (float)(split_nibble(p + 2, j) - 8);
        return;
    }
    case SKIFF_TYPE_Q4_1: {
        // d, m, qs[16]; value d·nibble + m.
        float d = load_half(p), m = load_half(p + 2);
        for (int j = 0; j < 32; j++) x[j] = d * (float)split_nibble(p + 4, j) + m;
        return;
    }
    case SKIFF_TYPE_Q8_0: {
        float d = load_half(p);
        for (int j = 0; j < 32; j++) x[j] = d * (float)(int8_t)p[2 + j];
        return;
    }
    default: return;
    }
}

void skiff_dequantize_row(skiff_type type, const void *row, float *dst, int64_t columns) {
    size_t per_block = type_block_size(type);
    size_t bytes = block_bytes(type);
    if (!per_block) return;
    const uint8_t *p = row;
    for (int64_t done = 0; done + (int64_t)per_block <= columns; done += (int64_t)per_block, p += bytes) {
        dequantize_block(type, p, dst + done);
    }
}
