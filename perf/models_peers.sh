#!/usr/bin/env bash
# Full-size Transformer families (BERT-base, GPT-2 small, ViT-B/16, wav2vec2-base-sized, UNet block)
# under normrt and ONNX Runtime 1.30 in one run, at 1 and 2 threads; the models are generated on
# demand into build/perf/full_models (never committed).   perf/models_peers.sh [SECONDS] [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
perf/peers/prepare.sh --peers --models
build=${BUILD_DIR:-build}
seconds=${1:-2}
shift || true
/usr/bin/python3 perf/models_peers.py "$build" "$seconds" "$@"
