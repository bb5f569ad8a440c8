#!/usr/bin/env bash
# A long load run (not part of the test suite): one session of the bundled tiny BERT in a loop for
# MINUTES (default 10), a line per 30 s with median latency and resident memory; exits 1 on latency
# drift (> 1.3x) or memory growth (> 8 MB).   scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
"${BUILD_DIR:-build}/tests/normrt_stress" --soak "${1:-10}"
