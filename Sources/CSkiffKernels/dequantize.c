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
const int8_t skiff_iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

size_t skiff_type_block_size(skiff_type type) {
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
    size_t per_block = skiff_type_block_size(type);
    return per_block ? (size_t)columns / per_block * block_bytes(type) : 0;
}

/// The scale and minimum multipliers (6 bits each) of sub-block `k` (0..7) of a Q4_K or Q5_K block,
/// from its 12 packed bytes: the first four sub-blocks keep theirs in the low 6 bits of bytes k and k+4;
/// the last four combine a nibble of byte k+4 with the top 2 bits of bytes k-4 and k.
void skiff_k_scale_min(const uint8_t *packed, int k, uint8_t *scale, uint8_t *min) {
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

static void dequantize_q2_k(const uint8_t *b, float *x) {
    // scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Element e = 128g + 32s + l holds
    // bits 2s..2s+1 of qs[32g + l]; sub-blocks are 16 elements.
    float d = load_half(b + 80), dmin = load_half(b + 82);
    for (int e = 0; e < 256; e++) {
        int g = e / 128, s = (e % 128) / 32, l = e % 32;
        int q = (b[16 + 32 * g + l] >> (2 * s)) & 3;
        uint8_t sm = b[e / 16];
        x[e] = d * (float)(sm & 0xF) * (float)q - dmin * (float)(sm >> 4);
    }
}

static void dequantize_q3_k(const uint8_t *b, float *x) {
    // hmask[32], qs[64], scales[12], d. Low 2 bits as in Q2_K; the high bit of element e is bit e/32 of
    // hmask[e % 32], and a clear high bit subtracts 4.
    float d = load_half(b + 108);
    for (int e = 0; e < 256; e++) {
        int g = e / 128, s = (e % 128) / 32, l = e % 32;
        int low = (b[32 + 32 * g + l] >> (2 * s)) & 3;
        int high = (b[l] >> (e / 32)) & 1;
        x[e] = d * (float)q3_k_scale(b + 96, e / 16) * (float)(low - (high ? 0 : 4));
    }
}

static void dequantize_q4_k(const uint8_t *b, float *x) {
    // d, dmin, scales[12], qs[128]. Sub-block k (32 elements) takes the low nibbles of qs[32(k/2) ...]
    // when k is even, the high ones when odd.
    float d = load_half(b), dmin = load_half(b + 2);
    for (int k = 0; k < 8; k++) {
        uint8_t sc, m;
        skiff_k_scale_min(b + 4, k, &sc, &m);
        for (int l = 0; l < 32; l++) {
            int q = (b[16 + 32 * (k / 2) + l] >> (4 * (k % 2))) & 0xF;
            x[32 * k + l] = d * (float)sc * (float)q - dmin * (float)m;
        }
    }
}

static void dequantize_q5_k(const uint8_t *b, float *x) {
    // d, dmin, scales[12], qh[32], qs[128]: Q4_K's nibbles plus a fifth bit, bit k of qh[l].
    float d = load_half(b), dmin = load_half(b + 2);
    for (int k = 0; k < 8; k++) {
        uint8_t sc, m;
        skiff_k_scale_min(b + 4, k, &sc, &m);
        for (int l = 0; l < 32; l++) {
            int q = ((b[48 + 32 * (k / 2) + l] >> (4 * (k % 2))) & 0xF) | ((b[16 + l] >> k) & 1) << 4;
            x[32 * k + l] = d * (float)sc * (float)q - dmin * (float)m;
        }
    }
}

static void dequantize_q6_k(const uint8_t *b, float *x) {
    // ql[128], qh[64], scales[16] (signed), d. Element e = 128h + 32j + l: low nibble of
    // ql[64h + 32(j % 2) + l] (the high nibble for j ≥ 2), high 2 bits j of qh[32h + l]; value − 32.
    float d = load_half(b + 208);
    const int8_t *scales = (const int8_t *)(b + 192);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, j = (e % 128) / 32, l = e % 32;
        int low = (b[64 * h + 32 * (j % 2) + l] >> (4 * (j / 2))) & 0xF;
        int high = (b[128 + 32 * h + l] >> (2 * j)) & 3;
        x[e] = d * (float)scales[e / 16] * (float)((low | high << 4) - 32);
    }
}

static void dequantize_iq4_xs(const uint8_t *b, float *x) {
    // d, scales_h (u16: 2 bits a sub-block), scales_l[4] (a nibble a sub-block), qs[128]. Sub-block k
    // (32 elements): low nibbles of qs[16k ... 16k+15], then their high nibbles, through the IQ4 table.
    float d = load_half(b);
    uint16_t scales_h = load_u16(b + 2);
    for (int k = 0; k < 8; k++) {
        int scale = (((b[4 + k / 2] >> (4 * (k % 2))) & 0xF) | ((scales_h >> (2 * k)) & 3) << 4) - 32;
        for (int l = 0; l < 32; l++) {
            int q = (b[8 + 16 * k + l % 16] >> (4 * (l / 16))) & 0xF;
            x[32 * k + l] = d * (float)scale * (float)skiff_iq4_values[q];
        }
    }
}

static void dequantize_block(skiff_type type, const uint8_t *p, float *x) {
    switch (type) {
    case SKIFF_TYPE_F32: memcpy(x, p, 4); return;
    case SKIFF_TYPE_F16: x[0] = load_half(p); return;
    case SKIFF_TYPE_BF16: x[0] = skiff_bf16_to_float(load_u16(p)); return;
    case SKIFF_TYPE_Q4_0: {
        // d, qs[16]: element j < 16 the low nibble of qs[j], j ≥ 16 the high nibble of qs[j − 16].
        float d = load_half(p);
        for (int j = 0; j < 32; j++) x[j] = d * (float)(((p[2 + j % 16] >> (4 * (j / 16))) & 0xF) - 8);
        return;
    }
    case SKIFF_TYPE_Q4_1: {
        float d = load_half(p), m = load_half(p + 2);
        for (int j = 0; j < 32; j++) x[j] = d * (float)((p[4 + j % 16] >> (4 * (j / 16))) & 0xF) + m;
        return;
    }
    case SKIFF_TYPE_Q5_0: {
        // d, qh (u32: the fifth bit of element j is bit j), qs[16] as Q4_0; value − 16.
        float d = load_half(p);
        uint32_t qh = load_u32(p + 2);
        for (int j = 0; j < 32; j++) {
            int q = ((p[6 + j % 16] >> (4 * (j / 16))) & 0xF) | (int)((qh >> j) & 1) << 4;
            x[j] = d * (float)(q - 16);
        }
        return;
    }
    case SKIFF_TYPE_Q5_1: {
        float d = load_half(p), m = load_half(p + 2);
        uint32_t qh = load_u32(p + 4);
        for (int j = 0; j < 32; j++) {
            int q = ((p[8 + j % 16] >> (4 * (j / 16))) & 0xF) | (int)((qh >> j) & 1) << 4;
            x[j] = d * (float)q + m;
        }
        return;
    }
    case SKIFF_TYPE_Q8_0: {
        float d = load_half(p);
        for (int j = 0; j < 32; j++) x[j] = d * (float)(int8_t)p[2 + j];
        return;
    }
    case SKIFF_TYPE_IQ4_NL: {
        float d = load_half(p);
        for (int j = 0; j < 32; j++) x[j] = d * (float)skiff_iq4_values[(p[2 + j % 16] >> (4 * (j / 16))) & 0xF];
        return;
    }
    case SKIFF_TYPE_Q2_K: dequantize_q2_k(p, x); return;
    case SKIFF_TYPE_Q3_K: dequantize_q3_k(p, x); return;
    case SKIFF_TYPE_Q4_K: dequantize_q4_k(p, x); return;
    case SKIFF_TYPE_Q5_K: dequantize_q5_k(p, x); return;
    case SKIFF_TYPE_Q6_K: dequantize_q6_k(p, x); return;
    case SKIFF_TYPE_IQ4_XS: dequantize_iq4_xs(p, x); return;
    }
}

void skiff_dequantize_row(skiff_type type, const void *row, float *dst, int64_t columns) {
    size_t per_block = skiff_type_block_size(type);
    size_t bytes = block_bytes(type);
    if (!per_block) return;
    const uint8_t *p = row;
    for (int64_t done = 0; done + (int64_t)per_block <= columns; done += (int64_t)per_block, p += bytes) {
        dequantize_block(type, p, dst + done);
    }
}
