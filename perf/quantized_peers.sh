#!/usr/bin/env bash
# Dynamically quantized MatMul (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Mul) under normrt
# and ONNX Runtime 1.30 at 1 and 2 threads, beside normrt's float MatMul of the same weight; the
# models are generated into build/perf/quantized_models.   perf/quantized_peers.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
perf/peers/prepare.sh --peers --models
build=${BUILD_DIR:-build}
seconds=${1:-1}
/usr/bin/python3 perf/quantized_peers.py "$build" "$seconds"
