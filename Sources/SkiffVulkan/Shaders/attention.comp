#version 450
// Causal attention over the paged cache, a workgroup per (query head, token): the token's positions
// first ... context - 1 (its sliding window, or all) are visited 64 at a time, one position per thread; the
// softmax is kept online (running maximum and sum), and each thread accumulates its own dimensions of the
// weighted values. `tokens` holds per token its block table's offset in `tables`, its context length and its
// first position.
#include "common.glsl"

const uint THREADS = 64, MAX_HEAD_DIM = 512;
layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Floats q;
    Floats y;
    Halves key_cache;
    Halves value_cache;
    Ints tables;
    Ints tokens;
    uint heads;
    uint kv_heads;
    uint head_dim;
    uint block_size;
    uint q_stride;
    uint y_stride;
    float scale;
} p;

shared float query[MAX_HEAD_DIM];
shared float weights[THREADS];
shared uint slots[THREADS];
shared float reduction[THREADS];

void main() {
    uint id = gl_LocalInvocationID.x, head = gl_WorkGroupID.x, token = gl_WorkGroupID.y;
    uint table = uint(p.tokens.v[3 * token]), context = uint(p.tokens.v[3 * token + 1]), first = uint(p.tokens.v[3 * token + 2]);
    uint kv_head = head / (p.heads / p.kv_heads), kv_width = p.kv_heads * p.head_dim;
    for (uint d = id; d < p.head_dim; d += THREADS) query[d] = p.q.v[token * p.q_stride + head * p.head_dim + d] * p.scale;
    barrier();
    const uint PER_THREAD = MAX_HEAD_DIM / THREADS;
    float acc[PER_THREAD];
    [[unroll]] for (uint k = 0; k < PER_THREAD; k++) acc[k] = 0.0;
    float running_max = -1.0 / 0.0, running_sum = 0.0;
    for (uint start = first; start < context; start += THREADS) {
        uint position = start + id;
        float score = -1.0 / 0.0;
        uint slot = 0;
        if (position < context) {
            slot = uint(p.tables.v[table + position / p.block_size]) * p.block_size + position % p.block_size;
            uint base = slot * kv_width + kv_head * p.head_dim;
            score = 0.0;
            for (uint d = 0; d < p.head_dim; d++) score += query[d] * float(p.key_cache.v[base + d]);
        }
        slots[id] = slot;
        reduction[id] = score;
        barrier();
        for (uint stride = THREADS / 2; stride > 0; stride /= 2) {
            if (id < stride) reduction[id] = max(reduction[id], reduction[id + stride]);
            barrier();
        }
        float new_max = max(running_max, reduction[0]);
        barrier();
        float weight = position < context ? exp(score - new_max) : 0.0;
        weights[id] = weight;
        reduction[id] = weight;
        barrier();
        for (uint stride = THREADS / 2; stride > 0; stride /= 2) {
            if (id < stride) reduction[id] += reduction[id + stride];
            barrier();
        }
        float correction = exp(running_max - new_max);
        running_sum = running_sum * correction + reduction[0];
        running_max = new_max;
        uint count = min(THREADS, context - start);
        [[unroll]] for (uint k = 0; k < PER_THREAD; k++) {
            uint d = id + k * THREADS;
            if (d < p.head_dim) {
                float sum = acc[k] * correction;
                for (uint j = 0; j < count; j++) sum += weights[j] * float(p.value_cache.v[slots[j] * kv_width + kv_head * p.head_dim + d]);
                acc[k] = sum;
            }
        }
        barrier();
    }
    [[unroll]] for (uint k = 0; k < PER_THREAD; k++) {
        uint d = id + k * THREADS;
        if (d < p.head_dim) p.y.v[token * p.y_stride + head * p.head_dim + d] = acc[k] / running_sum;
    }
}
