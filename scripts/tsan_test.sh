#!/usr/bin/env bash
# The concurrency tests under ThreadSanitizer (clang, BUILD_DIR/tsan): 8 threads on one session
# (tests/stress.cpp), a run cancelled from another thread, logging, and the C++ suite's concurrent
# runs. Sessions run with one intra-op thread here: oneTBB's scheduler (libtbb) is not
# instrumented, so its hand-offs show as false races (measured: a report inside
# tbb::blocked_range splitting); what is checked is normrt's own sharing between caller threads
# (session pool, plans, packed weights, profile, logging, caches). Intra-op parallel kernels are
# checked instead by the bitwise thread-count tests.   scripts/tsan_test.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-${BUILD_DIR:-build}}
seconds=${2:-10}
out="$base/tsan"
if ! { CC=clang CXX=clang++ cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMRT_SANITIZE=thread \
         -DNORMRT_BUILD_PERF=OFF &&
       cmake --build "$out" -j "${JOBS:-$(nproc)}" --target normrt_stress normrt_tests normrt_c_api_tests normrt_cpp_api_tests make_test_models; } \
     >"$out.log" 2>&1; then
  tail -n 40 "$out.log" >&2
  echo "tsan: build failed; full log in $out.log" >&2
  exit 1
fi
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export NORMRT_TEST_MODELS="$out/tests/models"
"$out/tests/make_test_models" "$NORMRT_TEST_MODELS" >/dev/null
echo "tsan: stress (8 threads, one session, ${seconds}s)"
NORMRT_STRESS_THREADS=1 "$out/tests/normrt_stress" --seconds "$seconds"
echo "tsan: caller threads in the C API (cancel from another thread, logging) and C++ suites"
"$out/tests/normrt_c_api_tests" -tc="*cancel*,*log callback*,*bound*" >/dev/null
"$out/tests/normrt_cpp_api_tests" >/dev/null
echo "tsan: no data races reported"
