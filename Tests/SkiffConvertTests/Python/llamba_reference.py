"""Llamba for the converter's tests: random checkpoints in the published Hugging Face layout, and the published
forward pass (cartesia-ai/edge, cartesia_pytorch/Llamba: llamba.py, mixers/discrete_mamba2.py) in NumPy,
written from its equations, in float64, token by token, sharing nothing with Skiff.

    llamba_reference.py make DIR VARIANT   writes config.json, model.safetensors, tokenizer.json and
                                           tokenizer_config.json (VARIANT: plain or bf16-tied)
    llamba_reference.py logits DIR IDS OUT writes each position's logits to OUT as JSON (IDS: comma-separated)
"""

import json
import os
import struct
import sys

import numpy as np

VARIANTS = {
    # F32 weights, a separate head with a bias, z_bias, a convolution bias, no activation after it.
    "plain": dict(dtype="F32", d_model=64, n_layer=2, vocab_size=300, pad=8, tie=False, head_bias=True, eps=1e-6,
                  ssm=dict(d_state=16, n_v_heads=8, n_qk_heads=2, expand=1, activation="identity", bias=False),
                  conv_bias=True, d_conv=4, ffn=96),
    # BF16 weights, tied embeddings, projection biases (no z_bias), no convolution bias, 3 taps, SiLU after the
    # convolution, expand 2, rows long enough for Q4_K.
    "bf16-tied": dict(dtype="BF16", d_model=256, n_layer=2, vocab_size=500, pad=64, tie=True, head_bias=False, eps=1e-5,
                      ssm=dict(d_state=16, n_v_heads=8, n_qk_heads=4, expand=2, activation="silu", bias=True),
                      conv_bias=False, d_conv=3, ffn=512),
}

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"]
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_alphabet():
    """GPT-2's printable stand-ins for the 256 bytes."""
    kept = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in kept]
    mapping = {b: chr(b) for b in kept}
    mapping.update({b: chr(256 + i) for i, b in enumerate(extra)})
    return [mapping[b] for b in range(256)]


def tokenizer_files(directory):
    alphabet = byte_alphabet()
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    space = alphabet[ord(" ")]
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (space, "w"), (space + "w", "o"), ("r", "l"),
              (space + "wo", "rl"), (space + "worl", "d")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = [{"id": len(vocab) + i, "content": t, "special": True} for i, t in enumerate(SPECIALS)]
    tokenizer = {
        "version": "1.0",
        "added_tokens": added,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    config = {"bos_token": SPECIALS[0], "eos_token": {"content": SPECIALS[1]}, "add_bos_token": True,
              "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"}
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)


def bf16_bits(values):
    """float32 → bfloat16 bit patterns, rounding to nearest even."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, dtype):
    header, chunks, offset = {}, [], 0
    for name, value in tensors.items():
        data = (bf16_bits(value) if dtype == "BF16" else value.astype(np.float32)).tobytes()
        header[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    out = {}
    for name, entry in header.items():
        start, end = (8 + length + o for o in entry["data_offsets"])
        if entry["dtype"] == "BF16":
            values = (np.frombuffer(raw[start:end], np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            values = np.frombuffer(raw[start:end], np.float32)
        out[name] = values.astype(np.float64).reshape(entry["shape"])
    return out


def make(directory, variant):
    v = VARIANTS[variant]
    rng = np.random.default_rng(20261207)
    d, s = v["d_model"], v["ssm"]
    inner, heads, groups, n = s["expand"] * d, s["n_v_heads"], s["n_qk_heads"], s["d_state"]
    rows = -(-v["vocab_size"] // v["pad"]) * v["pad"]
    channels = inner + 2 * groups * n

    def normal(*shape, scale=1.0):
        return rng.standard_normal(shape) * scale

    t = {"backbone.embedding.weight": normal(rows, d), "backbone.final_layernorm.weight": 1 + normal(d, scale=0.1)}
    for i in range(v["n_layer"]):
        p = f"backbone.layers.{i}."
        t[p + "input_layernorm.weight"] = 1 + normal(d, scale=0.1)
        t[p + "post_attention_layernorm.weight"] = 1 + normal(d, scale=0.1)
        t[p + "mixer.in_proj.weight"] = normal(channels + inner + heads, d, scale=d ** -0.5)
        if s["bias"]:
            t[p + "mixer.in_proj.bias"] = normal(channels + inner + heads, scale=0.1)
            t[p + "mixer.out_proj.bias"] = normal(d, scale=0.1)
        else:
            t[p + "mixer.z_bias"] = normal(inner, scale=0.5)
        t[p + "mixer.conv1d.weight"] = normal(channels, 1, v["d_conv"], scale=0.5)
        if v["conv_bias"]:
            t[p + "mixer.conv1d.bias"] = normal(channels, scale=0.1)
        t[p + "mixer.D"] = 1 + normal(heads, scale=0.3)
        t[p + "mixer.out_proj.weight"] = normal(d, inner, scale=inner ** -0.5)
        t[p + "mlp.gate_proj.weight"] = normal(v["ffn"], d, scale=d ** -0.5)
        t[p + "mlp.up_proj.weight"] = normal(v["ffn"], d, scale=d ** -0.5)
        t[p + "mlp.down_proj.weight"] = normal(d, v["ffn"], scale=v["ffn"] ** -0.5)
    if not v["tie"]:
        t["lm_head.weight"] = normal(rows, d, scale=d ** -0.5)
        if v["head_bias"]:
            t["lm_head.bias"] = normal(rows, scale=0.1)
    os.makedirs(directory, exist_ok=True)
    write_safetensors(os.path.join(directory, "model.safetensors"), t, v["dtype"])
    config = {"model_type": "llamba", "d_model": d, "n_layer": v["n_layer"], "vocab_size": v["vocab_size"],
              "pad_vocab_size_multiple": v["pad"], "tie_embeddings": v["tie"], "lm_head_bias": v["head_bias"],
              "norm_epsilon": v["eps"], "max_position_embeddings": 2048,
              "mlp_cfg": {"intermediate_size": v["ffn"], "bias": False, "act_fn": "silu"},
              "ssm_cfg": dict(s, chunk_size=128, d_conv=v["d_conv"], conv_bias=v["conv_bias"])}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    tokenizer_files(directory)


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * weight


def silu(x):
    return x / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


def logits(directory, ids, output):
    with open(os.path.join(directory, "config.json")) as f:
        c = json.load(f)
    w = read_safetensors(os.path.join(directory, "model.safetensors"))
    s = c["ssm_cfg"]
    d, heads, groups, n, k = c["d_model"], s["n_v_heads"], s["n_qk_heads"], s["d_state"], s["d_conv"]
    inner = s["expand"] * d
    hd, channels = inner // heads, inner + 2 * groups * n
    layers = [dict(conv=np.zeros((k - 1, channels)), ssm=np.zeros((heads, hd, n))) for _ in range(c["n_layer"])]
    out = []
    for token in ids:
        x = w["backbone.embedding.weight"][token].copy()
        for i, state in enumerate(layers):
            p = f"backbone.layers.{i}."
            h = rms_norm(x, w[p + "input_layernorm.weight"], 1e-5)
            projected = w[p + "mixer.in_proj.weight"] @ h + (w[p + "mixer.in_proj.bias"] if s["bias"] else 0)
            xBC, z, a_log = projected[:channels], projected[channels:channels + inner], projected[channels + inner:]
            # Causal depthwise convolution: this token and the k - 1 before it.
            window = np.vstack([state["conv"], xBC])
            state["conv"] = window[1:]
            xBC = np.einsum("ck,kc->c", w[p + "mixer.conv1d.weight"][:, 0, :], window)
            if c["ssm_cfg"].get("conv_bias", True):
                xBC = xBC + w[p + "mixer.conv1d.bias"]
            if s["activation"] != "identity":
                xBC = silu(xBC)
            xs = xBC[:inner].reshape(heads, hd)
            B = xBC[inner:inner + groups * n].reshape(groups, n)
            C = xBC[inner + groups * n:].reshape(groups, n)
            dt = softplus(a_log)
            # The scan gets x / dt and multiplies it by dt; A = -1.
            scan_input = xs / dt[:, None]
            y = np.zeros((heads, hd))
            for head in range(heads):
                g = head // (heads // groups)
                state["ssm"][head] = (np.exp(-dt[head]) * state["ssm"][head]
                                      + dt[head] * np.outer(scan_input[head], B[g]))
                y[head] = state["ssm"][head] @ C[g]
            y = y + w[p + "mixer.D"][:, None] * xs
            z_bias = 0 if s["bias"] else w[p + "mixer.z_bias"]
            mixed = w[p + "mixer.out_proj.weight"] @ (y.reshape(inner) * silu(z + z_bias))
            x = x + mixed + (w[p + "mixer.out_proj.bias"] if s["bias"] else 0)
            m = rms_norm(x, w[p + "post_attention_layernorm.weight"], 1e-5)
            gate, up = w[p + "mlp.gate_proj.weight"] @ m, w[p + "mlp.up_proj.weight"] @ m
            x = x + w[p + "mlp.down_proj.weight"] @ (silu(gate) * up)
        final = rms_norm(x, w["backbone.final_layernorm.weight"], c["norm_epsilon"])
        head = w["backbone.embedding.weight"] if c["tie_embeddings"] else w["lm_head.weight"]
        row = head @ final + (w["lm_head.bias"] if c["lm_head_bias"] else 0)
        out.append(row.tolist())
    with open(output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        logits(sys.argv[2], [int(t) for t in sys.argv[3].split(",")], sys.argv[4])
