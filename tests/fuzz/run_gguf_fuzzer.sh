#!/usr/bin/env bash
# Builds the GGUF libFuzzer target with clang and runs it for a bounded time.
#
#   tests/fuzz/run_gguf_fuzzer.sh [seconds]        (default 60)
#
# Environment:
#   BUILD_DIR  build directory for the clang build (default: build-fuzz at the repository root)
#   FUZZER     path of an already built gguf_fuzzer: skips configuring and building
#   JOBS       build parallelism (default 2)
#
# Needs clang and libFuzzer (Debian: apt-get install clang libclang-rt-14-dev). The committed seed corpus
# (tests/fuzz/corpus/gguf) is copied to $BUILD_DIR/gguf-corpus, where the fuzzer adds what it finds, so
# the committed corpus only changes by hand. A crash, leak, sanitizer report or uncaught exception stops
# the run and is saved to $BUILD_DIR/gguf-findings/; then:
#   1. reproduce:  $FUZZER <finding>
#   2. fix the reader, and copy the finding into tests/fuzz/corpus/gguf/ (keep its crash-<sha1> name):
#      tst_gguf_corpus_replay replays it in every build from then on;
#   3. rerun this script until it ends with "Done N runs" and no finding.
# The committed seeds are rewritten with: build/bin/make_gguf_corpus tests/fuzz/corpus/gguf
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-2}

fuzzer=${FUZZER:-}
if [[ -z $fuzzer ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DENCLAVE_FUZZ=ON -DENCLAVE_CUDA=OFF -DENCLAVE_SERVER=OFF -DENCLAVE_CONSOLE=OFF
  cmake --build "$build" --target gguf_fuzzer -j"$jobs"
  fuzzer=$build/bin/gguf_fuzzer
fi

work=$build/gguf-corpus
findings=$build/gguf-findings
mkdir -p "$work" "$findings"
cp -n "$root"/tests/fuzz/corpus/gguf/* "$work"/

# -max_len: big enough for every seed and for tables with many entries; -timeout: a hang is a finding.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$fuzzer" "$work" \
  -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$findings/" -print_final_stats=1
