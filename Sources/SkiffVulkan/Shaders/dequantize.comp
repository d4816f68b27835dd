#version 450
//! texel-buffers 1
//! variant dequantize_f32 TYPE_F32
//! variant dequantize_f16 TYPE_F16
//! variant dequantize_bf16 TYPE_BF16
//! variant dequantize_q4_0 TYPE_Q4_0
//! variant dequantize_q4_1 TYPE_Q4_1
//! variant dequantize_q5_0 TYPE_Q5_0
//! variant dequantize_q5_1 TYPE_Q5_1
//! variant dequantize_q8_0 TYPE_Q8_0
//! variant dequantize_iq4_nl TYPE_IQ4_NL
//! variant dequantize_q2_k TYPE_Q2_K
//! variant dequantize_q3_k TYPE_Q3_K
//! variant dequantize_q4_k TYPE_Q4_K
//! variant dequantize_q5_k TYPE_Q5_K
//! variant dequantize_q6_k TYPE_Q6_K
//! variant dequantize_iq4_xs TYPE_IQ4_XS
// Rows of a weight matrix as floats, times a scale: out[i] = w[ids[i]] × scale. The token embedding lookup, over
// one part of the table (its rows first_row ... first_row + table_rows - 1): tokens outside it are left alone.
#include "common.glsl"
#include "dequant.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Parameters {
    Ints ids;
    Floats y;
    uint row_bytes;
    uint columns;
    uint rows;
    uint y_stride;
    float scale;
    uint first_row;
    uint table_rows;
} p;

void main() {
    uint g = gl_GlobalInvocationID.x, i = gl_WorkGroupID.y;
    if (8 * g >= p.columns || i >= p.rows) return;
    uint id = uint(p.ids.v[i]);
    if (id < p.first_row || id >= p.first_row + p.table_rows) return;
    float v[8];
    dequant8((id - p.first_row) * p.row_bytes, g, v);
    for (uint k = 0; k < 8; k++) p.y.v[i * p.y_stride + 8 * g + k] = v[k] * p.scale;
}
