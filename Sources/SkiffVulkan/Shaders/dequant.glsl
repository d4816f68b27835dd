// Weights in their GGUF block layouts (ggml's), read in runs of 8 values from a texel buffer of 32-bit words
// (set 0, binding 0). A shader including this file defines one TYPE_* macro; `row` is the byte offset of a
// row, `g` the index of a run of 8 along it.
//
// A texel buffer, not a storage buffer: a device that runs threads as CPU vector lanes (lavapipe) gathers texels
// for all lanes at once, but loads storage buffers lane by lane. Every block's size and fields sit at even byte
// offsets.

layout(set = 0, binding = 0) uniform usamplerBuffer weight_words;

uint word_at(uint byte_offset) {
    return texelFetch(weight_words, int(byte_offset >> 2)).x;
}

uint u16_at(uint byte_offset) {
    return (word_at(byte_offset) >> ((byte_offset & 2u) * 8u)) & 0xFFFFu;
}

float half_at(uint byte_offset) {
    return unpackHalf2x16(u16_at(byte_offset)).x;
}

uint byte_at(uint byte_offset) {
    return (word_at(byte_offset) >> ((byte_offset & 3u) * 8u)) & 255u;
}

// IQ4_NL's and IQ4_XS's non-linear 4-bit values.
const float iq4_values[16] = float[16](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

// Q4_K's and Q5_K's 6-bit scale and min of sub-block s (0..7), from the 12 bytes at `scales`.
void k4_scale_min(uint scales, uint s, out float scale, out float minimum) {
    if (s < 4) {
        scale = float(byte_at(scales + s) & 63u);
        minimum = float(byte_at(scales + s + 4) & 63u);
    } else {
        scale = float((byte_at(scales + s + 4) & 15u) | ((byte_at(scales + s - 4) >> 6) << 4));
        minimum = float((byte_at(scales + s + 4) >> 4) | ((byte_at(scales + s) >> 6) << 4));
    }
}

#if defined(TYPE_F32)
const uint BLOCK_VALUES = 1, BLOCK_BYTES = 4;
#elif defined(TYPE_F16) || defined(TYPE_BF16)
const uint BLOCK_VALUES = 1, BLOCK_BYTES = 2;
#elif defined(TYPE_Q4_0) || defined(TYPE_IQ4_NL)
const uint BLOCK_VALUES = 32, BLOCK_BYTES = 18;
#elif defined(TYPE_Q4_1)
const uint BLOCK_VALUES = 32, BLOCK_BYTES = 20;
#elif defined(TYPE_Q5_0)
const uint BLOCK_VALUES = 32, BLOCK_BYTES = 22;
#elif defined(TYPE_Q5_1)
const uint BLOCK_VALUES = 32, BLOCK_BYTES = 24;
#elif defined(TYPE_Q8_0)
const uint BLOCK_VALUES = 32, BLOCK_BYTES = 34;
#elif defined(TYPE_Q2_K)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 84;
#elif defined(TYPE_Q3_K)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 110;
#elif defined(TYPE_Q4_K)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 144;
#elif defined(TYPE_Q5_K)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 176;
#elif defined(TYPE_Q6_K)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 210;
#elif defined(TYPE_IQ4_XS)
const uint BLOCK_VALUES = 256, BLOCK_BYTES = 136;
#else
#error "a TYPE_* macro names the weights' type"
#endif

// The 8 bytes from an even byte offset, from the two or three 32-bit words they span.
void bytes8(uint byte_offset, out uint q[8]) {
    uint first = byte_offset & ~3u;
    uint w0 = word_at(first), w1 = word_at(first + 4);
    uint lo = w0, hi = w1;
    if ((byte_offset & 2u) != 0) {
        uint w2 = word_at(first + 8);
        lo = (w0 >> 16) | (w1 << 16);
        hi = (w1 >> 16) | (w2 << 16);
    }
    for (uint i = 0; i < 4; i++) {
        q[i] = (lo >> (8 * i)) & 255u;
        q[4 + i] = (hi >> (8 * i)) & 255u;
    }
}

// Values 8g ... 8g+7 of the row at byte offset `row` of weights `b`. Every run's bytes start at an even offset.
void dequant8(uint row, uint g, out float v[8]) {
    uint first = 8 * g;
#if defined(TYPE_F32)
    for (uint i = 0; i < 8; i++) v[i] = uintBitsToFloat(word_at(row + 4 * (first + i)));
#elif defined(TYPE_F16) || defined(TYPE_BF16)
    for (uint i = 0; i < 4; i++) {
        uint w = word_at(row + 2 * first + 4 * i);
#if defined(TYPE_F16)
        vec2 pair = unpackHalf2x16(w);
        v[2 * i] = pair.x;
        v[2 * i + 1] = pair.y;
#else
        v[2 * i] = uintBitsToFloat(w << 16);
        v[2 * i + 1] = uintBitsToFloat(w & 0xFFFF0000u);
#endif
    }
#else
    uint block = row + (first / BLOCK_VALUES) * BLOCK_BYTES;
    uint e = first % BLOCK_VALUES;  // the run's first value within its block
    uint q[8];
#if defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_IQ4_NL)
#if defined(TYPE_Q4_1)
    bytes8(block + 4 + e % 16, q);
    float d = half_at(block), m = half_at(block + 2);
#else
    bytes8(block + 2 + e % 16, q);
    float d = half_at(block), m = 0;
#endif
    uint shift = e < 16 ? 0 : 4;
    for (uint i = 0; i < 8; i++) {
        uint x = (q[i] >> shift) & 15u;
#if defined(TYPE_Q4_0)
        v[i] = d * (float(x) - 8.0);
#elif defined(TYPE_IQ4_NL)
        v[i] = d * iq4_values[x];
#else
        v[i] = d * float(x) + m;
#endif
    }
#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#if defined(TYPE_Q5_1)
    float d = half_at(block), m = half_at(block + 2);
    const uint high = block + 4;
#else
    float d = half_at(block), m = 0;
    const uint high = block + 2;
#endif
    uint qh = u16_at(high) | (u16_at(high + 2) << 16);
    bytes8(high + 4 + e % 16, q);
    uint shift = e < 16 ? 0 : 4;
    for (uint i = 0; i < 8; i++) {
        uint x = ((q[i] >> shift) & 15u) | (((qh >> (e + i)) & 1u) << 4);
#if defined(TYPE_Q5_0)
        v[i] = d * (float(x) - 16.0);
#else
        v[i] = d * float(x) + m;
#endif
    }
#elif defined(TYPE_Q8_0)
    float d = half_at(block);
    bytes8(block + 2 + e, q);
    for (uint i = 0; i < 8; i++) v[i] = d * float(int(q[i] << 24) >> 24);
#elif defined(TYPE_Q2_K) || defined(TYPE_Q3_K)
    // 128-value halves n, each of 4 shifts j, each of two 16-value parts.
    uint n = e / 128, j = (e % 128) / 32, part = (e % 32) / 16, l = e % 16;
    uint scale_index = 8 * n + 2 * j + part;
#if defined(TYPE_Q2_K)
    float d = half_at(block + 80), dmin = half_at(block + 82);
    uint sc = byte_at(block + scale_index);
    float scale = d * float(sc & 15u), minimum = dmin * float(sc >> 4);
    bytes8(block + 16 + 32 * n + 16 * part + l, q);
    for (uint i = 0; i < 8; i++) v[i] = scale * float((q[i] >> (2 * j)) & 3u) - minimum;
#else
    float d = half_at(block + 108);
    uint low = scale_index < 8 ? byte_at(block + 96 + scale_index) & 15u : byte_at(block + 96 + scale_index - 8) >> 4;
    uint high = (byte_at(block + 96 + 8 + scale_index % 4) >> (2 * (scale_index / 4))) & 3u;
    float scale = d * (float(low | (high << 4)) - 32.0);
    uint mask = 1u << (4 * n + j);
    uint h[8];
    bytes8(block + 32 + 32 * n + 16 * part + l, q);
    bytes8(block + 16 * part + l, h);
    for (uint i = 0; i < 8; i++) v[i] = scale * (float((q[i] >> (2 * j)) & 3u) - ((h[i] & mask) != 0 ? 0.0 : 4.0));
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint sub = e / 32, l = e % 32;
    float scale, minimum;
    k4_scale_min(block + 4, sub, scale, minimum);
    scale *= half_at(block);
    minimum *= half_at(block + 2);
#if defined(TYPE_Q4_K)
    bytes8(block + 16 + 32 * (sub / 2) + l, q);
#else
    bytes8(block + 48 + 32 * (sub / 2) + l, q);
    uint h[8];
    bytes8(block + 16 + l, h);
#endif
    for (uint i = 0; i < 8; i++) {
        uint x = (q[i] >> (4 * (sub % 2))) & 15u;
#if defined(TYPE_Q5_K)
        x |= ((h[i] >> sub) & 1u) << 4;
#endif
        v[i] = scale * float(x) - minimum;
    }
#elif defined(TYPE_Q6_K)
    uint n = e / 128, r = e % 128, quadrant = r / 32, l = r % 32;
    float scale = half_at(block + 208) * float(int(byte_at(block + 192 + 8 * n + l / 16 + 2 * quadrant) << 24) >> 24);
    uint h[8];
    bytes8(block + 64 * n + (quadrant & 1u) * 32 + l, q);
    bytes8(block + 128 + 32 * n + l, h);
    uint shift = quadrant >= 2 ? 4 : 0;
    for (uint i = 0; i < 8; i++) {
        uint x = ((q[i] >> shift) & 15u) | (((h[i] >> (2 * quadrant)) & 3u) << 4);
        v[i] = scale * (float(x) - 32.0);
    }
#elif defined(TYPE_IQ4_XS)
    uint sub = e / 32, l = e % 32;
    uint low = (byte_at(block + 4 + sub / 2) >> (4 * (sub % 2))) & 15u;
    uint high = (u16_at(block + 2) >> (2 * sub)) & 3u;
    float scale = half_at(block) * (float(low | (high << 4)) - 32.0);
    bytes8(block + 8 + 16 * sub + l % 16, q);
    uint shift = l < 16 ? 0 : 4;
    for (uint i = 0; i < 8; i++) v[i] = scale * iq4_values[(q[i] >> shift) & 15u];
#endif
#endif
}
