#!/usr/bin/env bash
# Builds normrt and runs the whole test suite with ctest (2 jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir=${BUILD_DIR:-build}
cd "$build_dir"
ctest -j "${JOBS:-2}" --output-on-failure
