#!/usr/bin/env bash
# `make run`: build skiff and skiff-chat in release mode, fetch the default model if absent, then run the
# model service (skiff serve, 127.0.0.1:8080) and the chat tier (skiff-chat, 127.0.0.1:8081, SQLite in the
# user's data directory) together and print the URL to open. Ctrl-C or SIGTERM stops both (each drains);
# if one of them exits, the other is stopped too.
#
# Ports and everything else come from the programs' own variables: SKIFF_PORT, SKIFF_CHAT_PORT,
# SKIFF_MODEL, SKIFF_CHAT_DATABASE, ... (`skiff serve --help`, `skiff-chat --help`).
set -euo pipefail
swift=${SWIFT:-swift}

"$swift" build -c release --product skiff
"$swift" build -c release --product skiff-chat
bin=$("$swift" build -c release --show-bin-path)
"$bin/skiff" pull ${SKIFF_MODEL:+"$SKIFF_MODEL"}

serve_port=${SKIFF_PORT:-8080}
chat_port=${SKIFF_CHAT_PORT:-8081}
export SKIFF_CHAT_LLM_URL=${SKIFF_CHAT_LLM_URL:-http://127.0.0.1:$serve_port/v1}

pids=()
stop() {
    trap - INT TERM EXIT
    [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$bin/skiff" serve --port "$serve_port" &
pids+=($!)
"$bin/skiff-chat" --port "$chat_port" &
pids+=($!)

# The chat answers as soon as it listens; the model service may still be loading the model (its /ready).
# Wait for the chat's port while it runs (up to 10 minutes: a busy machine starts slowly).
for _ in $(seq 1 6000); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$chat_port") 2>/dev/null; then break; fi
    kill -0 "${pids[1]}" 2>/dev/null || exit 1
    sleep 0.1
done
echo
echo "Skiff is running. Open http://127.0.0.1:$chat_port/ to chat (model service: http://127.0.0.1:$serve_port/v1)."
echo "Ctrl-C stops both."
echo
wait -n "${pids[@]}" || true
