#version 450
// Each token's keys and values into a layer of the paged cache, as IEEE half, at its slot (block × block size
// + position within the block, from the host). The cache is slot-major: a slot's kv_heads × head_dim values.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats keys;
    Floats values;
    Halves key_cache;
    Halves value_cache;
    Ints slots;
    uint width;
    uint key_stride;
    uint value_stride;
} p;

void main() {
    uint c = gl_GlobalInvocationID.x, token = gl_WorkGroupID.y;
    if (c >= p.width) return;
    uint slot = uint(p.slots.v[token]);
    p.key_cache.v[slot * p.width + c] = float16_t(p.keys.v[token * p.key_stride + c]);
    p.value_cache.v[slot * p.width + c] = float16_t(p.values.v[token * p.value_stride + c]);
}
