#!/usr/bin/env python3
"""Writes dequantize-gguf.json: random blocks of every quantized GGUF type the kernels read, with the
values the `gguf` Python package (llama.cpp's own reader, `pip install gguf`) dequantizes them to. The
kernel tests check skiff_dequantize_row against it bit for bit.

    python3 Tests/SkiffKernelsTests/Fixtures/make-dequantize-fixture.py

Random bytes everywhere except the half-precision scales, which get finite values of a weight's size
(a random half can be NaN or infinite)."""

import base64
import importlib.metadata
import json
import pathlib

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# Byte offsets of the half-precision scales inside one block of each type.
HALF_SCALES = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.IQ4_NL: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_XS: [0],
}
VALUES = 1024  # per type: 32 blocks of 32, or 4 of 256


def main():
    rng = np.random.default_rng(20261206)
    cases = []
    for qtype, offsets in HALF_SCALES.items():
        block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        blocks = VALUES // block_size
        raw = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
        for offset in offsets:
            scales = (rng.standard_normal(blocks) * 0.05).astype(np.float16)
            raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(blocks, 2)
        values = dequantize(raw.reshape(-1), qtype).reshape(-1).astype("<f4")
        cases.append({"type": qtype.name, "ggml_type": int(qtype), "columns": VALUES,
                      "blocks": base64.b64encode(raw.tobytes()).decode(),
                      "values": base64.b64encode(values.tobytes()).decode()})
    out = pathlib.Path(__file__).with_name("dequantize-gguf.json")
    out.write_text(json.dumps({"reference": f"gguf {importlib.metadata.version('gguf')}, gguf.quants.dequantize",
                               "cases": cases}, indent=1) + "\n")


if __name__ == "__main__":
    main()
