#version 450
//! texel-buffers 1
// Activations to blocks of 32 int8 values for the integer dot-product shaders, as the CPU kernels quantize them
// (ggml's Q8_1 scheme): q = round-half-even(x × 127 / amax), the scale amax / 127 rounded to half precision, and
// per block the sum of its q. One thread per block; token t's block k is block t × (columns / 32) + k.
#include "common.glsl"

layout(set = 0, binding = 0) uniform samplerBuffer x_texels;

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Ints quants;   // 8 words per block, 4 values each, the first in the lowest byte
    Vec2s scales;  // (scale, sum of q) per block
    uint tokens;
    uint columns;
    uint x_stride;
} p;

void main() {
    uint per_token = p.columns / 32;
    uint b = gl_GlobalInvocationID.x;
    if (b >= p.tokens * per_token) return;
    uint base = ((b / per_token) * p.x_stride + 32 * (b % per_token)) / 4;
    vec4 v[8];
    float amax = 0.0;
    [[unroll]] for (uint i = 0; i < 8; i++) {
        v[i] = texelFetch(x_texels, int(base + i));
        vec4 a = abs(v[i]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    float id = amax != 0.0 ? 127.0 / amax : 0.0;
    int sum = 0;
    [[unroll]] for (uint i = 0; i < 8; i++) {
        ivec4 q = ivec4(roundEven(v[i] * id));
        sum += q.x + q.y + q.z + q.w;
        p.quants.v[8 * b + i] = (q.x & 255) | ((q.y & 255) << 8) | ((q.z & 255) << 16) | (q.w << 24);
    }
    float d = unpackHalf2x16(packHalf2x16(vec2(amax / 127.0, 0.0))).x;
    p.scales.v[b] = vec2(d, float(sum));
}
