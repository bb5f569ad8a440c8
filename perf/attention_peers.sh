#!/usr/bin/env bash
# Attention benchmark, in one run at 1 and 2 threads, for sequence 128, 512 and 2048 (batch 1,
# 12 heads, head size 64) and the UNet block's 8 heads of size 40 at sequence 4096: normrt's fused
# Attention kernel against the unfused MatMul-Softmax-MatMul path (under normrt and under ONNX
# Runtime 1.30), and ONNX Runtime's own Attention op, with each process's peak resident memory.
#   perf/attention_peers.sh [SECONDS_PER_MEASUREMENT]
set -euo pipefail
cd "$(dirname "$0")/.."
perf/peers/prepare.sh --peers
build=${BUILD_DIR:-build}
seconds=${1:-2}
"$build/perf/make_attention_models" "$build/perf/attention_models" >/dev/null
/usr/bin/python3 perf/attention_peers.py "$build" "$seconds"
