#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then a short fuzzing
# run, from one clang build (BUILD_DIR/asan: every target sanitized, the fuzz targets linked with
# libFuzzer).   scripts/sanitize_test.sh [BUILD_DIR] [FUZZ_SECONDS (default 60; 0 skips fuzzing)]
# Left out of the sanitized ctest run: the nested builds (NEON under qemu, this script itself), the
# install/.deb test and the Python test (ctypes would need the ASan runtime preloaded into python).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-${BUILD_DIR:-build}}
fuzz_seconds=${2:-60}
out="$base/asan"
log="$out.log"
if ! { CC=clang CXX=clang++ cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMRT_SANITIZE=address,undefined \
         -DNORMRT_FUZZ=ON -DNORMRT_BUILD_PERF=OFF &&
       cmake --build "$out" -j "${JOBS:-$(nproc)}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "sanitize: the clang ASan/UBSan build failed; full log in $log" >&2
  exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
echo "sanitize: the test suite under ASan + UBSan (clang)"
(cd "$out" && ctest -j "${JOBS:-2}" --output-on-failure -E '^(neon_kernels|package|python)$')
if [ "$fuzz_seconds" != 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds" "$out"
fi
