#!/usr/bin/env bash
# Installs ONNX Runtime 1.30 for Node (onnxruntime-node, CPU provider) into perf/peers/node_modules
# once; --ignore-scripts skips its install script, whose download is unreachable here.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/onnxruntime-node ]; then
  npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30 >/dev/null
fi
