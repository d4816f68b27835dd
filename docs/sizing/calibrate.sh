#!/bin/sh
# Measures `skiff serve` with `skiff bench` for the simulator: fixed-concurrency runs to calibrate the CPU
# step-time model and Poisson runs to validate it, one `skiff bench --json` report per run in OUT_DIR,
# then `skiff simulate calibrate OUT_DIR` fits and compares. The machine must be otherwise idle: on the
# shared reference machine run it under the CPU lock for its whole duration,
#
#   flock /tmp/skiff-cpu.lock docs/sizing/calibrate.sh docs/sizing/calibration
#
# Environment: SKIFF (the binary; default: the release build), MODEL (as `skiff serve --model` takes it;
# default the SmolLM2 file in the model directory), PORT (default 18431), PHASES
# ("calibration validation"), RATES (Poisson rates, req/s), REQUESTS (per Poisson run), PROMPT_TOKENS and
# OUTPUT_TOKENS of the Poisson runs, MAX_WAITING (serve's queue limit; small so overload shows 429s).
set -eu
out=${1:?usage: calibrate.sh OUT_DIR}
skiff=${SKIFF:-$(swift build -c release --show-bin-path)/skiff}
model=${MODEL:-SmolLM2-135M-Instruct.Q4_1.gguf}
port=${PORT:-18431}
phases=${PHASES:-calibration validation}
rates=${RATES:-0.5 1.6 2.6}
requests=${REQUESTS:-120}
prompt=${PROMPT_TOKENS:-256}
output=${OUTPUT_TOKENS:-128}
threads=2 kv=1073741824 running=16 waiting=${MAX_WAITING:-32} step=512 ctx=8192

mkdir -p "$out"
cat > "$out/serve.json" <<JSON
{"model": "$model", "threads": $threads, "kv_cache_bytes": $kv, "max_running": $running, "max_waiting": $waiting,
 "max_step_tokens": $step, "ctx": $ctx}
JSON
# Prefix caching off: the simulator does not model it (and synthetic prompts would share the chat template's block).
"$skiff" serve --model "$model" --port "$port" --threads $threads --kv-cache-bytes $kv --max-running $running \
    --max-waiting $waiting --max-step-tokens $step --ctx $ctx --no-prefix-cache 2> "$out/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT INT TERM
tries=0
until curl -sf "http://127.0.0.1:$port/ready" > /dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 240 ] || { echo "skiff serve did not become ready in 120 s (see $out/serve.log)" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { echo "skiff serve exited (see $out/serve.log)" >&2; exit 1; }
    sleep 0.5
done

bench() {
    name=$1; shift
    echo "$name: skiff bench $*" >&2
    "$skiff" bench --url "http://127.0.0.1:$port/v1" --ignore-eos --timeout 600 --json "$@" > "$out/$name.bench.json" 2> /dev/null
}

# Warm-up (page faults, thread pool), not kept.
bench warmup --concurrency 2 --requests 4 --prompt-tokens 64 --output-tokens 16
rm -f "$out/warmup.bench.json"

case " $phases " in *" calibration "*)
    for p in 128 1024; do
        for c in 1 4 16; do
            n=$((c * 6)); [ $n -ge 12 ] || n=12
            bench "calibration-c$c-p$p" --concurrency $c --requests $n --prompt-tokens $p --output-tokens 128
        done
    done
esac

case " $phases " in *" validation "*)
    for r in $rates; do
        bench "poisson-$r" --request-rate "$r" --seed 1 --requests "$requests" --prompt-tokens "$prompt" --output-tokens "$output" || true
    done
esac
