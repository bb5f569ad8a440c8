#!/usr/bin/env bash
# Tests the normrt command: every form, its exit statuses (0 ok, 1 outputs differ, 2 error) and
# that errors are one line on stderr.   cli_test.sh NORMRT TINY_BERT_DIR TEST_MODELS_DIR
set -u
normrt=$1 bert=$2 models=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect STATUS "description" command...: runs the command, checks its exit status.
expect() {
  local want=$1 what=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  stdout: /' "$tmp/out" | head -20
    sed 's/^/  stderr: /' "$tmp/err" | head -20
  fi
}
# contains FILE PATTERN "description"
contains() {
  if grep -qE -- "$2" "$tmp/$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $3: $1 lacks /$2/"; sed 's/^/  /' "$tmp/$1" | head -20; fi
}

expect 0 "info" "$normrt" info "$bert/model.onnx"
contains out "input_ids +int64\[batch,seq\]" "info lists symbolic inputs"
contains out "LayerNormalization +9" "info op histogram"
contains out "ai.onnx=17" "info opsets"
contains out "unsupported ops: none" "info unsupported ops"
contains out "memory plan: [0-9]+ intermediate values in [0-9]+ buffers?, [1-9][0-9]* nodes computed over their input" "info memory plan"

expect 0 "info --json" "$normrt" info "$bert/model.onnx" --json
contains out '"inputs":\[\{"name":"input_ids","type":"int64","shape":\["batch","seq"\]\}' "info json inputs"
contains out '"unsupported_ops":\[\]' "info json unsupported"
contains out '"memory_plan":\{"buffers":[0-9]+,"planned_values":[0-9]+,"in_place_nodes":[1-9]' "info json memory plan"
if command -v python3 >/dev/null; then
  cp "$tmp/out" "$tmp/info.json"
  expect 0 "info --json is valid JSON" python3 -c "import json; json.load(open('$tmp/info.json'))"
fi

expect 0 "info on a model with an unsupported op" "$normrt" info "$models/unsupported_op.onnx"
contains out "NoSuchOp +\(no kernel \(opset 17\)\)" "info names the unsupported op"

expect 0 "run --data matching outputs" "$normrt" run "$bert/model.onnx" --data "$bert/data_0" --rtol 1e-4 --atol 1e-5
contains out "last_hidden_state +float\[2,8,64\] +max_abs_err=.* ok" "run prints errors per output"

expect 0 "run --input and --save" "$normrt" run "$bert/model.onnx" --input "input_ids=$bert/data_1/input_0.pb" \
  --input "attention_mask=$bert/data_1/input_1.pb" --save "$tmp/saved"
[ -f "$tmp/saved/output_0.pb" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: --save wrote nothing"; }
expect 0 "run compares saved outputs" "$normrt" run "$bert/model.onnx" --input "input_ids=$bert/data_1/input_0.pb" \
  --input "attention_mask=$bert/data_1/input_1.pb" --data "$tmp/saved" --rtol 0 --atol 0

# Inputs of data set 1 against the expected outputs of data set 0: outputs differ -> 1.
mkdir -p "$tmp/mixed"
cp "$bert/data_0/input_0.pb" "$bert/data_0/input_1.pb" "$tmp/mixed/"
cp "$tmp/saved/output_0.pb" "$tmp/mixed/output_0.pb"
expect 1 "run with mismatching expected outputs" "$normrt" run "$bert/model.onnx" --data "$tmp/mixed"
contains out "MISMATCH: shape" "run names the mismatch"
expect 1 "run with values outside tolerance" "$normrt" run "$bert/model.onnx" --data "$bert/data_0" --rtol 0 --atol 0

expect 2 "run on a missing model" "$normrt" run "$tmp/none.onnx"
contains err "^normrt: error: .*none.onnx" "error names the model"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: error is not one line"; cat "$tmp/err"; }
expect 2 "run with a missing input" "$normrt" run "$bert/model.onnx" --input "input_ids=$bert/data_0/input_0.pb"
contains err "input 'attention_mask' is missing" "missing input named"
expect 2 "run on an unsupported op" "$normrt" run "$models/unsupported_op.onnx"
contains err "node 'mystery' \(NoSuchOp\).*opset 17" "unsupported op error names node, op and opset"
expect 2 "run with a wrong input type" "$normrt" run "$bert/model.onnx" --input "input_ids=$tmp/saved/output_0.pb" \
  --input "attention_mask=$bert/data_0/input_1.pb"
contains err "input 'input_ids' has element type float, the model expects int64" "wrong type named"
printf 'garbage' > "$tmp/bad.onnx"
expect 2 "run on garbage" "$normrt" run "$tmp/bad.onnx"
expect 2 "unknown command" "$normrt" frobnicate
expect 2 "unknown option" "$normrt" info "$bert/model.onnx" --colour
expect 2 "no arguments" "$normrt"

expect 0 "bench table" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=16 --threads 1 --iterations 5
contains out "^model +inputs +threads +isa +runs +median ms +p90 ms +min ms +max ms +runs/s +peak MB$" "bench table header"
contains out "^tiny_bert/model.onnx +input_ids:int64\[1,16\] attention_mask:int64\[1,16\] +1 +[a-z0-9]+ +5 " "bench table row"
[ -s "$tmp/err" ] && { failed=$((failed + 1)); echo "FAIL: bench writes nothing to stderr when it is not a terminal"; } || passed=$((passed + 1))
expect 0 "bench several shapes and thread counts" "$normrt" bench "$bert/model.onnx" --dim batch=1,2 --dim seq=8,16 --threads 1,2 --iterations 2 --markdown
contains out "^\| model \| inputs \| threads \| isa \| runs \| median ms \| p90 ms \| min ms \| max ms \| runs/s \| peak MB \|" "bench markdown header"
rows=$(grep -c "^| tiny_bert/model.onnx |" "$tmp/out" || true)
[ "$rows" = 8 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: bench gives 2 batch x 2 seq x 2 threads = 8 rows, got $rows"; }
contains out "^\| tiny_bert/model.onnx \| input_ids:int64\[2,16\] attention_mask:int64\[2,16\] \| 2 \|" "bench row for batch 2, seq 16, 2 threads"
expect 0 "bench two models" "$normrt" bench "$bert/model.onnx" "$models/layernorm_seed.onnx" --dim batch=1 --dim seq=8 --iterations 2 --json
contains out '"model":"[^"]*tiny_bert/model.onnx"' "bench json row of the first model"
contains out '"model":"[^"]*layernorm_seed.onnx"' "bench json row of the second model"
expect 0 "bench --profile" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=8 --iterations 3 --profile "$tmp/trace.json"
contains out "^\| op type \| calls \| total ms \| share \|" "bench --profile prints the op-type table"
contains out "^\| Attention \| 12 \|" "bench --profile counts the timed runs' fused attention (4 layers x 3 runs)"
contains out "^\| node \| calls \| total ms \| share \|" "bench --profile prints the node table"
grep -q '"traceEvents"' "$tmp/trace.json" && grep -q '"ph":"X"' "$tmp/trace.json" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: bench --profile writes a Chrome trace"; }
expect 0 "bench --check against expected outputs" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=8 --iterations 2 --check "$bert/data_0"
contains err "outputs match" "bench --check reports the match"
mkdir -p "$tmp/wrong" && cp "$bert/data_0/input_"*.pb "$tmp/wrong/" && cp "$bert/data_1/output_0.pb" "$tmp/wrong/output_0.pb"
expect 1 "bench --check with other outputs fails" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=8 --iterations 2 --check "$tmp/wrong"
contains err "differs from" "bench --check names the mismatch"
expect 0 "bench --json" "$normrt" bench "$bert/model.onnx" --dim batch=2 --dim seq=8 --threads 2 --seconds 0.2 --json
for key in median_ms p90_ms min_ms threads iterations; do contains out "\"$key\":" "bench json has $key"; done
contains out '"threads":2' "bench json threads"
expect 2 "bench without a free dim" "$normrt" bench "$bert/model.onnx" --dim batch=1 --iterations 1
contains err "free dim 'seq'; give it with --dim seq=VALUE" "bench names the free dim"
expect 2 "bench with both --iterations and --seconds" "$normrt" bench "$bert/model.onnx" --iterations 2 --seconds 1
expect 2 "bench with a bad ISA" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=4 --isa mmx
expect 0 "bench forced scalar ISA" "$normrt" bench "$bert/model.onnx" --dim batch=1 --dim seq=4 --isa scalar --iterations 2
contains out " scalar " "bench reports the forced ISA"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
