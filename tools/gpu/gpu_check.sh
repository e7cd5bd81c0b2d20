#!/usr/bin/env bash
# The one GPU check, run ON the GPU machine from the repository root:
#   configure + build (all cores) -> gpu-labelled tests -> compute-sanitizer memcheck and racecheck on the
#   kernel test -> CPU-vs-CUDA greedy tokens and `enclave-engine bench --backend cuda` on synthetic models.
# Synthetic models come from synth_gguf.py, expected at tools/gpu/.synth/synth_gguf.py (copied there from
# ../shared/tools before the call; the folder is git-ignored through .git/info/exclude and carried).
# Logs go under $OUT (default /tmp/gpu_check); a short results table is printed last.
# Stages are skipped, not cut off, when the time budget (GPU_CHECK_BUDGET_S, default 540 s) runs low.
#
#   usage: tools/gpu/gpu_check.sh [--no-8b] [--no-sanitizer]
set -uo pipefail

OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
BUILD=${GPU_CHECK_BUILD:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-540}
SYNTH=tools/gpu/.synth/synth_gguf.py
MODELS=${GPU_CHECK_MODELS:-/tmp/enclave_models}
DO_8B=1
DO_SAN=1
for a in "$@"; do
  case "$a" in
    --no-8b) DO_8B=0 ;;
    --no-sanitizer) DO_SAN=0 ;;
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

stage "configure"
if ! cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENCLAVE_SERVER=OFF -DENCLAVE_CONSOLE=OFF \
     -DENCLAVE_CUDA=ON >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; note "| configure | FAILED |"; exit 1
fi
stage "build"
if ! cmake --build "$BUILD" -j "$(nproc)" --target tst_cuda_ops tst_cuda_model enclave-engine >>"$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -40; tail -20 "$OUT/build.log"; note "| build | FAILED |"; exit 1
fi
note "| build | ok ($SECONDS s) |"

stage "gpu tests"
TEST_RC=0
for t in tst_cuda_ops tst_cuda_model; do
  timeout 240 "$BUILD/bin/$t" >"$OUT/$t.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && TEST_RC=1
  grep -E "FAILED|FAIL \]|unexpected|NON-FINITE|seed" "$OUT/$t.log" | head -30
  last=$(tail -1 "$OUT/$t.log")
  note "| $t | rc $rc: $last |"
done

SAN_SUMMARY=""
if [ $DO_SAN -eq 1 ]; then
  for tool in memcheck racecheck; do
    if [ "$(left)" -lt 200 ]; then note "| sanitizer $tool | skipped (time) |"; continue; fi
    stage "compute-sanitizer $tool (quick sizes)"
    {
      echo "==== compute-sanitizer --tool $tool"
      ENCLAVE_TEST_QUICK=1 timeout 150 compute-sanitizer --tool $tool --print-limit 50 --error-exitcode 3 \
        "$BUILD/bin/tst_cuda_ops" 2>&1
      echo "rc $?"
    } >"$OUT/san.tmp"
    rc=$(tail -1 "$OUT/san.tmp")
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed, " "$OUT/san.tmp" | tr '\n' ' ')
    cat "$OUT/san.tmp" >>"$OUT/sanitizer.log"; rm -f "$OUT/san.tmp"
    note "| sanitizer $tool | $rc: $summary |"
  done
fi

mkdir -p "$MODELS"
bench_model() {  # name shape type
  local name=$1 shape=$2 type=$3 f="$MODELS/$1.gguf"
  stage "model $name"
  [ -f "$f" ] || python3 "$SYNTH" "$f" "$shape" "$type" || { note "| $name | synth FAILED |"; return; }
  # Same file, same prompt, greedy: the CPU and CUDA backends should pick the same tokens.
  local n=${4:-32}
  local prompt="The quick brown fox jumps over the lazy dog and keeps running"
  timeout 120 "$BUILD/bin/enclave-engine" run --model "$f" --backend cpu --prompt "$prompt" --temperature 0 \
      --max-tokens "$n" --json >"$OUT/run_cpu_$name.json" 2>>"$OUT/bench.log"
  timeout 60 "$BUILD/bin/enclave-engine" run --model "$f" --backend cuda --prompt "$prompt" --temperature 0 \
      --max-tokens "$n" --json >"$OUT/run_cuda_$name.json" 2>>"$OUT/bench.log"
  local same
  same=$(python3 - "$OUT/run_cpu_$name.json" "$OUT/run_cuda_$name.json" <<'EOF'
import json, sys
try:
    a, b = (json.load(open(p))["ids"] for p in sys.argv[1:3])
except Exception as e:
    print("n/a (%s)" % e); sys.exit()
k = 0
while k < min(len(a), len(b)) and a[k] == b[k]: k += 1
print("%d of %d greedy tokens equal before the first difference" % (k, max(len(a), len(b))))
EOF
)
  rm -f "$OUT/run_cpu_$name.json" "$OUT/run_cuda_$name.json"
  note "| $name cpu vs cuda tokens | $same |"
  timeout 180 "$BUILD/bin/enclave-engine" bench --model "$f" --backend cuda --pp 512 --tg 128 --reps 3 --json \
      >"$OUT/bench_$name.json" 2>>"$OUT/bench.log"
  local rc=$?
  python3 - "$OUT/bench_$name.json" "$name" "$rc" <<'EOF' | tee -a "$SUMMARY"
import json, sys
path, name, rc = sys.argv[1:4]
try:
    j = json.load(open(path))
except Exception as e:
    print("| %s bench | FAILED rc %s (%s) |" % (name, rc, e)); sys.exit()
for r in j["results"]:
    extra = " (%.0f GB/s of weights)" % r["bandwidth_gbs"] if "bandwidth_gbs" in r else ""
    print("| %s cuda %s | %.1f ± %.1f t/s%s |" % (name, r["test"], r["avg_ts"], r["stddev_ts"], extra))
EOF
  cat "$OUT/bench_$name.json" >>"$OUT/bench.log"; rm -f "$OUT/bench_$name.json"
}

bench_model smol_q4_1 smol q4_1 32
if [ $DO_8B -eq 1 ]; then
  if [ "$(left)" -gt 150 ]; then bench_model 8b_q4_0 8b q4_0 8; else note "| 8b_q4_0 | skipped (time) |"; fi
fi

stage "results"
echo
cat "$SUMMARY"
exit $TEST_RC
