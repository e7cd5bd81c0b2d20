#!/usr/bin/env bash
# A portable bundle of enclave-engine: the binary plus the shared libraries a GPU server of another
# distribution may lack (cpp-httplib, PCRE2, OpenSSL, zlib, brotli), found with ldd, with RPATH
# $ORIGIN/../lib. glibc, libstdc++ and libgcc_s stay the system's (newer distributions carry newer ones;
# the build machine's glibc 2.36 is the minimum). The CUDA runtime is linked statically; the driver's
# libcuda comes from the target machine.
#   packaging/make_bundle.sh BUILD_DIR OUT_DIR        (BUILD_DIR: a Release build, CUDA on for GPU servers)
set -euo pipefail
BUILD_DIR="$1"; OUT="$2"
command -v patchelf >/dev/null || { echo "make_bundle: needs patchelf (apt-get install patchelf)" >&2; exit 1; }
ENGINE="$BUILD_DIR/bin/enclave-engine"
[ -x "$ENGINE" ] || { echo "make_bundle: $ENGINE not built" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/lib"
cp "$ENGINE" "$OUT/bin/"
ldd "$ENGINE" | awk '/=> \// {print $1, $3}' | while read -r name path; do
  case "$name" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) continue ;;
  esac
  cp -L "$path" "$OUT/lib/$name"
  patchelf --set-rpath '$ORIGIN' "$OUT/lib/$name"
done
patchelf --set-rpath '$ORIGIN/../lib' "$OUT/bin/enclave-engine"
echo "bundle in $OUT:"; ls -la "$OUT/bin" "$OUT/lib"
