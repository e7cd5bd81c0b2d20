#!/usr/bin/env bash
# Builds the llama.cpp oracle that produces tests/golden/ (see tools/oracle/README.md).
#
#   tools/oracle/build_llama_cpp.sh            # idempotent: skips what is already done
#   ORACLE_DIR=/elsewhere tools/oracle/build_llama_cpp.sh
#   FORCE=1 tools/oracle/build_llama_cpp.sh    # redo every step
#
# Steps (each guarded by a stamp file in $ORACLE_DIR/stamps):
#   1. the llama-cpp-python sdist (pinned version) into $ORACLE_DIR/dl: a copy already there is used,
#      then $SDIST_CACHE (default /tmp/dl/sdist), otherwise `pip download --no-binary :all:`;
#   2. unpack into $ORACLE_DIR/src;
#   3. cmake-build its vendor/llama.cpp (Release, CPU only, GGML_NATIVE, shared libs) into
#      $ORACLE_DIR/llama.cpp-build: targets libllama.so (+ libggml*) and llama-bench, llama-tokenize;
#   4. a venv $ORACLE_DIR/venv with numpy, gguf and llama_cpp's other pure-Python dependencies;
#      the sdist's llama_cpp package is used through PYTHONPATH, its native library through
#      LLAMA_CPP_LIB_PATH (read by llama_cpp/llama_cpp.py, which loads "$LLAMA_CPP_LIB_PATH/libllama.so").
#   5. writes $ORACLE_DIR/env.sh to source before running tools/oracle/make_goldens.py.
#
# Needs (Debian 12): cmake ninja-build g++ python3-venv (ccache optional, used if present).
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORACLE_DIR="${ORACLE_DIR:-$ROOT/build/oracle}"
SDIST_CACHE="${SDIST_CACHE:-/tmp/dl/sdist}"
JOBS="${JOBS:-2}"
PYTHON="${PYTHON:-python3}"
FORCE="${FORCE:-0}"

SDIST_NAME="llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}.tar.gz"
DL_DIR="$ORACLE_DIR/dl"
SRC_DIR="$ORACLE_DIR/src/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}"
LLAMA_SRC="$SRC_DIR/vendor/llama.cpp"
BUILD_DIR="$ORACLE_DIR/llama.cpp-build"
VENV="$ORACLE_DIR/venv"
STAMPS="$ORACLE_DIR/stamps"

log() { printf '[oracle] %s\n' "$*" >&2; }
# stamps carry the pinned version, so bumping LLAMA_CPP_PYTHON_VERSION redoes every step
stamp_ok() { [[ "$FORCE" != 1 && -f "$STAMPS/$1-$LLAMA_CPP_PYTHON_VERSION" ]]; }
stamp_set() { mkdir -p "$STAMPS"; date -u +%FT%TZ > "$STAMPS/$1-$LLAMA_CPP_PYTHON_VERSION"; }

need() {
    local missing=()
    for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    if ((${#missing[@]})); then
        log "missing tools: ${missing[*]} (Debian: apt-get install cmake ninja-build g++ python3-venv)"
        exit 1
    fi
}
need cmake g++ "$PYTHON" tar
mkdir -p "$ORACLE_DIR" "$DL_DIR"
t_start=$SECONDS

# 1. sdist ------------------------------------------------------------------------------------------
if [[ ! -s "$DL_DIR/$SDIST_NAME" ]]; then
    if [[ -s "$SDIST_CACHE/$SDIST_NAME" ]]; then
        log "using cached sdist $SDIST_CACHE/$SDIST_NAME"
        cp "$SDIST_CACHE/$SDIST_NAME" "$DL_DIR/$SDIST_NAME.part"
        mv "$DL_DIR/$SDIST_NAME.part" "$DL_DIR/$SDIST_NAME"
    else
        log "downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist from PyPI"
        "$PYTHON" -m pip download --no-deps --no-binary :all: --dest "$DL_DIR" \
            "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    fi
fi
[[ -s "$DL_DIR/$SDIST_NAME" ]] || { log "no sdist at $DL_DIR/$SDIST_NAME"; exit 1; }

# 2. unpack -----------------------------------------------------------------------------------------
if ! stamp_ok unpacked || [[ ! -f "$LLAMA_SRC/CMakeLists.txt" ]]; then
    log "unpacking $SDIST_NAME"
    rm -rf "$SRC_DIR"
    mkdir -p "$ORACLE_DIR/src"
    tar -xzf "$DL_DIR/$SDIST_NAME" -C "$ORACLE_DIR/src"
    stamp_set unpacked
fi

# the vendored llama.cpp commit (the sdist carries llama.cpp's .git; fall back to the CHANGELOG)
LLAMA_COMMIT="unknown"
if command -v git >/dev/null 2>&1 && [[ -e "$LLAMA_SRC/.git" ]]; then
    LLAMA_COMMIT="$(git -C "$LLAMA_SRC" rev-parse HEAD 2>/dev/null || echo unknown)"
fi
if [[ "$LLAMA_COMMIT" == unknown ]]; then
    LLAMA_COMMIT="$(grep -m1 -o 'llama.cpp@[0-9a-f]*' "$SRC_DIR/CHANGELOG.md" | cut -d@ -f2 || echo unknown)"
fi

# 3. build llama.cpp --------------------------------------------------------------------------------
if ! stamp_ok built || [[ ! -f "$BUILD_DIR/bin/libllama.so" || ! -x "$BUILD_DIR/bin/llama-bench" ]]; then
    generator=()
    command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
    launcher=()
    if command -v ccache >/dev/null 2>&1; then
        launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
    # a cache from another generator would make cmake fail
    if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}\$" "$BUILD_DIR/CMakeCache.txt"; then
        rm -rf "$BUILD_DIR"
    fi
    log "configuring llama.cpp ($LLAMA_COMMIT) in $BUILD_DIR"
    t_build=$SECONDS
    cmake -S "$LLAMA_SRC" -B "$BUILD_DIR" "${generator[@]}" "${launcher[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON \
        -DGGML_NATIVE=ON \
        -DGGML_CPU=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENCL=OFF \
        -DGGML_BACKEND_DL=OFF -DGGML_RPC=OFF \
        -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_COMMIT="$LLAMA_COMMIT"
    # only what the oracle needs: the libraries, llama-bench, llama-tokenize (for spot checks)
    log "building llama, llama-bench, llama-tokenize with -j$JOBS"
    cmake --build "$BUILD_DIR" --config Release -j "$JOBS" --target llama llama-bench llama-tokenize
    log "llama.cpp built in $((SECONDS - t_build)) s"
    stamp_set built
fi

# 4. venv -------------------------------------------------------------------------------------------
if ! stamp_ok venv || [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # llama_cpp's runtime dependencies (pyproject.toml of the sdist) + gguf for the vocab writer
    "$VENV/bin/python" -m pip install --quiet numpy typing-extensions diskcache jinja2 gguf
    stamp_set venv
fi

# 5. environment file + smoke test ------------------------------------------------------------------
cat > "$ORACLE_DIR/env.sh" <<EOF
# source me: the llama.cpp oracle environment (written by tools/oracle/build_llama_cpp.sh)
export ORACLE_DIR="$ORACLE_DIR"
export LLAMA_CPP_LIB_PATH="$BUILD_DIR/bin"
export PYTHONPATH="$SRC_DIR\${PYTHONPATH:+:\$PYTHONPATH}"
export LLAMA_CPP_COMMIT="$LLAMA_COMMIT"
export LLAMA_CPP_PYTHON_VERSION="$LLAMA_CPP_PYTHON_VERSION"
export PATH="$VENV/bin:$BUILD_DIR/bin:\$PATH"
EOF

LLAMA_CPP_LIB_PATH="$BUILD_DIR/bin" PYTHONPATH="$SRC_DIR" "$VENV/bin/python" - <<'EOF'
import llama_cpp, gguf, numpy
print("[oracle] llama_cpp", llama_cpp.__version__, "imports; system info:",
      llama_cpp.llama_print_system_info().decode().strip()[:200])
EOF

cat <<EOF
llama.cpp oracle ready ($((SECONDS - t_start)) s this run)
  llama-cpp-python : $LLAMA_CPP_PYTHON_VERSION ($SRC_DIR)
  llama.cpp commit : $LLAMA_COMMIT
  libllama.so      : $BUILD_DIR/bin/libllama.so
  llama-bench      : $BUILD_DIR/bin/llama-bench
  venv python      : $VENV/bin/python
  environment      : source $ORACLE_DIR/env.sh
  goldens          : source $ORACLE_DIR/env.sh && python tools/oracle/make_goldens.py --model /path/to/SmolLM2-135M-Instruct.Q4_1.gguf
EOF
