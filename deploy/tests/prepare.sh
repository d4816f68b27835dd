#!/usr/bin/env bash
# Prepares the deploy checks ahead of them, so that their downloads overlap the Swift build and tests:
#   prepare.sh start   runs install-tools.sh (the checks' Python tools, Helm) and local-base.sh (the container
#                      bases: debootstrap, the build base's packages) in the background, logging to .tools/prepare.log
#   prepare.sh wait    waits for that to end; on failure prints the log's end and exits with its status
# Both steps are idempotent, and the deploy checks run them again (at no cost once done), so a check run
# without `start` still prepares itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
log="$root/.tools/prepare.log"
status="$root/.tools/prepare.status"
case "${1:-}" in
start)
    mkdir -p "$root/.tools"
    rm -f "$status"
    (
        rc=0
        { "$root/deploy/tests/install-tools.sh" && "$root/deploy/container/local-base.sh"; } >"$log" 2>&1 || rc=$?
        echo "$rc" >"$status"
    ) </dev/null >/dev/null 2>&1 &
    ;;
wait)
    [[ -f "$log" || -f "$status" ]] || exit 0 # never started
    while [[ ! -f "$status" ]]; do sleep 1; done
    rc="$(cat "$status")"
    if [[ "$rc" != 0 ]]; then
        echo "preparing the deploy checks failed ($rc); the end of $log:" >&2
        tail -n 40 "$log" >&2
        exit "$rc"
    fi
    ;;
*)
    echo "usage: $0 start|wait" >&2
    exit 2
    ;;
esac
