#!/usr/bin/env bash
# Cross-builds the kernels and their tests for AArch64 (NEON path) with g++-aarch64-linux-gnu and
# runs them under qemu-aarch64. kernels/ depends on xsimd only, so nothing else is needed.
#   scripts/neon_test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${BUILD_DIR:-build}}/neon
mkdir -p "$out/include"
# xsimd and doctest are header-only; expose just them (not the host's /usr/include) to the cross compiler.
ln -sfn /usr/include/xsimd "$out/include/xsimd"
ln -sfn /usr/include/doctest "$out/include/doctest"
cxx=aarch64-linux-gnu-g++
launcher=$(command -v ccache || true)
# Every portable and NEON kernel source, and the kernel test suites, by name pattern.
srcs=(tests/main.cpp tests/test_*kernels.cpp)
for s in kernels/*.cpp; do
  case "$s" in
    *_avx2.cpp | *_avx512.cpp) ;;
    *) srcs+=("$s") ;;
  esac
done
objs=() pids=()
for s in "${srcs[@]}"; do
  o="$out/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find kernels tests -name '*.h' -newer "$o" -print -quit)" ]; then
    rm -f "$o"
    $launcher $cxx -O2 -std=c++20 -I. -isystem "$out/include" -c "$s" -o "$o" &
    pids+=($!)
  fi
  objs+=("$o")
done
for p in "${pids[@]}"; do wait "$p"; done
$cxx -static -o "$out/kernel_tests" "${objs[@]}"
echo "neon: running kernel tests under qemu-aarch64"
NORMRT_ISA= qemu-aarch64 "$out/kernel_tests"
