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
declare -A isa_flags=(
  [kernels/activation_avx2.cpp]="-mavx2 -mfma"
  [kernels/activation_avx512.cpp]="-mavx512f -mavx512bw -mavx512dq -mavx512cd -mavx512vl -mavx2 -mfma"
  [kernels/norm_avx2.cpp]="-mavx2 -mfma" [kernels/gemm_avx2.cpp]="-mavx2 -mfma" [kernels/softmax_avx2.cpp]="-mavx2 -mfma"
  [kernels/norm_avx512.cpp]="-mavx512f -mavx512bw -mavx512dq -mavx512cd -mavx512vl -mavx2 -mfma"
  [kernels/gemm_avx512.cpp]="-mavx512f -mavx512bw -mavx512dq -mavx512cd -mavx512vl -mavx2 -mfma"
  [kernels/softmax_avx512.cpp]="-mavx512f -mavx512bw -mavx512dq -mavx512cd -mavx512vl -mavx2 -mfma")
srcs=(kernels/activation.cpp kernels/elementwise.cpp kernels/gemm.cpp kernels/isa.cpp kernels/layout.cpp kernels/norm.cpp kernels/norm_scalar.cpp
      kernels/softmax.cpp tests/main.cpp tests/test_kernels.cpp tests/test_norm_kernels.cpp tests/test_gemm_kernels.cpp
      tests/test_softmax_kernels.cpp tests/test_activation_kernels.cpp)
case "$(uname -m)" in
  x86_64) srcs+=(kernels/activation_avx2.cpp kernels/activation_avx512.cpp kernels/norm_avx2.cpp kernels/norm_avx512.cpp kernels/gemm_avx2.cpp kernels/gemm_avx512.cpp
                 kernels/softmax_avx2.cpp kernels/softmax_avx512.cpp) ;;
  aarch64) srcs+=(kernels/activation_neon.cpp kernels/norm_neon.cpp kernels/gemm_neon.cpp kernels/softmax_neon.cpp) ;;
esac
objs=() pids=()
for s in "${srcs[@]}"; do
  o="$out/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find kernels tests -name '*.h' -newer "$o" -print -quit)" ]; then
    rm -f "$o"
    # shellcheck disable=SC2086
    $launcher $cxx "${flags[@]}" ${isa_flags[$s]:-} -c "$s" -o "$o" &
    pids+=($!)
  fi
  objs+=("$o")
done
for p in "${pids[@]}"; do wait "$p"; done
$cxx -fsanitize=address,undefined -o "$out/kernel_tests" "${objs[@]}"
echo "sanitizers: running kernel tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/kernel_tests"
