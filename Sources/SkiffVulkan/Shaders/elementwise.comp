#version 450
//! variant swiglu SWIGLU
//! variant geglu GEGLU
//! variant add ADD
//! variant add_bias ADD_BIAS
// Element by element over `count` values: a = silu(a) ⊙ b (SWIGLU), a = gelu(a) ⊙ b with GELU's tanh form
// written as x·sigmoid(z) (GEGLU), a += b (ADD), a += b[i mod width] (ADD_BIAS, b a bias vector).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats a;
    Floats b;
    uint count;
    uint width;
} p;

float sigmoid(float z) {
    float e = exp(-abs(z));
    return z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64;
    if (i >= p.count) return;
#if defined(SWIGLU)
    float x = p.a.v[i];
    p.a.v[i] = x * sigmoid(x) * p.b.v[i];
#elif defined(GEGLU)
    float x = p.a.v[i];
    p.a.v[i] = x * sigmoid(1.59576912160573071176 * x * (1.0 + 0.044715 * x * x)) * p.b.v[i];
#elif defined(ADD)
    p.a.v[i] += p.b.v[i];
#elif defined(ADD_BIAS)
    p.a.v[i] += p.b.v[i % p.width];
#endif
}
