// Weights in their GGUF block layouts (ggml's), read in runs of 8 values. A shader including this file defines
// one TYPE_* macro; `row` is the byte offset of a row, `g` the index of a run of 8 along it.
//
// Every block's size and fields sit at even byte offsets, so halves are read as 16-bit words and quants as bytes.

float half_at(Shorts s, uint byte_offset) {
    return unpackHalf2x16(uint(s.v[byte_offset >> 1])).x;
}

uint byte_at(Bytes b, uint byte_offset) {
    return (uint(Shorts(b).v[byte_offset >> 1]) >> ((byte_offset & 1u) * 8u)) & 255u;
}

// IQ4_NL's and IQ4_XS's non-linear 4-bit values.
const float iq4_values[16] = float[16](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

// Q4_K's and Q5_K's 6-bit scale and min of sub-block s (0..7), from the 12 bytes at `scales`.
void k4_scale_min(Bytes b, uint scales, uint s, out float scale, out float minimum) {
    if (s < 4) {
        scale = float(byte_at(b, scales + s) & 63u);
        minimum = float(byte_at(b, scales + s + 4) & 63u);
    } else {
        scale = float((byte_at(b, scales + s + 4) & 15u) | ((byte_at(b, scales + s - 4) >> 6) << 4));
        minimum = float((byte_at(b, scales + s + 4) >> 4) | ((byte_at(b, scales + s) >> 6) << 4));
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

// The 8 bytes from an even byte offset, read as four 16-bit words (a quarter of the loads of bytes one by one).
void bytes8(Shorts s, uint byte_offset, out uint q[8]) {
    uint word = byte_offset >> 1;
    for (uint i = 0; i < 4; i++) {
        uint w = uint(s.v[word + i]);
        q[2 * i] = w & 255u;
        q[2 * i + 1] = w >> 8;
    }
}

// Values 8g ... 8g+7 of the row at byte offset `row` of weights `b`. Every run's bytes start at an even offset.
void dequant8(Bytes b, uint row, uint g, out float v[8]) {
    Shorts s = Shorts(b);
    uint first = 8 * g;
#if defined(TYPE_F32)
    Vec4s f = Vec4s(b);
    uint at = (row >> 4) + (first >> 2);
    vec4 lo = f.v[at], hi = f.v[at + 1];
    v[0] = lo.x; v[1] = lo.y; v[2] = lo.z; v[3] = lo.w; v[4] = hi.x; v[5] = hi.y; v[6] = hi.z; v[7] = hi.w;
#elif defined(TYPE_F16)
    for (uint i = 0; i < 8; i++) v[i] = half_at(s, row + 2 * (first + i));
#elif defined(TYPE_BF16)
    for (uint i = 0; i < 8; i++) v[i] = uintBitsToFloat(uint(s.v[(row >> 1) + first + i]) << 16);
#else
    uint block = row + (first / BLOCK_VALUES) * BLOCK_BYTES;
    uint e = first % BLOCK_VALUES;  // the run's first value within its block
    uint q[8];
#if defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_IQ4_NL)
#if defined(TYPE_Q4_1)
    bytes8(s, block + 4 + e % 16, q);
    float d = half_at(s, block), m = half_at(s, block + 2);
#else
    bytes8(s, block + 2 + e % 16, q);
    float d = half_at(s, block), m = 0;
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
    float d = half_at(s, block), m = half_at(s, block + 2);
    const uint high = block + 4;
#else
    float d = half_at(s, block), m = 0;
    const uint high = block + 2;
#endif
    uint qh = uint(s.v[high >> 1]) | (uint(s.v[(high >> 1) + 1]) << 16);
    bytes8(s, high + 4 + e % 16, q);
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
    float d = half_at(s, block);
    bytes8(s, block + 2 + e, q);
    for (uint i = 0; i < 8; i++) v[i] = d * float(int(q[i] << 24) >> 24);
#elif defined(TYPE_Q2_K) || defined(TYPE_Q3_K)
    // 128-value halves n, each of 4 shifts j, each of two 16-value parts.
    uint n = e / 128, j = (e % 128) / 32, part = (e % 32) / 16, l = e % 16;
    uint scale_index = 8 * n + 2 * j + part;
#if defined(TYPE_Q2_K)
    float d = half_at(s, block + 80), dmin = half_at(s, block + 82);
    uint sc = byte_at(b, block + scale_index);
    float scale = d * float(sc & 15u), minimum = dmin * float(sc >> 4);
    bytes8(s, block + 16 + 32 * n + 16 * part + l, q);
    for (uint i = 0; i < 8; i++) v[i] = scale * float((q[i] >> (2 * j)) & 3u) - minimum;
#else
    float d = half_at(s, block + 108);
    uint low = scale_index < 8 ? byte_at(b, block + 96 + scale_index) & 15u : byte_at(b, block + 96 + scale_index - 8) >> 4;
    uint high = (byte_at(b, block + 96 + 8 + scale_index % 4) >> (2 * (scale_index / 4))) & 3u;
    float scale = d * (float(low | (high << 4)) - 32.0);
    uint mask = 1u << (4 * n + j);
    uint h[8];
    bytes8(s, block + 32 + 32 * n + 16 * part + l, q);
    bytes8(s, block + 16 * part + l, h);
    for (uint i = 0; i < 8; i++) v[i] = scale * (float((q[i] >> (2 * j)) & 3u) - ((h[i] & mask) != 0 ? 0.0 : 4.0));
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    uint sub = e / 32, l = e % 32;
    float scale, minimum;
    k4_scale_min(b, block + 4, sub, scale, minimum);
    scale *= half_at(s, block);
    minimum *= half_at(s, block + 2);
#if defined(TYPE_Q4_K)
    bytes8(s, block + 16 + 32 * (sub / 2) + l, q);
#else
    bytes8(s, block + 48 + 32 * (sub / 2) + l, q);
    uint h[8];
    bytes8(s, block + 16 + l, h);
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
    float scale = half_at(s, block + 208) * float(int8_t(b.v[block + 192 + 8 * n + l / 16 + 2 * quadrant]));
    uint h[8];
    bytes8(s, block + 64 * n + (quadrant & 1u) * 32 + l, q);
    bytes8(s, block + 128 + 32 * n + l, h);
    uint shift = quadrant >= 2 ? 4 : 0;
    for (uint i = 0; i < 8; i++) {
        uint x = ((q[i] >> shift) & 15u) | (((h[i] >> (2 * quadrant)) & 3u) << 4);
        v[i] = scale * (float(x) - 32.0);
    }
#elif defined(TYPE_IQ4_XS)
    uint sub = e / 32, l = e % 32;
    uint low = (byte_at(b, block + 4 + sub / 2) >> (4 * (sub % 2))) & 15u;
    uint high = ((uint(s.v[(block + 2) >> 1]) >> (2 * sub)) & 3u);
    float scale = half_at(s, block) * (float(low | (high << 4)) - 32.0);
    bytes8(s, block + 8 + 16 * sub + l % 16, q);
    uint shift = l < 16 ? 0 : 4;
    for (uint i = 0; i < 8; i++) v[i] = scale * iq4_values[(q[i] >> shift) & 15u];
#endif
#endif
}
