#!/usr/bin/env python3
"""Soak tests: load held for minutes, then checks that nothing failed and nothing was left behind.
Not part of `make test`; run by hand on an otherwise quiet machine, with a release build:

    swift build -c release --product skiff && swift build -c release --product skiff-chat \\
        && swift build -c release --product chat-standin
    B=$(swift build -c release --show-bin-path)
    scripts/soak.py serve --bin $B --minutes 10   # skiff serve, 64 streams open through skiff bench
    scripts/soak.py chat --bin $B --minutes 10    # skiff-chat, 200 streams open against chat-standin

serve: starts `skiff serve` on 127.0.0.1 (a free port; --threads 2 --max-running 64 --ctx 2048 and the
default model unless --serve-args says otherwise), waits for /ready, then runs `skiff bench --concurrency
64` back to back (each run sized from the last one's throughput to fill the time left) so 64 streams stay
open for --minutes. Every 10 s it samples the server's resident memory (VmRSS) and /metrics. Passes when
the bench runs had 0 failed requests and the server 0 aborted ones; after the load every KV block is free
or holds a reusable prefix (skiff:kv_cache_blocks{state="used"} 0, vllm:kv_cache_usage_perc 0, nothing
running or waiting); and the resident memory at the end of the load is within 5 % of the memory at minute
1 (--baseline-minutes; at half the load when it is shorter than 2 minutes).

chat: starts `chat-standin` and `skiff-chat` (SQLite in a new temporary directory, --rate-limit 0) as
scripts/chat_bench.py does and reads skiff-chat's idle resident memory 2 s after start. A warm-up of one
answer's length of the load (about one answer a stream) follows, and the memory once it has settled is
reported as the warm idle. Then it keeps --streams answers of --pace open for --minutes (each stream a new
conversation, replaced when it ends: chat_bench's --steady). Passes when no stream failed, skiff-chat's
/metrics shows no upstream error and no stream left open, and its resident memory, settled after the load,
is within 10 % of its idle memory: the warm idle, a replica at rest that has answered before. Settled: at
least --settle-seconds (100: past the chat's last heap trim, 90 s after the last answer), then unchanged
within 1 % for 10 s; at most 3 minutes. The memory before any request is reported too: what the first
answers add to it stays for good whatever the load (the heaps of the threads that start on first use,
code first run, runtime and SQLite caches) and is no measure of what a long load leaves behind.

Both print a table of the samples and a PASS/FAIL summary with the figures (--json: one object instead),
exit 1 on failure, stop by themselves, talk to 127.0.0.1 only and stop the processes they started, also
on Ctrl-C. Standard library only.
"""

import argparse
import asyncio
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no scripts/__pycache__ from the import below
from chat_bench import new_conversation_stream, open_session, percentile, request, rss_kib, start, steady

SAMPLE_SECONDS = 10


def parse_metrics(text):
    """Prometheus text → {'name{labels}': value} (labels as written, model_name included)."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric(values, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in values.items():
        base, _, rest = key.partition("{")
        if base == name and all(f'{label}="{wanted}"' in rest for label, wanted in labels.items()):
            total += value
    return total


async def scrape(port):
    status, _, body = await request(port, "GET", "/metrics", {}, "")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return parse_metrics(body.decode())


async def sampled(load, take_sample, samples):
    """Awaits `load`, appending `await take_sample()` to `samples` every SAMPLE_SECONDS meanwhile; load's result."""
    async def sampler():
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            samples.append(await take_sample())

    sampling = asyncio.create_task(sampler())
    try:
        return await load
    finally:
        sampling.cancel()


def stop(process, seconds=15):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def mib(kib):
    return round(kib / 1024, 1)


def report(options, title, columns, samples, figures, failures):
    if options.json:
        print(json.dumps({"mode": options.mode, "passed": not failures, "failures": failures,
                          "figures": figures, "samples": samples}, indent=2))
        return 0 if not failures else 1
    print(f"\n{title}")
    print("  ".join(f"{header:>{width}}" for header, _, width in columns))
    for sample in samples:
        print("  ".join(f"{'' if sample.get(key) is None else sample[key]:>{width}}" for _, key, width in columns))
    print()
    for name, value in figures.items():
        print(f"{name}: {value}")
    print("\nPASS" if not failures else "\nFAIL: " + "; ".join(failures))
    return 0 if not failures else 1


# skiff serve ----------------------------------------------------------------------------------------

async def serve_sample(port, pid, elapsed, phase):
    values = await scrape(port)
    return {"t_s": round(elapsed), "phase": phase, "rss_mib": mib(rss_kib(pid)),
            "running": int(metric(values, "vllm:num_requests_running")),
            "waiting": int(metric(values, "vllm:num_requests_waiting")),
            "kv_usage_pct": round(100 * metric(values, "vllm:kv_cache_usage_perc"), 1),
            "blocks_used": int(metric(values, "skiff:kv_cache_blocks", state="used")),
            "blocks_free": int(metric(values, "skiff:kv_cache_blocks", state="free"))}


async def run_bench(options, port, requests, timeout):
    """One `skiff bench` run of `requests` requests at --concurrency; its JSON report (None if it timed out or
    printed none)."""
    command = [f"{options.bin}/skiff", "bench", "--url", f"http://127.0.0.1:{port}/v1",
               "--concurrency", str(options.concurrency), "--requests", str(requests),
               "--prompt-tokens", str(options.prompt_tokens), "--output-tokens", str(options.output_tokens),
               "--ignore-eos", "--json"]
    bench = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(bench.communicate(), timeout)
    except asyncio.TimeoutError:
        bench.kill()
        await bench.wait()
        return None
    except asyncio.CancelledError:
        bench.kill()
        raise
    try:
        return json.loads(out)
    except ValueError:
        return None


async def serve_soak(options):
    seconds = options.minutes * 60
    command = [f"{options.bin}/skiff", "serve", "--host", "127.0.0.1", "--port", "0", "--log-format", "text",
               *shlex.split(options.serve_args)]
    server, port = start(command, r"port=(\d+) .*listening")
    samples, runs, failures = [], [], []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"skiff serve exited with {server.returncode} before /ready")
            try:
                if (await request(port, "GET", "/ready", {}, ""))[0] == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(1)
        else:
            sys.exit("skiff serve was not ready after 10 minutes")
        idle = await scrape(port)
        blocks = int(metric(idle, "skiff:kv_cache_blocks"))
        idle_rss = rss_kib(server.pid)
        began = time.monotonic()
        load_ends = began + seconds

        async def load():
            # Whole waves of --concurrency requests (all the same length): one wave first, to measure the rate,
            # then runs sized to fill the time left; the last one may overrun it by up to one wave.
            waves = 1
            while time.monotonic() < load_ends:
                result = await run_bench(options, port, waves * options.concurrency,
                                         timeout=load_ends - time.monotonic() + 600)
                if result is None:
                    failures.append("a skiff bench run did not finish (or printed no report) in time")
                    return
                runs.append(result)
                waves_per_second = result["completed"] / options.concurrency / max(result["duration"], 1e-3)
                waves = max(1, math.ceil(waves_per_second * (load_ends - time.monotonic())))
                if server.poll() is not None:
                    failures.append(f"skiff serve exited with {server.returncode} under load")
                    return

        await sampled(load(), lambda: serve_sample(port, server.pid, time.monotonic() - began, "load"), samples)
        load_seconds = time.monotonic() - began
        samples.append(await serve_sample(port, server.pid, load_seconds, "load end"))
        drain_deadline = time.monotonic() + 60
        while True:
            drained = await serve_sample(port, server.pid, time.monotonic() - began, "drained")
            if (drained["running"] == 0 and drained["waiting"] == 0) or time.monotonic() > drain_deadline:
                break
            await asyncio.sleep(1)
        samples.append(drained)
        final = await scrape(port)
    finally:
        stop(server)

    failed = sum(run["failed"] for run in runs)
    completed = sum(run["completed"] for run in runs)
    errors = {}
    for run in runs:
        for error in run["errors"]:
            key = f'{error["kind"]} {error.get("status") or ""} {error.get("message") or ""}'.strip()
            errors[key] = errors.get(key, 0) + error["count"]
    aborted = int(metric(final, "vllm:request_success_total", finished_reason="abort"))
    used = int(metric(final, "skiff:kv_cache_blocks", state="used"))
    usage = metric(final, "vllm:kv_cache_usage_perc")
    load_samples = [sample for sample in samples if sample["phase"] != "drained"]
    baseline_at = min(options.baseline_minutes * 60, load_seconds / 2)
    baseline = next((s for s in load_samples if s["t_s"] >= baseline_at), load_samples[-1])
    end = load_samples[-1]
    growth = (end["rss_mib"] - baseline["rss_mib"]) / baseline["rss_mib"] * 100
    output_tokens = sum(run["total_output_tokens"] for run in runs)
    figures = {
        "load": f"{options.concurrency} streams for {load_seconds:.0f} s, {len(runs)} skiff bench runs, "
                f"{completed} requests, {output_tokens} output tokens "
                f"({output_tokens / max(load_seconds, 1e-3):.1f}/s)",
        "errors": f"{failed} failed requests{' ' + json.dumps(errors) if errors else ''}, {aborted} aborted on the server",
        "prefix cache": f'{metric(final, "vllm:prefix_cache_hits_total"):.0f} of '
                        f'{metric(final, "vllm:prefix_cache_queries_total"):.0f} prompt tokens found, '
                        f'{metric(final, "vllm:num_preemptions_total"):.0f} preemptions',
        "ttft p50 / p95 (last run)": f'{runs[-1]["median_ttft_ms"]:.0f} / {runs[-1]["p95_ttft_ms"]:.0f} ms' if runs else "-",
        "kv blocks after drain": f'{used} used, {int(metric(final, "skiff:kv_cache_blocks", state="free"))} free '
                                 f"of {blocks}, usage {usage * 100:.1f} %, running {drained['running']}, waiting {drained['waiting']}",
        "resident memory": f"idle {mib(idle_rss)} MiB, at {baseline['t_s']} s {baseline['rss_mib']} MiB, "
                           f"at {end['t_s']} s {end['rss_mib']} MiB ({growth:+.1f} %, limit ±{options.rss_tolerance:g} %)",
    }
    if not runs:
        failures.append("no skiff bench run finished")
    if failed:
        failures.append(f"{failed} failed requests")
    if aborted:
        failures.append(f"{aborted} requests aborted on the server")
    if used or usage or drained["running"] or drained["waiting"]:
        failures.append(f"KV blocks still held after the load ({used} used, usage {usage:g})")
    if abs(growth) > options.rss_tolerance:
        failures.append(f"resident memory moved {growth:+.1f} % from {baseline['t_s']} s to {end['t_s']} s")
    columns = [("t (s)", "t_s", 5), ("phase", "phase", 8), ("RSS MiB", "rss_mib", 8), ("running", "running", 7),
               ("waiting", "waiting", 7), ("KV %", "kv_usage_pct", 5), ("used", "blocks_used", 6),
               ("free", "blocks_free", 6)]
    return report(options, f"skiff serve soak: {options.concurrency} streams, {options.minutes:g} min, "
                  f"{blocks} KV blocks", columns, samples, figures, failures)


# skiff-chat -----------------------------------------------------------------------------------------

async def chat_sample(port, pid, elapsed, phase):
    values = await scrape(port)
    return {"t_s": round(elapsed), "phase": phase, "rss_mib": mib(rss_kib(pid)),
            "open": int(metric(values, "skiff_chat_active_streams")),
            "streams": int(metric(values, "skiff_chat_streams_total")),
            "upstream_errors": int(metric(values, "skiff_chat_upstream_errors_total"))}


async def settle(port, pid, began, samples, options, phase):
    """Waits until the resident memory has settled after a load: past --settle-seconds (the upstream pool closes
    connections idle for 60 s, and the chat trims its heap until 90 s after the last answer), the last 5
    readings, 2 s apart, within 1 % of each other; 3 minutes at most. Returns the settled sample."""
    readings, settled_from, settle_deadline = [], time.monotonic() + options.settle_seconds, time.monotonic() + 180
    while time.monotonic() < settle_deadline:
        await asyncio.sleep(2)
        readings.append(rss_kib(pid))
        if len(readings) % 5 == 0:
            samples.append(await chat_sample(port, pid, time.monotonic() - began, "after"))
        recent = readings[-5:]
        if time.monotonic() >= settled_from and (max(recent) - min(recent)) <= 0.01 * min(recent):
            break
    sample = await chat_sample(port, pid, time.monotonic() - began, phase)
    samples.append(sample)
    return sample


async def chat_soak(options):
    seconds = options.minutes * 60
    count, interval = (int(part) for part in options.pace.split("-"))
    answer_seconds = max(1.0, count * interval / 1000)
    standin = chat = database = None
    samples = []
    try:
        standin, standin_port = start([f"{options.bin}/chat-standin"], r"listening on (\d+)")
        database = tempfile.mkdtemp(prefix="skiff-chat-soak-") + "/chat.db"
        chat, chat_port = start(
            [f"{options.bin}/skiff-chat", "--port", "0", "--llm-url", f"http://127.0.0.1:{standin_port}/v1",
             "--database", "sqlite://" + database, "--rate-limit", "0"],
            r"http://127\.0\.0\.1:(\d+)/")
        await asyncio.sleep(2)
        cold_rss = rss_kib(chat.pid)
        api = await open_session(chat_port)
        began = time.monotonic()
        model = f"paced-{options.pace}"

        def load(seconds):
            return steady(options.streams, seconds, lambda index, n: new_conversation_stream(chat_port, api, model),
                          answer_seconds)

        # Warm-up: one answer's length of the same load (about one answer per stream), then settled.
        warm_ttfts, warm_errors = await sampled(
            load(answer_seconds), lambda: chat_sample(chat_port, chat.pid, time.monotonic() - began, "warm-up"), samples)
        warm = await settle(chat_port, chat.pid, began, samples, options, "warm")

        loaded_at = time.monotonic()
        ttfts, errors = await sampled(
            load(seconds), lambda: chat_sample(chat_port, chat.pid, time.monotonic() - began, "load"), samples)
        load_seconds = time.monotonic() - loaded_at
        errors += warm_errors
        samples.append(await chat_sample(chat_port, chat.pid, time.monotonic() - began, "load end"))
        settled = await settle(chat_port, chat.pid, began, samples, options, "settled")
        database_mib = sum(os.path.getsize(os.path.join(os.path.dirname(database), name))
                           for name in os.listdir(os.path.dirname(database))) / 2**20
    finally:
        stop(chat)
        stop(standin)
        if database:
            shutil.rmtree(os.path.dirname(database), ignore_errors=True)

    failures = []
    growth = (settled["rss_mib"] - mib(cold_rss)) / mib(cold_rss) * 100
    warm_growth = (settled["rss_mib"] - warm["rss_mib"]) / warm["rss_mib"] * 100
    peak = max(sample["rss_mib"] for sample in samples)
    figures = {
        "load": f"{options.streams} streams of {options.pace} open for {load_seconds:.0f} s, "
                f"{len(ttfts) + errors} streams ({(len(ttfts) + errors) / max(load_seconds, 1e-3):.1f} new/s), "
                f"after a warm-up of {len(warm_ttfts) + warm_errors}",
        "errors": f"{errors} failed streams, {settled['upstream_errors']} upstream errors, "
                  f"{settled['open']} streams open after the load",
        "ttft p50 / p95": f"{percentile(ttfts, 50) * 1000:.1f} / {percentile(ttfts, 95) * 1000:.1f} ms" if ttfts else "-",
        "resident memory": f"{mib(cold_rss)} MiB before any request, {warm['rss_mib']} MiB idle after the warm-up; "
                           f"peak {peak} MiB; settled {settled['rss_mib']} MiB ({warm_growth:+.1f} % of the warm idle, limit "
                           f"{options.rss_tolerance:g} %; {growth:+.1f} % of the memory before any request)",
        "database": f"{database_mib:.1f} MiB",
    }
    if errors:
        failures.append(f"{errors} failed streams")
    if settled["upstream_errors"]:
        failures.append(f"{settled['upstream_errors']} upstream errors")
    if settled["open"]:
        failures.append(f"{settled['open']} streams still open")
    if warm_growth > options.rss_tolerance:
        failures.append(f"resident memory settled {warm_growth:+.1f} % above the warm idle")
    columns = [("t (s)", "t_s", 5), ("phase", "phase", 8), ("RSS MiB", "rss_mib", 8), ("open", "open", 5),
               ("streams", "streams", 7), ("upstream errors", "upstream_errors", 15)]
    return report(options, f"skiff-chat soak: {options.streams} streams of {options.pace}, {options.minutes:g} min",
                  columns, samples, figures, failures)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    serve = modes.add_parser("serve", help="skiff serve under skiff bench --concurrency 64")
    chat = modes.add_parser("chat", help="skiff-chat with 200 streams open against chat-standin")
    for mode in (serve, chat):
        mode.add_argument("--bin", required=True, help="directory with the release binaries")
        mode.add_argument("--minutes", type=float, default=10, help="how long the load lasts (default 10)")
        mode.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    serve.add_argument("--concurrency", type=int, default=64)
    serve.add_argument("--prompt-tokens", type=int, default=100)
    serve.add_argument("--output-tokens", type=int, default=128, help="per request, exactly (--ignore-eos)")
    serve.add_argument("--serve-args", default="--threads 2 --max-running 64 --ctx 2048",
                       help="skiff serve flags, one string (default: '%(default)s', the default model; "
                            "write --serve-args=... when it starts with a dash and has no space)")
    serve.add_argument("--rss-tolerance", type=float, default=5,
                       help="percent the resident memory may move from the baseline to the end (default 5)")
    serve.add_argument("--baseline-minutes", type=float, default=1,
                       help="when the baseline memory is read, in minutes of load (default 1; at most half the load)")
    chat.add_argument("--streams", type=int, default=200)
    chat.add_argument("--pace", default="300-40", help="the answers' tokens and milliseconds between them "
                                                       "(default 300-40: 12 s at 25 tokens/s)")
    chat.add_argument("--settle-seconds", type=float, default=100,
                      help="after a load, wait at least this long before reading the settled memory (default 100: "
                           "past the chat's last heap trim, 90 s after the last answer)")
    chat.add_argument("--rss-tolerance", type=float, default=10,
                      help="percent above the warm idle the settled resident memory may be (default 10)")
    options = parser.parse_args()
    return asyncio.run(interruptible(serve_soak if options.mode == "serve" else chat_soak, options))


async def interruptible(soak, options):
    """Runs the soak; SIGINT or SIGTERM cancels it (the soak's `finally` stops its processes) and exits 130."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await soak(options)
    except asyncio.CancelledError:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
