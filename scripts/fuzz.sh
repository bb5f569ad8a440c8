#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/) for SECONDS (default 60), seeded with the ONNX conformance
# models (fuzz_model_load) and their input/output tensors (fuzz_tensor_proto), read in place from
# ../shared/onnx-node-tests. New crashers land in BUILD/fuzz-artifacts; copy them into
# tests/fuzz_regressions/ with the fix. Exits 1 if a target crashed.
#   scripts/fuzz.sh [SECONDS] [FUZZ_BUILD_DIR (default build/asan, made by scripts/sanitize_test.sh)]
# FUZZ_SEED (default 1, what CI uses) picks libFuzzer's seed: another value explores other inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
dir=${2:-${BUILD_DIR:-build}/asan}
if [ ! -x "$dir/fuzz/fuzz_model_load" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMRT_SANITIZE=address,undefined \
    -DNORMRT_FUZZ=ON -DNORMRT_BUILD_PERF=OFF >"$dir.log" 2>&1
  cmake --build "$dir" -j "${JOBS:-$(nproc)}" --target fuzz_model_load fuzz_tensor_proto >>"$dir.log" 2>&1
fi
node_tests=../shared/onnx-node-tests/node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/seed_model" "$work/seed_tensor" "$work/corpus_model" "$work/corpus_tensor" "$dir/../fuzz-artifacts"
if [ -d "$node_tests" ]; then
  # A sample of the conformance cases (every 4th), small enough to load quickly.
  i=0
  for m in "$node_tests"/*/model.onnx; do
    i=$((i + 1)); [ $((i % 4)) -eq 0 ] || continue
    case_dir=$(dirname "$m"); name=$(basename "$case_dir")
    cp "$m" "$work/seed_model/$name.onnx"
    for t in "$case_dir"/test_data_set_0/*.pb; do [ -f "$t" ] && cp "$t" "$work/seed_tensor/${name}_$(basename "$t")"; done
  done
else
  echo "fuzz: $node_tests not found; fuzzing from an empty corpus" >&2
fi
echo "fuzz: $(ls "$work/seed_model" | wc -l) seed models, $(ls "$work/seed_tensor" | wc -l) seed tensors, ${seconds}s per target"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for target in model tensor; do
  bin="$dir/fuzz/fuzz_${target}_load"; [ "$target" = tensor ] && bin="$dir/fuzz/fuzz_tensor_proto"
  # A fixed seed, so a run explores the same inputs first every time (CI results do not depend on luck);
  # FUZZ_SEED changes it for runs by hand.
  if ! "$bin" "$work/corpus_$target" "$work/seed_$target" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
       -max_len=262144 -artifact_prefix="$dir/../fuzz-artifacts/${target}_" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    status=1
    echo "fuzz: $(basename "$bin") FOUND A CRASH:" >&2
    grep -E "ERROR|SUMMARY|artifact" "$work/$target.log" | head -20 >&2
  fi
  echo "fuzz: $(basename "$bin"): $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | tail -1 | awk '{print $2}') executions," \
       "$(grep -E '^stat::peak_rss_mb' "$work/$target.log" | tail -1 | awk '{print $2}') MB peak, $(ls "$work/corpus_$target" | wc -l) corpus entries"
done
exit $status
