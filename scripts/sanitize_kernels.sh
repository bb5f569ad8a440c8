#!/usr/bin/env bash
# Builds the kernel test suite with AddressSanitizer + UndefinedBehaviorSanitizer (every ISA path
# this CPU has) and runs it. It found an initializer_list misuse that read past a one-element list
# in the SIMD statistics; keep it in the test suite.   scripts/sanitize_kernels.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${BUILD_DIR:-build}}/sanitize
mkdir -p "$out"
cxx=${CXX:-g++}
launcher=$(command -v ccache || true)
flags=(-O1 -g -std=c++20 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I.)
# The kernel sources of this machine's architecture and the kernel test suites, by name pattern
# (kernels/<family>_<isa>.cpp get their ISA's flags), so new families are picked up.
avx2_flags="-mavx2 -mfma"
avx512_flags="-mavx512f -mavx512bw -mavx512dq -mavx512cd -mavx512vl -mavx2 -mfma"
srcs=(tests/main.cpp tests/test_*kernels.cpp)
for s in kernels/*.cpp; do
  case "$(uname -m):$s" in
    x86_64:*_neon.cpp | aarch64:*_avx2.cpp | aarch64:*_avx512.cpp) ;;
    *) srcs+=("$s") ;;
  esac
done
isa_flags_of() {
  case "$1" in
    *_avx2.cpp) echo "$avx2_flags" ;;
    *_avx512.cpp) echo "$avx512_flags" ;;
  esac
}
objs=() pids=()
for s in "${srcs[@]}"; do
  o="$out/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find kernels tests -name '*.h' -newer "$o" -print -quit)" ]; then
    rm -f "$o"
    # shellcheck disable=SC2086
    $launcher $cxx "${flags[@]}" $(isa_flags_of "$s") -c "$s" -o "$o" &
    pids+=($!)
  fi
  objs+=("$o")
done
for p in "${pids[@]}"; do wait "$p"; done
$cxx -fsanitize=address,undefined -o "$out/kernel_tests" "${objs[@]}"
echo "sanitizers: running kernel tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/kernel_tests"
