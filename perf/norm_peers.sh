#!/usr/bin/env bash
# Normalization benchmarks against every peer, in one run, at 1 and 2 threads:
#   1. kernel level: memcpy of the same bytes and oneDNN 2.6 layer normalization (normrt_norm_bench);
#   2. model level: ONNX Runtime 1.30 (onnxruntime-node) on single-op models (per-call overhead
#      measured on a tiny model and subtracted) and on chain models, and PyTorch's group_norm.
#   [ROUNDS=N] perf/norm_peers.sh [SECONDS_PER_MEASUREMENT]   (model level: N alternating rounds, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
perf/peers/prepare.sh --peers --models
build=${BUILD_DIR:-build}
seconds=${1:-1}
"$build/perf/make_norm_models" "$build/perf/norm_models" >/dev/null
echo "## Kernel level: normrt vs memcpy of the same bytes and oneDNN (GB/s = bytes read + written)"
"$build/perf/normrt_norm_bench" --min-seconds "$seconds"
echo
echo "## Model level: normrt vs ONNX Runtime 1.30 and PyTorch"
/usr/bin/python3 perf/norm_peers.py "$build" "$seconds"
