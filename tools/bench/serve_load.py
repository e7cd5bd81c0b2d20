"""Load benchmark of `enclave-engine serve` (a benchmark, not a test): N concurrent streaming clients of the
official openai library against the HTTP API. Reports requests/s, generated tokens/s, TTFT p50/p99 and
inter-token p50/p99, and compares the aggregate with a single stream (batching at work) and both with the
engine alone (`enclave-engine bench --sequences`), which gives the server's overhead.

usage: build/venv/bin/python tools/bench/serve_load.py ENGINE_EXE MODEL [--streams 32] [--tokens 64] [--threads 2]
       [--client openai|raw] [--engine-cpus 0,1] [--serve-arg=--no-prefix-cache ...]

--client raw drives the same HTTP API from one asyncio thread with a minimal SSE reader: a load generator
that costs far less CPU than 32 openai clients (pydantic per chunk), for a 2-core box where the client
competes with the engine. The engine gets a fresh state directory and an API key made with the headless
CLI (`enclave-engine user add` / `key create`), as an operator would. --client raw needs only the standard
library. --engine-cpus pins the engine (and the engine-alone runs) to those CPUs with taskset, so that on a
larger machine the client runs beside it, not on its cores.
"""
import argparse
import asyncio
import json
import os
import re
import tempfile
import statistics
import subprocess
import threading
import time
import urllib.request



def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] if v else float("nan")


# Every request of a benchmark gets its own number, so that no run finds the prompts of an earlier one in the
# engine's prefix cache: the measure is batching, not caching.
_prompt_numbers = iter(range(1000, 10**9))


def prompt(number):
    return f"Tell me a story about the number {number}."


def run_streams(client, model, n, tokens):

    ttft, itl, generated = [], [], [0]
    lock = threading.Lock()

    def one(i):
        start = time.perf_counter()
        last, first, count = None, None, 0
        for chunk in client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt(i)}],
                max_tokens=tokens, temperature=0.7, seed=i, stream=True,
                stream_options={"include_usage": True}):
            now = time.perf_counter()
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = now - start
                elif last is not None:
                    with lock:
                        itl.append(now - last)
                last = now
            if chunk.usage:
                count = chunk.usage.completion_tokens
        with lock:
            if first is not None:
                ttft.append(first)
            generated[0] += count

    threads = [threading.Thread(target=one, args=(next(_prompt_numbers),)) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, generated[0], ttft, itl


async def raw_stream(host, port, key, model, i, tokens):
    """One streaming chat over a raw HTTP/1.1 connection: (seconds to first token, token gaps, generated)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt(i)}],
                       "max_tokens": tokens, "temperature": 0.7, "seed": i, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\n\r\n" + body)
    await writer.drain()
    first, last, gaps, generated = None, None, [], 0
    while True:
        line = await reader.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        if line.startswith(b"data: [DONE]"):
            break
        chunk = json.loads(line[6:])
        now = time.perf_counter()
        if chunk.get("usage"):
            generated = chunk["usage"]["completion_tokens"]
        if chunk["choices"] and chunk["choices"][0].get("delta", {}).get("content"):
            if first is None:
                first = now - start
            elif last is not None:
                gaps.append(now - last)
            last = now
    writer.close()
    return first, gaps, generated


def run_raw(host, port, key, model, n, tokens):
    async def all_streams():
        return await asyncio.gather(*(raw_stream(host, port, key, model, next(_prompt_numbers), tokens) for _ in range(n)))
    t0 = time.perf_counter()
    results = asyncio.run(all_streams())
    secs = time.perf_counter() - t0
    ttft = [r[0] for r in results if r[0] is not None]
    itl = [g for r in results for g in r[1]]
    return secs, sum(r[2] for r in results), ttft, itl


def api_key(engine, state_dir):
    """An analyst and a key for it, made with the headless CLI on the running engine's state directory."""
    password = "Quiet-Harbour-Lantern-42"
    subprocess.run([engine, "user", "add", "--state-dir", state_dir, "--name", "load-bench", "--role", "analyst",
                    "--password-file", "-"], input=password + "\n", text=True, check=True, capture_output=True)
    out = subprocess.run([engine, "key", "create", "--state-dir", state_dir, "--user", "load-bench", "--name", "load"],
                         text=True, check=True, capture_output=True).stdout
    return re.search(r"(enk_\S+)", out).group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("model")
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--client", choices=["openai", "raw"], default="openai")
    ap.add_argument("--serve-arg", action="append", default=[], help="one more flag for serve (repeatable)")
    ap.add_argument("--engine-cpus", default="", help="taskset CPU list for the engine, e.g. 0,1")
    a = ap.parse_args()
    pin = ["taskset", "-c", a.engine_cpus] if a.engine_cpus else []
    root = tempfile.mkdtemp(prefix="enclave-load-")
    proc = subprocess.Popen(pin + [a.engine, "serve", "--load", a.model, "--http", "127.0.0.1:0", "--threads",
                             str(a.threads), "--socket", os.path.join(root, "engine.sock"), "--state-dir",
                             os.path.join(root, "state")] + a.serve_arg, stdout=subprocess.PIPE, text=True)
    try:
        base = re.search(r"(http://\S+/v1)", proc.stdout.readline()).group(1)
        key = api_key(a.engine, os.path.join(root, "state"))
        request = urllib.request.Request(base + "/models", headers={"Authorization": "Bearer " + key})
        with urllib.request.urlopen(request, timeout=60) as r:
            model = json.loads(r.read())["data"][0]["id"]
        host, port = re.match(r"http://([\d.]+):(\d+)", base).groups()
        if a.client == "raw":
            def run(n, tokens):
                return run_raw(host, int(port), key, model, n, tokens)
        else:
            import openai
            client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=600)

            def run(n, tokens):
                return run_streams(client, model, n, tokens)
        run(1, 8)  # warm-up
        # The best of a few runs of each: on a shared machine other processes only ever add time.
        s_secs, s_tok, _, s_itl = max((run(1, a.tokens) for _ in range(3)), key=lambda r: r[1] / r[0])
        secs, tok, ttft, itl = max((run(a.streams, a.tokens) for _ in range(2)), key=lambda r: r[1] / r[0])
        single = s_tok / s_secs
        print(f"single stream: {single:.1f} generated tokens/s, inter-token p50 {statistics.median(s_itl) * 1e3:.1f} ms")
        print(f"{a.streams} streams: {a.streams / secs:.2f} requests/s, {tok / secs:.1f} generated tokens/s "
              f"({tok / secs / single:.2f}x one stream)")
        print(f"  TTFT p50 {percentile(ttft, 50) * 1e3:.0f} ms, p99 {percentile(ttft, 99) * 1e3:.0f} ms; "
              f"inter-token p50 {percentile(itl, 50) * 1e3:.1f} ms, p99 {percentile(itl, 99) * 1e3:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # The engine alone on the same model and threads, no server: the server's overhead is the difference.
    def engine_rate(sequences):
        out = subprocess.run(pin + [a.engine, "bench", "--model", a.model, "--pp", "0", "--tg", str(a.tokens), "--sequences",
                              str(sequences), "--threads", str(a.threads), "--reps", "2", "--json"],
                             capture_output=True, text=True, check=True).stdout
        return max(r["avg_ts"] for r in json.loads(out)["results"])
    alone_1, alone_n = engine_rate(1), engine_rate(a.streams)
    print(f"engine alone (bench --sequences): 1 sequence {alone_1:.1f} t/s, {a.streams} sequences {alone_n:.1f} t/s "
          f"({alone_n / alone_1:.2f}x); the server delivers {single / alone_1:.0%} and {tok / secs / alone_n:.0%} of them "
          f"(its streams also prefill their prompts)")


if __name__ == "__main__":
    main()
