#!/usr/bin/env bash
# Skiff's Vulkan backend beside llama.cpp's Vulkan build on this machine's GPU, in one run (docs/performance.md,
# "How to measure on a machine with an NVIDIA GPU"):
#
#   scripts/gpu_compare.sh MODEL.gguf LLAMA_CPP_BIN_DIR [OUT_DIR]
#
# LLAMA_CPP_BIN_DIR holds llama-bench and llama-server from a llama.cpp built with -DGGML_VULKAN=ON outside this
# repository (this script never builds it). Skiff is built here in release mode if it is not yet. The two are run
# one after the other on the same model file and GPU:
#   1. the engine alone: pp512 and tg128, 5 repetitions after a warm-up (skiff bench-engine, llama-bench -ngl 99);
#   2. the server: 64 streamed requests of ~100 prompt tokens and exactly 128 output tokens at concurrency 16
#      (skiff bench against skiff serve --device vulkan, then against llama-server -ngl 99 -np 16).
# Each tool's JSON goes to OUT_DIR (default ./gpu-compare); the figures and the ratios are printed at the end.
# Servers listen on 127.0.0.1 only and are stopped when the script exits.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,15p' "$0" >&2
    exit 2
fi
model="$(realpath "$1")"
llama="$(realpath "$2")"
out="${3:-gpu-compare}"
root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in llama-bench llama-server; do
    [[ -x "$llama/$tool" ]] || { echo "gpu_compare: $llama/$tool is missing (build llama.cpp with -DGGML_VULKAN=ON)" >&2; exit 2; }
done
[[ -f "$model" ]] || { echo "gpu_compare: no model file at $model" >&2; exit 2; }
mkdir -p "$out"

(cd "$root" && swift build -c release --product skiff >&2)
skiff="$(cd "$root" && swift build -c release --show-bin-path)/skiff"

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# Waits until URL answers 200, for at most 15 minutes (a large model's load), or fails if the server died.
wait_for() {
    local url="$1" deadline=$((SECONDS + 900))
    until curl -sf -o /dev/null "$url"; do
        kill -0 "$server_pid" 2>/dev/null || { echo "gpu_compare: the server exited before $url answered" >&2; exit 1; }
        (( SECONDS < deadline )) || { echo "gpu_compare: $url did not answer within 15 minutes" >&2; exit 1; }
        sleep 1
    done
}

bench_server() {
    "$skiff" bench --url "$1" --concurrency 16 --requests 64 --prompt-tokens 100 --output-tokens 128 \
        --ignore-eos --temperature 0 --json
}

echo "gpu_compare: engine, Skiff" >&2
"$skiff" bench-engine -m "$model" --device vulkan --prompt-tokens 512 --gen-tokens 128 --repetitions 5 --json \
    > "$out/skiff-bench-engine.json"
echo "gpu_compare: engine, llama.cpp" >&2
"$llama/llama-bench" -m "$model" -ngl 99 -p 512 -n 128 -r 5 -o json > "$out/llama-bench.json"

echo "gpu_compare: server, Skiff" >&2
"$skiff" serve -m "$model" --device vulkan --host 127.0.0.1 --port 18090 --max-running 16 \
    > "$out/skiff-serve.log" 2>&1 &
server_pid=$!
wait_for http://127.0.0.1:18090/ready
bench_server http://127.0.0.1:18090/v1 > "$out/skiff-bench.json"
stop_server

echo "gpu_compare: server, llama.cpp" >&2
"$llama/llama-server" -m "$model" -ngl 99 --host 127.0.0.1 --port 18080 -np 16 -c 32768 > "$out/llama-server.log" 2>&1 &
server_pid=$!
wait_for http://127.0.0.1:18080/health
bench_server http://127.0.0.1:18080/v1 > "$out/llama-server-bench.json"
stop_server

python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
def load(name):
    with open(f"{out}/{name}") as f:
        return json.load(f)
skiff = load("skiff-bench-engine.json")
llama = load("llama-bench.json")
def llama_rate(prompt, gen):
    return next(r["avg_ts"] for r in llama if r["n_prompt"] == prompt and r["n_gen"] == gen)
rows = [
    ("pp512 tokens/s", skiff["pp512_tokens_per_second"], llama_rate(512, 0)),
    ("tg128 tokens/s", skiff["tg128_tokens_per_second"], llama_rate(0, 128)),
]
for name, key in (("output tokens/s at 16 streams", "output_throughput"), ("TTFT p50 ms", "median_ttft_ms"),
                  ("TPOT mean ms", "mean_tpot_ms")):
    rows.append((name, load("skiff-bench.json")[key], load("llama-server-bench.json")[key]))
print(f"{'':32} {'Skiff':>12} {'llama.cpp':>12} {'ratio':>8}")
for name, a, b in rows:
    print(f"{name:32} {a:12.1f} {b:12.1f} {a / b:7.2f}x")
EOF
