"""Load benchmark of `enclave-engine serve` (a benchmark, not a test): N concurrent streaming clients of the
official openai library against the HTTP API. Reports requests/s, generated tokens/s, TTFT p50/p99 and
inter-token p50/p99, and compares the aggregate with a single stream (batching at work).

usage: build/venv/bin/python tools/bench/serve_load.py ENGINE_EXE MODEL [--streams 32] [--tokens 64] [--threads 2]
"""
import argparse
import re
import statistics
import subprocess
import threading
import time

import openai


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] if v else float("nan")


def run_streams(client, model, n, tokens):
    ttft, itl, generated = [], [], [0]
    lock = threading.Lock()

    def one(i):
        start = time.perf_counter()
        last, first, count = None, None, 0
        for chunk in client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"Tell me a story about the number {i}."}],
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

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, generated[0], ttft, itl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("model")
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    proc = subprocess.Popen([a.engine, "serve", "--model", a.model, "--http", "127.0.0.1:0", "--threads",
                             str(a.threads), "--socket", f"/tmp/enclave-load-{time.time_ns()}/engine.sock"],
                            stdout=subprocess.PIPE, text=True)
    try:
        base = re.search(r"(http://\S+/v1)", proc.stdout.readline()).group(1)
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=600)
        model = client.models.list().data[0].id
        run_streams(client, model, 1, 8)  # warm-up
        s_secs, s_tok, _, s_itl = run_streams(client, model, 1, a.tokens)
        secs, tok, ttft, itl = run_streams(client, model, a.streams, a.tokens)
        single = s_tok / s_secs
        print(f"single stream: {single:.1f} generated tokens/s, inter-token p50 {statistics.median(s_itl) * 1e3:.1f} ms")
        print(f"{a.streams} streams: {a.streams / secs:.2f} requests/s, {tok / secs:.1f} generated tokens/s "
              f"({tok / secs / single:.2f}x one stream)")
        print(f"  TTFT p50 {percentile(ttft, 50) * 1e3:.0f} ms, p99 {percentile(ttft, 99) * 1e3:.0f} ms; "
              f"inter-token p50 {percentile(itl, 50) * 1e3:.1f} ms, p99 {percentile(itl, 99) * 1e3:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
