#!/usr/bin/env bash
# The main job: build normrt, then benchmark the bundled tiny BERT-style encoder
# (models/tiny_bert, batch 1, sequence 128) at 1 and 2 threads, printing one latency table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir=${BUILD_DIR:-build}
model=models/tiny_bert/model.onnx
echo "normrt bench $model --dim batch=1 --dim seq=128 (threads 1 and 2)"
"$build_dir/normrt" bench "$model" --dim batch=1 --dim seq=128 --threads 1,2 --seconds 3 --markdown
