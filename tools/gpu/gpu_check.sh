#!/usr/bin/env bash
# The one GPU check, run ON the GPU machine from the repository root:
#   configure + build (all cores) -> gpu-labelled tests -> compute-sanitizer memcheck and racecheck on the
#   kernel test -> CPU-vs-CUDA greedy tokens and `enclave-engine bench --backend cuda` on synthetic models.
# Synthetic models come from synth_gguf.py, expected at tools/gpu/.synth/synth_gguf.py (copied there from
# ../shared/tools before the call; the folder is git-ignored through .git/info/exclude and carried).
# Logs go under $OUT (default /tmp/gpu_check); a short results table is printed last.
# Stages are skipped, not cut off, when the time budget (GPU_CHECK_BUDGET_S, default 540 s) runs low.
#
# Binaries built elsewhere (GPU_CHECK_PREBUILT=dir holding tst_cuda_ops, tst_cuda_model, enclave-engine,
# bench_cuda_batch, probe_cublas_racecheck) are used when they run on this machine, which saves the build.
# Stages: --no-tests, --no-sanitizer, --no-smol, --no-8b (q4_0), --f16 (the 8b f16 rows: pp512, tg128 and
# 256 sequences x 128 new tokens), --no-f16-batch (f16 without its 256 sequences), --batch (256 x 128 on 8b
# q4_0 too), --no-ncu, --no-nographs. GPU_CHECK_SAN_TOOLS picks the sanitizers (default "memcheck racecheck").
#
#   usage: tools/gpu/gpu_check.sh [--no-8b] [--no-sanitizer] [--f16] [--batch] ...
set -uo pipefail

OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
BUILD=${GPU_CHECK_BUILD:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-540}
SYNTH=tools/gpu/.synth/synth_gguf.py
MODELS=${GPU_CHECK_MODELS:-/tmp/enclave_models}
DO_8B=1
DO_SAN=1
DO_TESTS=1
DO_SMOL=1
DO_F16=0
DO_F16_BATCH=1
DO_BATCH=0
DO_NCU=1
GRAPH_MODES="1 0"
PREBUILT=${GPU_CHECK_PREBUILT:-}
for a in "$@"; do
  case "$a" in
    --no-8b) DO_8B=0 ;;
    --no-sanitizer) DO_SAN=0 ;;
    --no-tests) DO_TESTS=0 ;;
    --no-smol) DO_SMOL=0 ;;
    --f16) DO_F16=1 ;;
    --no-f16-batch) DO_F16_BATCH=0 ;;
    --batch) DO_BATCH=1 ;;
    --no-ncu) DO_NCU=0 ;;
    --no-nographs) GRAPH_MODES="1" ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

SUMMARY="$OUT/summary.md"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - SECONDS)); }
stage() { echo; echo "==== [$SECONDS s] $*"; }

stage "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader || true
nvcc --version | tail -1
note "| stage | result |"
note "|---|---|"

# Peak device memory over the whole check (the benches' models and caches included).
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$OUT/gpu_mem.log" 2>/dev/null &
MEM_PID=$!

BIN=""
if [ -n "$PREBUILT" ] && [ -x "$PREBUILT/tst_cuda_ops" ]; then
  if ENCLAVE_TEST_QUICK=1 timeout 60 "$PREBUILT/tst_cuda_ops" get_rows_reports_a_bad_id >"$OUT/prebuilt.log" 2>&1; then
    BIN="$PREBUILT"; note "| build | prebuilt binaries run here |"
  else
    tail -5 "$OUT/prebuilt.log"; echo "prebuilt binaries do not run here: building"
  fi
fi
if [ -z "$BIN" ]; then
BIN="$BUILD/bin"
stage "configure"
if ! cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENCLAVE_SERVER=OFF -DENCLAVE_CONSOLE=OFF \
     -DENCLAVE_CUDA=ON >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; note "| configure | FAILED |"; exit 1
fi
stage "build"
if ! cmake --build "$BUILD" -j "$(nproc)" --target tst_cuda_ops tst_cuda_model enclave-engine bench_cuda_batch \
    probe_cublas_racecheck >>"$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -40; tail -20 "$OUT/build.log"; note "| build | FAILED |"; exit 1
fi
note "| build | ok ($SECONDS s) |"
fi

TEST_RC=0
if [ $DO_TESTS -eq 1 ]; then
stage "gpu tests"
run_test() {  # log-name [VAR=value...]
  local name=$1; shift
  env "$@" ENCLAVE_CUDA_STATS=1 timeout 240 "$BIN/${name%%.*}" >"$OUT/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && TEST_RC=1
  grep -E "FAILED|FAIL \]|unexpected|NON-FINITE|seed" "$OUT/$name.log" | head -30
  note "| $name $* | rc $rc: $(grep -E 'passed, ' "$OUT/$name.log" | tail -1) |"
}
run_test tst_cuda_ops
run_test tst_cuda_model                      # CUDA graphs on (the default)
run_test tst_cuda_model.nographs ENCLAVE_CUDA_GRAPHS=0
fi

SAN_SUMMARY=""
if [ $DO_SAN -eq 1 ]; then
  for tool in ${GPU_CHECK_SAN_TOOLS:-memcheck racecheck}; do
    if [ "$(left)" -lt 200 ]; then note "| sanitizer $tool | skipped (time) |"; continue; fi
    stage "compute-sanitizer $tool (quick sizes)"
    {
      echo "==== compute-sanitizer --tool $tool"
      # API errors are not reported: one test provokes an out-of-memory error on purpose.
      ENCLAVE_TEST_QUICK=1 timeout 150 compute-sanitizer --tool $tool --report-api-errors no --print-limit 50 \
        --error-exitcode 3 "$BIN/tst_cuda_ops" 2>&1
      rc1=$?
      # The graph path (capture, replay) and batched steps under the same tool.
      ENCLAVE_TEST_QUICK=1 timeout 120 compute-sanitizer --tool $tool --print-limit 50 --error-exitcode 3 \
        "$BIN/tst_cuda_model" batched_decode 2>&1
      echo "rc $rc1/$?"
    } >"$OUT/san.tmp"
    rc=$(tail -1 "$OUT/san.tmp")
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed, " "$OUT/san.tmp" | tr '\n' ' ')
    if [ "$tool" = racecheck ]; then
      # Hazards racecheck places in cuBLAS's own GEMM kernels (nvjet_*) are told apart from ours: it reports the
      # same ones with cuBLAS alone (probe_cublas_racecheck; kernels/cuda/NOTES.md, Session 7), and shared memory
      # is private to a kernel's blocks, so no code of ours can take part in them.
      ours=$(grep "Race reported" "$OUT/san.tmp" | grep -vc "access at nvjet_")
      theirs=$(grep "Race reported" "$OUT/san.tmp" | grep -c "access at nvjet_")
      probe=""
      if [ "$theirs" -gt 0 ] && [ -x "$BIN/probe_cublas_racecheck" ]; then
        probe=$(timeout 100 compute-sanitizer --tool racecheck "$BIN/probe_cublas_racecheck" 2>&1 |
                grep "RACECHECK SUMMARY" | sed 's/=* *RACECHECK SUMMARY: //')
        probe="; cuBLAS alone (probe): $probe"
      fi
      summary="$summary; in our kernels: $ours, in cuBLAS nvjet kernels: $theirs$probe"
    fi
    cat "$OUT/san.tmp" >>"$OUT/sanitizer.log"; rm -f "$OUT/san.tmp"
    note "| sanitizer $tool | $rc: $summary |"
  done
fi

mkdir -p "$MODELS"
bench_model() {  # name shape type
  local name=$1 shape=$2 type=$3 f="$MODELS/$1.gguf"
  stage "model $name"
  [ -f "$f" ] || python3 "$SYNTH" "$f" "$shape" "$type" || { note "| $name | synth FAILED |"; return; }
  # Same file, same prompts, greedy: the CPU and CUDA backends should pick the same tokens. $4 tokens on each of
  # the first $5 prompts (default 32 tokens, 1 prompt).
  local n=${4:-32} n_prompts=${5:-1} i same=""
  local prompts=("The quick brown fox jumps over the lazy dog and keeps running"
                 "Write a short poem about the sea."
                 "What is the capital of France?"
                 "List three prime numbers greater than one hundred."
                 "def fibonacci(n):"
                 "Explain why the sky is blue in two sentences."
                 "Translate 'good morning' into German, Spanish and Japanese."
                 "1, 1, 2, 3, 5, 8, 13,")
  for ((i = 0; i < n_prompts && i < ${#prompts[@]}; ++i)); do
    timeout 120 "$BIN/enclave-engine" run --model "$f" --backend cpu --prompt "${prompts[$i]}" --temperature 0 \
        --max-tokens "$n" --json >"$OUT/run_cpu_$name.$i.json" 2>>"$OUT/bench.log"
    timeout 60 "$BIN/enclave-engine" run --model "$f" --backend cuda --prompt "${prompts[$i]}" --temperature 0 \
        --max-tokens "$n" --json >"$OUT/run_cuda_$name.$i.json" 2>>"$OUT/bench.log"
  done
  same=$(python3 - "$OUT" "$name" "$n_prompts" <<'EOF'
import json, sys
out, name, n_prompts = sys.argv[1], sys.argv[2], int(sys.argv[3])
parts, whole = [], 0
for i in range(n_prompts):
    try:
        a, b = (json.load(open("%s/run_%s_%s.%d.json" % (out, be, name, i)))["ids"] for be in ("cpu", "cuda"))
    except Exception as e:
        parts.append("n/a (%s)" % e); continue
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]: k += 1
    whole += k == len(a) == len(b)
    parts.append("%d/%d" % (k, max(len(a), len(b))))
print("%d of %d prompts equal in every token; greedy tokens equal before the first difference: %s"
      % (whole, n_prompts, " ".join(parts)))
EOF
)
  rm -f "$OUT"/run_cpu_"$name".*.json "$OUT"/run_cuda_"$name".*.json
  note "| $name cpu vs cuda tokens | $same |"
  local graphs
  for graphs in $GRAPH_MODES; do
    echo "== bench $name graphs=$graphs" >>"$OUT/bench.log"
    ENCLAVE_CUDA_GRAPHS=$graphs ENCLAVE_CUDA_STATS=1 timeout 180 "$BIN/enclave-engine" bench --model "$f" \
        --backend cuda --pp 512 --tg 128 --reps 3 --json >"$OUT/bench_$name.json" 2>>"$OUT/bench.log"
    local rc=$?
    python3 - "$OUT/bench_$name.json" "$name" "$rc" "$graphs" <<'EOF' | tee -a "$SUMMARY"
import json, sys
path, name, rc, graphs = sys.argv[1:5]
label = "graphs" if graphs == "1" else "no graphs"
try:
    j = json.load(open(path))
except Exception as e:
    print("| %s bench (%s) | FAILED rc %s (%s) |" % (name, label, rc, e)); sys.exit()
for r in j["results"]:
    extra = " (%.0f GB/s of weights)" % r["bandwidth_gbs"] if "bandwidth_gbs" in r else ""
    print("| %s cuda %s, %s | %.1f ± %.1f t/s%s |" % (name, r["test"], label, r["avg_ts"], r["stddev_ts"], extra))
EOF
    cat "$OUT/bench_$name.json" >>"$OUT/bench.log"; rm -f "$OUT/bench_$name.json"
  done
}

# Kernel times of one decode step (graphs off, so ncu sees plain launches): where a token's time goes.
profile_decode() {  # name launches-per-step
  local f="$MODELS/$1.gguf" per_step=$2
  [ -f "$f" ] || return
  local ncu
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  [ -n "$ncu" ] || { note "| ncu $1 | not found |"; return; }
  stage "ncu: one decode step of $1"
  # bench --pp 0 --tg 2 --reps 1 runs 4 decode steps; the last one is profiled.
  ENCLAVE_CUDA_GRAPHS=0 timeout 150 "$ncu" --clock-control none --metrics gpu__time_duration.sum \
      --launch-skip $((3 * per_step)) --launch-count "$per_step" --csv --print-units base \
      "$BIN/enclave-engine" bench --model "$f" --backend cuda --pp 0 --tg 2 --reps 1 >"$OUT/ncu.tmp" 2>&1
  python3 - "$OUT/ncu.tmp" "$1" <<'EOF' | tee -a "$OUT/bench.log" | tail -16
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print("ncu: no rows"); sys.exit()
h = rows[0]; ki = h.index("Kernel Name"); vi = h.index("Metric Value")
tot = collections.Counter(); cnt = collections.Counter()
for r in rows[1:]:
    try: v = float(r[vi].replace(",", ""))
    except ValueError: continue
    full = r[ki]
    name = full.split("(")[0]
    tot[name] += v; cnt[name] += 1
s = sum(tot.values())
print("ncu %s: %d kernels, %.1f us of kernel time in one decode step" % (sys.argv[2], sum(cnt.values()), s / 1e3))
for n, v in tot.most_common(12):
    print("  %8.1f us %5.1f%% %4d x %s" % (v / 1e3, 100 * v / s, cnt[n], n[-90:]))
# Each matrix-vector launch of the step in order (the first layer's, and the last few): which products are slow.
mv = [(r[ki].split("(")[0], float(r[vi].replace(",", ""))) for r in rows[1:] if "mmv" in r[ki]]
if mv:
    print("matrix-vector launches in order (us): " + " ".join("%.1f" % (v / 1e3) for _, v in mv[:6]) + " ... " +
          " ".join("%.1f" % (v / 1e3) for _, v in mv[-4:]))
EOF
  tail -3 "$OUT/ncu.tmp" >>"$OUT/bench.log"; rm -f "$OUT/ncu.tmp"
}

# B sequences x 128 new tokens after 128-token prompts (llama-batched-bench -npp 128 -ntg 128).
bench_batch() {  # name B
  local f="$MODELS/$1.gguf"
  [ -f "$f" ] || return
  stage "batch $1 B=$2"
  local line
  line=$(ENCLAVE_CUDA_STATS=1 timeout 240 "$BIN/bench_cuda_batch" "$f" "$2" 128 128 2>>"$OUT/bench.log" | tail -1)
  echo "$line" >>"$OUT/bench.log"
  note "| $1 cuda $2 seqs x 128 new tokens | $line |"
}

[ $DO_SMOL -eq 1 ] && bench_model smol_q4_1 smol q4_1 64 8
if [ $DO_8B -eq 1 ]; then
  if [ "$(left)" -gt 150 ]; then bench_model 8b_q4_0 8b q4_0 8; else note "| 8b_q4_0 | skipped (time) |"; fi
  if [ $DO_BATCH -eq 1 ] && [ "$(left)" -gt 120 ]; then bench_batch 8b_q4_0 256; fi
fi
if [ $DO_F16 -eq 1 ]; then
  if [ "$(left)" -gt 200 ]; then
    GRAPH_MODES_SAVED=$GRAPH_MODES; GRAPH_MODES="1"
    bench_model 8b_f16 8b f16 8
    GRAPH_MODES=$GRAPH_MODES_SAVED
    [ $DO_F16_BATCH -eq 1 ] && [ "$(left)" -gt 120 ] && bench_batch 8b_f16 256
  else note "| 8b_f16 | skipped (time) |"; fi
fi
# Kernels a decode step: ENCLAVE_CUDA_STEP_KERNELS overrides (the count changes with fusion).
if [ $DO_NCU -eq 1 ] && [ "$(left)" -gt 60 ]; then profile_decode 8b_q4_0 "${ENCLAVE_CUDA_STEP_KERNELS:-261}"; fi
kill $MEM_PID 2>/dev/null
note "| peak device memory in use | $(sort -n "$OUT/gpu_mem.log" 2>/dev/null | tail -1) MiB (nvidia-smi, every 250 ms) |"

stage "results"
echo
cat "$SUMMARY"
exit $TEST_RC
