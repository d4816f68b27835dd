#version 450
//! texel-buffers 2
//! variant matvec_f32 TYPE_F32
//! variant matvec_f16 TYPE_F16
//! variant matvec_bf16 TYPE_BF16
//! variant matvec_q4_0 TYPE_Q4_0
//! variant matvec_q4_1 TYPE_Q4_1
//! variant matvec_q5_0 TYPE_Q5_0
//! variant matvec_q5_1 TYPE_Q5_1
//! variant matvec_q8_0 TYPE_Q8_0
//! variant matvec_iq4_nl TYPE_IQ4_NL
//! variant matvec_q2_k TYPE_Q2_K
//! variant matvec_q3_k TYPE_Q3_K
//! variant matvec_q4_k TYPE_Q4_K
//! variant matvec_q5_k TYPE_Q5_K
//! variant matvec_q6_k TYPE_Q6_K
//! variant matvec_iq4_xs TYPE_IQ4_XS
// y = x × wᵀ (or y += x × wᵀ) for a few tokens: each weight is read once per 8 tokens. A workgroup computes 8
// rows, each by one subgroup (several rows per subgroup when subgroups are wider than 8 threads): its threads
// take the row's runs of 8 values in turn and their sums are added by the subgroup, with no shared memory
// and no barrier. Workgroups along y take the next 8 tokens of the run from first_token.
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "dequant.glsl"

layout(set = 0, binding = 1) uniform samplerBuffer x_texels;

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

void main() {
    uint t0 = gl_WorkGroupID.y * TOKENS;
    uint count = min(TOKENS, p.tokens - t0);
    for (uint local = gl_SubgroupID; local < ROWS; local += gl_NumSubgroups) {
        uint r = gl_WorkGroupID.x * ROWS + local;
        if (r >= p.rows) break;
        float acc[TOKENS];
        [[unroll]] for (uint t = 0; t < TOKENS; t++) acc[t] = 0.0;
        for (uint g = gl_SubgroupInvocationID; g < p.columns / 8; g += gl_SubgroupSize) {
            float v[8];
            dequant8(r * p.row_bytes, g, v);
            vec4 w0 = vec4(v[0], v[1], v[2], v[3]), w1 = vec4(v[4], v[5], v[6], v[7]);
            uint base = ((p.first_token + t0) * p.x_stride + 8 * g) / 4;
            [[unroll]] for (uint t = 0; t < TOKENS; t++) {
                if (t < count) acc[t] += dot(texelFetch(x_texels, int(base + t * (p.x_stride / 4))), w0) + dot(texelFetch(x_texels, int(base + t * (p.x_stride / 4) + 1)), w1);
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
