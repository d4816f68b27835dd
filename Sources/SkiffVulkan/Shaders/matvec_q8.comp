#version 450
//! texel-buffers 3
//! variant matvec_q8_q4_0 TYPE_Q4_0
//! variant matvec_q8_q4_1 TYPE_Q4_1
//! variant matvec_q8_q8_0 TYPE_Q8_0
// y = x × wᵀ (or y += x × wᵀ) for a few tokens with 8-bit integer dot products (OpSDot on four packed int8 values,
// SPV_KHR_integer_dot_product), for weights in blocks of 32 and activations quantized by quantize_q8: per block,
// the weights' integers dotted with the activations' in integers, then scaled once, as the CPU kernels compute it.
// Laid out as matvec.comp: a subgroup per row, its threads taking the row's blocks in turn, 8 tokens per
// workgroup along y from first_token.
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_spirv_intrinsics : require
#include "common.glsl"
#include "dequant.glsl"

layout(set = 0, binding = 1) uniform usamplerBuffer xq_texels;  // 16 int8 values per texel
layout(set = 0, binding = 2) uniform samplerBuffer xs_texels;   // (scale, sum of q) per block

// OpSDot (4450) with the packed 4 × 8-bit format (0): DotProduct (6019), DotProductInput4x8BitPacked (6018).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint a, uint b, spirv_literal int format);

const uint ROWS = 8, TOKENS = 8;
layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats y;
    uint row_bytes;
    uint columns;
    uint rows;
    uint first_token;
    uint tokens;
    uint x_stride;
    uint y_stride;
    uint accumulate;
} p;

// Four bytes from an even byte offset.
uint word_from_even(uint byte_offset) {
    uint first = byte_offset & ~3u;
    uint w0 = word_at(first);
    return (byte_offset & 2u) == 0 ? w0 : (w0 >> 16) | (word_at(first + 4) << 16);
}

// Values 4i ... 4i+3 of the block at byte offset `block`, as four packed int8 (nibbles as 0 ... 15).
uint packed_weights(uint block, uint i) {
#if defined(TYPE_Q8_0)
    return word_from_even(block + 2 + 4 * i);
#else
#if defined(TYPE_Q4_1)
    uint raw = word_from_even(block + 4 + 4 * (i % 4));
#else
    uint raw = word_from_even(block + 2 + 4 * (i % 4));
#endif
    return i < 4 ? raw & 0x0F0F0F0Fu : (raw >> 4) & 0x0F0F0F0Fu;
#endif
}

void main() {
    uint t0 = gl_WorkGroupID.y * TOKENS;
    uint count = min(TOKENS, p.tokens - t0);
    uint blocks = p.columns / 32;
    for (uint local = gl_SubgroupID; local < ROWS; local += gl_NumSubgroups) {
        uint r = gl_WorkGroupID.x * ROWS + local;
        if (r >= p.rows) break;
        float acc[TOKENS];
        [[unroll]] for (uint t = 0; t < TOKENS; t++) acc[t] = 0.0;
        for (uint k = gl_SubgroupInvocationID; k < blocks; k += gl_SubgroupSize) {
            uint block = r * p.row_bytes + k * BLOCK_BYTES;
            uint w[8];
            [[unroll]] for (uint i = 0; i < 8; i++) w[i] = packed_weights(block, i);
            float d = half_at(block);
#if defined(TYPE_Q4_1)
            float m = half_at(block + 2);
#endif
            [[unroll]] for (uint t = 0; t < TOKENS; t++) {
                if (t < count) {
                    uint xb = (p.first_token + t0 + t) * blocks + k;
                    uvec4 a = texelFetch(xq_texels, int(2 * xb)), b = texelFetch(xq_texels, int(2 * xb + 1));
                    vec2 s = texelFetch(xs_texels, int(xb)).xy;
                    int dot = sdot(w[0], a.x, 0) + sdot(w[1], a.y, 0) + sdot(w[2], a.z, 0) + sdot(w[3], a.w, 0)
                        + sdot(w[4], b.x, 0) + sdot(w[5], b.y, 0) + sdot(w[6], b.z, 0) + sdot(w[7], b.w, 0);
#if defined(TYPE_Q4_0)
                    acc[t] += d * s.x * float(dot - 8 * int(s.y));
#elif defined(TYPE_Q4_1)
                    acc[t] += d * s.x * float(dot) + m * s.x * s.y;
#else
                    acc[t] += d * s.x * float(dot);
#endif
                }
            }
        }
        [[unroll]] for (uint t = 0; t < TOKENS; t++) {
            if (t < count) {
                float sum = subgroupAdd(acc[t]);
                if (subgroupElect()) {
                    uint o = (p.first_token + t0 + t) * p.y_stride + r;
                    p.y.v[o] = sum + (p.accumulate != 0 ? p.y.v[o] : 0.0);
                }
            }
        }
    }
}
