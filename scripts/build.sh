#!/usr/bin/env bash
# Installs missing packages (scripts/setup.sh), configures and builds normrt (Release by default).
#   BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${BUILD_DIR:-build}
mkdir -p "$build_dir"
log="$build_dir/build.log"
if ! { cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" &&
       cmake --build "$build_dir" -j "${JOBS:-$(nproc)}"; } >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "build failed; full log in $log" >&2
  exit 1
fi
