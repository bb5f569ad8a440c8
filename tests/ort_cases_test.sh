#!/usr/bin/env bash
# Checks normrt against ONNX Runtime's outputs for every case in models/ort_cases (the ops ONNX's
# conformance data does not cover):  tests/ort_cases_test.sh NORMRT_CLI CASES_DIR
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
echo "ort_cases: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
