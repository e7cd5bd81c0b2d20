#!/usr/bin/env bash
# The batch/prefill numbers of kernels/cuda/NOTES.md (sessions 5 and 6), run ON the GPU machine from the repository
# root: 256 sequences x 128 new tokens (bench_cuda_batch) and pp512 (enclave-engine bench) on 8b q4_0 and 8b f16,
# each change's A/B switch in the same run, the per-op profile (ENCLAVE_CUDA_PROFILE) of a decode step and of pp512,
# and the f16 GEMM shapes of one layer (bench_gemm_shapes).
#   usage: BIN=dir-with-bench_cuda_batch-enclave-engine-bench_gemm_shapes MODELS=dir-with-8b_q4_0.gguf-and-8b_f16.gguf \
#          tests/kernels/cuda/batch_bench.sh [--no-ab] [--no-profile]
# Models: tools/gpu/.synth/synth_gguf.py OUT 8b q4_0|f16 (write them to /dev/shm: the f16 file is 15 GB).
set -uo pipefail
BIN=${BIN:-build-gpu/bin}
MODELS=${MODELS:-/dev/shm/m}
Q=$MODELS/8b_q4_0.gguf F=$MODELS/8b_f16.gguf
LOG=${OUT:-/tmp}/batch_bench.log
AB=1 PROF=1
for a in "$@"; do
  case "$a" in
    --no-ab) AB=0 ;;
    --no-profile) PROF=0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
bb() {  # model sequences steps VAR=value... -> bench_cuda_batch's JSON line
  local f=$1 n=$2 g=$3; shift 3
  env "$@" timeout 100 "$BIN/bench_cuda_batch" "$f" "$n" 128 "$g" 2>>"$LOG" | tail -1
}
pp() {  # model reps VAR=value... -> pp512 t/s
  local f=$1 r=$2; shift 2
  env "$@" timeout 100 "$BIN/enclave-engine" bench --model "$f" --backend cuda --pp 512 --tg 0 --reps "$r" --json \
      2>>"$LOG" | python3 -c "import json,sys; r=json.load(sys.stdin)['results'][0]; print('%.0f +- %.0f' % (r['avg_ts'], r['stddev_ts']))"
}
echo "== f16 GEMM shapes of one 8b layer at 256 and 512 tokens (bench_gemm_shapes)"
timeout 60 "$BIN/bench_gemm_shapes" 256 512 2>>"$LOG"
if [ $PROF -eq 1 ]; then
  for m in "$F" "$Q"; do
    echo "== profile: 16 decode steps of 256 sequences, $(basename "$m") (the second table is the decode)"
    bb "$m" 256 16 ENCLAVE_CUDA_PROFILE=2 >/dev/null
    awk '/cuda profile: ----/{n++} n>=1' "$LOG" | tail -14
    echo "== profile: pp512 (warm-up + one repetition), $(basename "$m")"
    pp "$m" 1 ENCLAVE_CUDA_PROFILE=1 >/dev/null
    grep "cuda profile" "$LOG" | tail -12
  done
fi
echo "| test | result |"
echo "|---|---|"
echo "| f16 256 x 128, top-k on the device | $(bb "$F" 256 128) |"
echo "| q4_0 256 x 128, top-k on the device | $(bb "$Q" 256 128) |"
echo "| q4_0 pp512 | $(pp "$Q" 3) |"
echo "| f16 pp512 | $(pp "$F" 3) |"
if [ $AB -eq 1 ]; then
  echo "| f16 256 x 128, whole logits copied back (old path) | $(bb "$F" 256 128 ENCLAVE_BENCH_LOGITS=full) |"
  echo "| f16 256 x 128, f16 activations rounded per product | $(bb "$F" 256 128 ENCLAVE_CUDA_F16_REUSE=0) |"
  echo "| q4_0 256 x 128, int8 GEMM | $(bb "$Q" 256 128 ENCLAVE_CUDA_DEQUANT_GEMM=0) |"
  echo "| q4_0 pp512, int8 GEMM | $(pp "$Q" 3 ENCLAVE_CUDA_DEQUANT_GEMM=0) |"
  echo "| f16 pp512, f16 activations rounded per product | $(pp "$F" 3 ENCLAVE_CUDA_F16_REUSE=0) |"
  OLD6="ENCLAVE_CUDA_F16_FUSE=0 ENCLAVE_CUDA_GEMM_PAIR=0"
  echo "| f16 256 x 128, session 5's path (round_to_f16, no GEMM pairs) | $(bb "$F" 256 128 $OLD6) |"
  echo "| f16 pp512, session 5's path | $(pp "$F" 3 $OLD6) |"
  echo "| f16 256 x 128, cuBLASLt timed pick | $(bb "$F" 256 128 ENCLAVE_CUDA_GEMM_TUNE=1) |"
  echo "| f16 pp512, cuBLASLt timed pick | $(pp "$F" 3 ENCLAVE_CUDA_GEMM_TUNE=1) |"
  echo "| q4_0 256 x 128, f16 copies of the weights kept | $(bb "$Q" 256 128 ENCLAVE_CUDA_F16_CACHE_MIB=20000) |"
  echo "| q4_0 pp512, f16 copies of the weights kept | $(pp "$Q" 3 ENCLAVE_CUDA_F16_CACHE_MIB=20000) |"
  echo "| f16 256 x 128, attention converting K/V once a row (session 5's) | $(bb "$F" 256 128 ENCLAVE_CUDA_ATTN_SHARE=0) |"
  echo "| f16 pp512, attention converting K/V once for 4 rows in prefill too | $(pp "$F" 3 ENCLAVE_CUDA_ATTN_SHARE=2) |"
fi
