#version 450
// RoPE: each token's heads rotated pair by pair by the angles of its position. The cosines and sines come from
// the host (`table`: per token, per pair, cos then sin), computed there as the CPU kernels compute them.
// Pairs are (i, i + pairs) for NeoX, else (2i, 2i + 1).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats x;
    Floats table;
    uint heads;
    uint head_dim;
    uint pairs;
    uint x_stride;
    uint neox;
} p;

void main() {
    uint index = gl_GlobalInvocationID.x, token = gl_WorkGroupID.y;
    if (index >= p.heads * p.pairs) return;
    uint head = index / p.pairs, i = index % p.pairs;
    uint a = p.neox != 0 ? i : 2 * i, b = p.neox != 0 ? i + p.pairs : 2 * i + 1;
    uint base = token * p.x_stride + head * p.head_dim;
    float c = p.table.v[2 * (token * p.pairs + i)], s = p.table.v[2 * (token * p.pairs + i) + 1];
    float x0 = p.x.v[base + a], x1 = p.x.v[base + b];
    p.x.v[base + a] = x0 * c - x1 * s;
    p.x.v[base + b] = x0 * s + x1 * c;
}
