#!/usr/bin/env bash
# What every peer comparison under perf/ needs before it times anything: the packages
# (scripts/setup.sh with the given flags, e.g. --peers --models), normrt built (scripts/build.sh,
# BUILD_DIR honoured) and ONNX Runtime for Node (install_ort.sh).   perf/peers/prepare.sh [SETUP_FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh "$@"
scripts/build.sh
perf/peers/install_ort.sh
