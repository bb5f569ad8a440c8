#!/usr/bin/env bash
# Checks normrt against ONNX Runtime's outputs for every model folder in CASES_DIR (models/ort_cases:
# ops without ONNX conformance data; models/families: exported models end to end):
set -uo pipefail
cli=$1 cases=$2
passed=0 failed=0
for dir in "$cases"/*/; do
  name=$(basename "$dir")
  if out=$("$cli" run "$dir/model.onnx" --data "$dir/data_0" --rtol 1e-4 --atol 1e-5 2>&1); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    echo "$out"
  fi
done
echo "$(basename "$cases"): $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
