#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then a short fuzzing
# run, from one clang build (BUILD_DIR/asan: every target sanitized, the fuzz targets linked with
# libFuzzer).   scripts/sanitize_test.sh [BUILD_DIR] [FUZZ_SECONDS (default 60; 0 skips fuzzing)]
# Left out of the sanitized ctest run: the NEON cross build (another architecture) and the
# install/.deb test (packaging, not code); the Python test runs after it with the ASan runtime
# preloaded into python (leak checks off there: they would report the interpreter's own).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-${BUILD_DIR:-build}}
fuzz_seconds=${2:-60}
mkdir -p "$base"
out="$(cd "$base" && pwd)/asan"
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
echo "sanitize: the Python package under ASan + UBSan"
(cd tests/python && NORMRT_TEST_MODELS="$out/tests/models" NORMRT_LIBRARY="$out/libnormrt.so" \
   NORMRT_SOURCE_DIR="$PWD/../.." PYTHONPATH="$PWD/../../python" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
   LD_PRELOAD="$(clang -print-file-name=libclang_rt.asan-x86_64.so)" /usr/bin/python3 -m unittest test_normrt)
if [ "$fuzz_seconds" != 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds" "$out"
fi
