#version 450
//! texel-buffers 2
//! variant matmul_f32 TYPE_F32
//! variant matmul_f16 TYPE_F16
//! variant matmul_bf16 TYPE_BF16
//! variant matmul_q4_0 TYPE_Q4_0
//! variant matmul_q4_1 TYPE_Q4_1
//! variant matmul_q5_0 TYPE_Q5_0
//! variant matmul_q5_1 TYPE_Q5_1
//! variant matmul_q8_0 TYPE_Q8_0
//! variant matmul_iq4_nl TYPE_IQ4_NL
//! variant matmul_q2_k TYPE_Q2_K
//! variant matmul_q3_k TYPE_Q3_K
//! variant matmul_q4_k TYPE_Q4_K
//! variant matmul_q5_k TYPE_Q5_K
//! variant matmul_q6_k TYPE_Q6_K
//! variant matmul_iq4_xs TYPE_IQ4_XS
// y = x × wᵀ (or y += x × wᵀ) for many tokens, in 64 × 64 tiles of (rows, tokens): each step of 32 columns
// dequantizes the tile's weights and loads its inputs into shared memory once, and each of 256 threads
// computes 4 rows × 4 tokens from there. Tokens are those of the run from first_token.
#include "common.glsl"
#include "dequant.glsl"

layout(set = 0, binding = 1) uniform samplerBuffer x_texels;

const uint TM = 64, TN = 64, TK = 32;
layout(local_size_x = 256) in;
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

shared float ws[TM][TK + 1];
shared float xs[TN][TK + 1];

void main() {
    uint id = gl_LocalInvocationID.x;
    uint row0 = gl_WorkGroupID.x * TM, token0 = gl_WorkGroupID.y * TN;
    uint tr = id % 16, tc = id / 16;
    float acc[4][4];
    [[unroll]] for (uint i = 0; i < 4; i++) [[unroll]] for (uint j = 0; j < 4; j++) acc[i][j] = 0.0;
    for (uint k0 = 0; k0 < p.columns; k0 += TK) {
        {
            uint lr = id / 4, run = id % 4;
            float v[8];
            if (row0 + lr < p.rows) {
                dequant8((row0 + lr) * p.row_bytes, k0 / 8 + run, v);
            } else {
                [[unroll]] for (uint k = 0; k < 8; k++) v[k] = 0.0;
            }
            [[unroll]] for (uint k = 0; k < 8; k++) ws[lr][8 * run + k] = v[k];
        }
        [[unroll]] for (uint q = 0; q < 2; q++) {
            uint index = id + 256 * q, lt = index / 8, c4 = index % 8;
            vec4 value = token0 + lt < p.tokens ? texelFetch(x_texels, int(((p.first_token + token0 + lt) * p.x_stride + k0) / 4 + c4)) : vec4(0.0);
            xs[lt][4 * c4] = value.x;
            xs[lt][4 * c4 + 1] = value.y;
            xs[lt][4 * c4 + 2] = value.z;
            xs[lt][4 * c4 + 3] = value.w;
        }
        barrier();
        for (uint k = 0; k < TK; k++) {
            float a[4], b[4];
            [[unroll]] for (uint i = 0; i < 4; i++) a[i] = ws[tr + 16 * i][k];
            [[unroll]] for (uint j = 0; j < 4; j++) b[j] = xs[tc + 16 * j][k];
            [[unroll]] for (uint i = 0; i < 4; i++) [[unroll]] for (uint j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    [[unroll]] for (uint j = 0; j < 4; j++) {
        uint t = token0 + tc + 16 * j;
        if (t >= p.tokens) continue;
        [[unroll]] for (uint i = 0; i < 4; i++) {
            uint r = row0 + tr + 16 * i;
            if (r < p.rows) {
                uint o = (p.first_token + t) * p.y_stride + r;
                p.y.v[o] = acc[i][j] + (p.accumulate != 0 ? p.y.v[o] : 0.0);
            }
        }
    }
}
