#!/usr/bin/env bash
# ./enclave bench: Enclave's `enclave-engine bench` and llama.cpp's `llama-bench` on the same model file
# with the same threads, alternating rounds so machine noise hits both alike, then the ratio for pp and tg.
#   tools/bench/bench_vs_llama_cpp.sh BUILD_DIR MODEL [--threads N] [--rounds R] [--pp N] [--tg N]
# llama.cpp comes from the pinned llama-cpp-python sdist (tools/oracle/build_llama_cpp.sh, built once).
set -euo pipefail
BUILD_DIR="$1"; MODEL="$2"; shift 2
THREADS=2 ROUNDS=3 PP=512 TG=128
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --pp) PP="$2"; shift 2 ;;
    --tg) TG="$2"; shift 2 ;;
    *) echo "bench: unknown flag $1" >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ORACLE_DIR="$BUILD_DIR/oracle"
"$ROOT/tools/oracle/build_llama_cpp.sh" >&2
LLAMA_BENCH="$(find "$ORACLE_DIR/llama.cpp-build" -name llama-bench -type f -perm -u+x | head -n1)"
[ -x "$LLAMA_BENCH" ] || { echo "bench: llama-bench was not built" >&2; exit 1; }
OUT="$BUILD_DIR/bench"; mkdir -p "$OUT"; rm -f "$OUT"/*.json
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: enclave" >&2
  "$BUILD_DIR/bin/enclave-engine" bench --model "$MODEL" --threads "$THREADS" --pp "$PP" --tg "$TG" --reps 1 --json \
    > "$OUT/enclave-$r.json"
  echo "round $r/$ROUNDS: llama.cpp" >&2
  LD_LIBRARY_PATH="$(dirname "$LLAMA_BENCH"):$ORACLE_DIR/llama.cpp-build/bin:${LD_LIBRARY_PATH:-}" \
    "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p "$PP" -n "$TG" -r 1 -o json > "$OUT/llama-$r.json" 2>"$OUT/llama-$r.log"
done
python3 - "$OUT" "$ROUNDS" "$MODEL" "$THREADS" <<'PY'
import json, statistics, sys, os
out, rounds, model, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ours = {"pp": [], "tg": []}; theirs = {"pp": [], "tg": []}; rss = []
for r in range(1, rounds + 1):
    e = json.load(open(f"{out}/enclave-{r}.json"))
    rss.append(e["rss_bytes"])
    for res in e["results"]:
        ours["pp" if res["n_prompt"] else "tg"].append(res["avg_ts"])
    for res in json.load(open(f"{out}/llama-{r}.json")):
        theirs["pp" if res["n_prompt"] else "tg"].append(res["avg_ts"])
print(f"model {os.path.basename(model)}, {threads} threads, {rounds} alternating rounds")
print("| test | enclave t/s | llama.cpp t/s | ratio |")
print("|---|---|---|---|")
for k in ("pp", "tg"):
    if ours[k] and theirs[k]:
        a, b = statistics.mean(ours[k]), statistics.mean(theirs[k])
        print(f"| {k} | {a:.1f} ± {statistics.pstdev(ours[k]):.1f} | {b:.1f} ± {statistics.pstdev(theirs[k]):.1f} | {a / b:.2f}x |")
print(f"enclave resident memory: {max(rss) / 2**20:.1f} MiB (model file {os.path.getsize(model) / 2**20:.1f} MiB)")
PY
