#!/usr/bin/env python3
"""The chat tier's own cost: N concurrent chat streams through one skiff-chat replica in front of the
stand-in upstream (chat-standin, which streams canned tokens at once), so the model's time is out of it.

    swift build -c release --product skiff-chat && swift build -c release --product chat-standin
    scripts/chat_bench.py --bin "$(swift build -c release --show-bin-path)" --streams 200 --steady 40 --pace 300-40
    scripts/chat_bench.py --bin "$(swift build -c release --show-bin-path)" --streams 200 --rounds 5

With --steady, --streams answers of --pace (tokens-milliseconds apart) stay open for that many seconds,
each replaced by a new question when it ends. Otherwise each round starts --streams streams at once (a
burst). Every stream is the first message of a conversation of its own (the tier stores the question and
the answer row, names the conversation, then asks the model). --chat-cpu N pins skiff-chat to CPU N and
this client and the stand-in to the others.
Reports: time to first token seen by the client directly from the stand-in and through skiff-chat
(p50/p95 over every stream), the difference (what the tier adds), errors, skiff-chat's CPU time per
stream, and its resident memory idle (after start) and after the run. Standard library only.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(command, pattern, cpus=None):
    log = tempfile.TemporaryFile(mode="w+")
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log.seek(0)
        match = re.search(pattern, log.read())
        if match:
            return process, int(match.group(1))
        time.sleep(0.05)
    process.kill()
    log.seek(0)
    sys.exit(f"{command[0]} did not start: {log.read()[-2000:]}")


async def request(port, method, path, headers, body, on_data=None):
    """One HTTP/1.1 request on its own connection; calls on_data with each piece of the (de-chunked) body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = body.encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(head.encode() + b"\r\n" + payload)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    response_headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        response_headers.setdefault(name.strip().lower(), value.strip())
    data = b""
    if response_headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            piece = await reader.readexactly(size)
            await reader.readexactly(2)
            data += piece
            if on_data:
                on_data(piece)
    else:
        data = await reader.read()
        if on_data:
            on_data(data)
    writer.close()
    return status, response_headers, data


async def stream(port, path, headers, body, first_marker, end_marker):
    """Time to the first piece holding first_marker; whether the body ended with end_marker."""
    started = time.perf_counter()
    first = None
    seen = b""

    def on_data(piece):
        nonlocal first, seen
        seen += piece
        if first is None and first_marker in seen:
            first = time.perf_counter() - started

    status, _, data = await request(port, "POST", path, headers, body, on_data)
    ok = status == 200 and first is not None and end_marker in data
    return first, ok


async def open_session(chat_port):
    """A session with skiff-chat (--auth none): the headers its API wants (cookie, CSRF token, JSON)."""
    _, headers, page = await request(chat_port, "GET", "/", {}, "")
    cookie = headers["set-cookie"].split(";")[0]
    csrf = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page).group(1).decode()
    return {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}


async def new_conversation_stream(chat_port, api, model):
    """A new conversation with `model`, then one question streamed through skiff-chat: (ttft, ok)."""
    _, _, body = await request(chat_port, "POST", "/api/conversations", api, json.dumps({"model": model}))
    conversation = json.loads(body)["id"]
    return await stream(chat_port, f"/api/conversations/{conversation}/messages", api,
                        '{"content":"Hi"}', b'"type":"delta"', b'"type":"done"')


async def run_rounds(streams, rounds, make_stream, first=0):
    """rounds of `streams` streams started at once; stream k (counted from `first`) gets its own conversation."""
    ttfts, errors = [], 0
    for round in range(rounds):
        results = await asyncio.gather(*(make_stream(first + round * streams + i) for i in range(streams)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) or not result[1]:
                errors += 1
            else:
                ttfts.append(result[0])
    return ttfts, errors


async def steady(streams, seconds, make_stream, spread):
    """`streams` workers, each starting its next stream when the last one ended, for `seconds`: that many
    streams open at any moment, with new ones arriving all the time (the first arrivals spread over
    `spread` seconds, an answer's length, so the arrivals stay spread). Every worker has its own conversations."""
    ttfts, errors = [], 0
    deadline = time.monotonic() + seconds

    async def worker(index):
        nonlocal errors
        await asyncio.sleep(spread * index / streams)
        count = 0
        while time.monotonic() < deadline:
            try:
                first, ok = await make_stream(index, count)
            except Exception:
                first, ok = None, False
            count += 1
            if ok:
                ttfts.append(first)
            else:
                errors += 1

    await asyncio.gather(*(worker(i) for i in range(streams)))
    return ttfts, errors


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="directory with skiff-chat and chat-standin (release build)")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steady", type=float, default=0,
                        help="instead of bursts: keep --streams answers open for this many seconds")
    parser.add_argument("--pace", default="50-20",
                        help="with --steady: the answers' tokens and milliseconds between them (default 50-20: one second; "
                             "300-40 is a 12-second answer at 25 tokens a second)")
    parser.add_argument("--chat-cpu", type=int, default=None,
                        help="pin skiff-chat to this CPU and the stand-in and this client to the others, as a pod with "
                             "a core of its own would run (default: everything shares every CPU)")
    options = parser.parse_args()
    chat_cpus = None
    if options.chat_cpu is not None:
        chat_cpus = {options.chat_cpu}
        others = os.sched_getaffinity(0) - chat_cpus
        if not others:
            sys.exit("--chat-cpu needs at least two CPUs")
        os.sched_setaffinity(0, others)  # the stand-in, started next, inherits it

    standin, standin_port = start([f"{options.bin}/chat-standin"], r"listening on (\d+)")
    database = tempfile.mkdtemp(prefix="skiff-chat-bench-") + "/chat.db"
    chat, chat_port = start(
        [f"{options.bin}/skiff-chat", "--port", "0", "--llm-url", f"http://127.0.0.1:{standin_port}/v1",
         "--database", "sqlite://" + database, "--rate-limit", "0"],
        r"http://127\.0\.0\.1:(\d+)/", cpus=chat_cpus)
    try:
        await asyncio.sleep(1)
        idle_rss = rss_kib(chat.pid)

        api = await open_session(chat_port)
        conversations = []
        for _ in range(options.streams * (options.rounds + 1)):
            _, _, body = await request(chat_port, "POST", "/api/conversations", api, '{"model":"standin-a"}')
            conversations.append(json.loads(body)["id"])

        if options.steady:
            return await steady_run(options, standin_port, chat_port, api, chat, idle_rss)

        # Warm both paths (connections, caches) before measuring.
        direct_body = json.dumps({"model": "standin-a", "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
        direct = lambda i: stream(standin_port, "/v1/chat/completions", {"Content-Type": "application/json"},
                                  direct_body, b'"content"', b"[DONE]")
        through = lambda i: stream(chat_port, f"/api/conversations/{conversations[i]}/messages", api,
                                   '{"content":"Hi"}', b'"type":"delta"', b'"type":"done"')
        await run_rounds(options.streams, 1, direct)
        await run_rounds(options.streams, 1, through)
        measured_from = options.streams

        direct_ttft, direct_errors = await run_rounds(options.streams, options.rounds, direct)
        cpu_before = cpu_seconds(chat.pid)
        wall_before = time.perf_counter()
        chat_ttft, chat_errors = await run_rounds(options.streams, options.rounds, through, first=measured_from)
        wall = time.perf_counter() - wall_before
        cpu = cpu_seconds(chat.pid) - cpu_before
        await asyncio.sleep(2)
        after_rss = rss_kib(chat.pid)
    finally:
        chat.terminate()
        standin.terminate()
        chat.wait(timeout=30)
        standin.wait(timeout=30)

    measured = options.streams * options.rounds
    ms = lambda values, p: percentile(values, p) * 1000
    report = {
        "streams_concurrent": options.streams,
        "streams_total": measured,
        "errors_direct": direct_errors,
        "errors_through_chat": chat_errors,
        "ttft_direct_ms": {"p50": round(ms(direct_ttft, 50), 2), "p95": round(ms(direct_ttft, 95), 2)},
        "ttft_through_chat_ms": {"p50": round(ms(chat_ttft, 50), 2), "p95": round(ms(chat_ttft, 95), 2)},
        "added_ttft_ms": {"p50": round(ms(chat_ttft, 50) - ms(direct_ttft, 50), 2),
                          "p95": round(ms(chat_ttft, 95) - ms(direct_ttft, 95), 2)},
        "chat_cpu_ms_per_stream": round(cpu / measured * 1000, 3),
        "chat_streams_per_second": round(measured / wall, 1),
        "chat_rss_idle_mib": round(idle_rss / 1024, 1),
        "chat_rss_after_run_mib": round(after_rss / 1024, 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if direct_errors == 0 and chat_errors == 0 else 1


async def steady_run(options, standin_port, chat_port, api, chat, idle_rss):
    model = f"paced-{options.pace}"
    count, interval = (int(part) for part in options.pace.split("-"))
    answer_seconds = max(1.0, count * interval / 1000)
    direct_body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
    direct = lambda index, count: stream(standin_port, "/v1/chat/completions", {"Content-Type": "application/json"},
                                         direct_body, b'"content"', b"[DONE]")

    through = lambda index, count: new_conversation_stream(chat_port, api, model)
    direct_ttft, direct_errors = await steady(options.streams, options.steady, direct, answer_seconds)
    cpu_before = cpu_seconds(chat.pid)
    chat_ttft, chat_errors = await steady(options.streams, options.steady, through, answer_seconds)
    cpu = cpu_seconds(chat.pid) - cpu_before
    ms = lambda values, p: percentile(values, p) * 1000
    print(json.dumps({
        "mode": "steady", "streams_open": options.streams, "seconds": options.steady, "pace": options.pace,
        "streams_direct": len(direct_ttft), "streams_through_chat": len(chat_ttft),
        "errors_direct": direct_errors, "errors_through_chat": chat_errors,
        "ttft_direct_ms": {"p50": round(ms(direct_ttft, 50), 2), "p95": round(ms(direct_ttft, 95), 2)},
        "ttft_through_chat_ms": {"p50": round(ms(chat_ttft, 50), 2), "p95": round(ms(chat_ttft, 95), 2)},
        "added_ttft_ms": {"p50": round(ms(chat_ttft, 50) - ms(direct_ttft, 50), 2),
                          "p95": round(ms(chat_ttft, 95) - ms(direct_ttft, 95), 2)},
        "chat_cpu_ms_per_stream": round(cpu / max(1, len(chat_ttft)) * 1000, 3),
        "chat_cpu_cores_busy": round(cpu / options.steady, 2),
        "chat_rss_idle_mib": round(idle_rss / 1024, 1),
        "chat_rss_after_run_mib": round(rss_kib(chat.pid) / 1024, 1),
    }, indent=2))
    return 0 if direct_errors == 0 and chat_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
