#version 450
// y = x / rms(x) × w over slices of `width` values: one slice per token (a layer norm) or per head (a query or
// key norm), a workgroup per slice. y may be x.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats x;
    Floats w;
    Floats y;
    uint width;
    uint groups;
    uint x_stride;
    uint y_stride;
    float epsilon;
} p;

shared float sums[64];

void main() {
    uint id = gl_LocalInvocationID.x, slice = gl_WorkGroupID.x;
    uint token = slice / p.groups, group = slice % p.groups;
    uint xi = token * p.x_stride + group * p.width, yi = token * p.y_stride + group * p.width;
    float sum = 0.0;
    for (uint i = id; i < p.width; i += 64) sum += p.x.v[xi + i] * p.x.v[xi + i];
    sums[id] = sum;
    barrier();
    for (uint stride = 32; stride > 0; stride /= 2) {
        if (id < stride) sums[id] += sums[id + stride];
        barrier();
    }
    float scale = 1.0 / sqrt(sums[0] / float(p.width) + p.epsilon);
    for (uint i = id; i < p.width; i += 64) p.y.v[yi + i] = p.x.v[xi + i] * scale * p.w.v[i];
}
