#!/usr/bin/env bash
# docs/OPS.md, and the README between its ops markers, must hold exactly the table
# `normrt ops --markdown` prints, so the published op list cannot drift from the registry.
#   tests/ops_doc_test.sh NORMRT_CLI DOCS_OPS_MD [README_MD]
set -euo pipefail
cli=$1 doc=$2
want=$("$cli" ops --markdown)
have=$(sed -n '/^| domain | op | opsets |$/,$p' "$doc")
if [ "$want" != "$have" ]; then
  echo "docs/OPS.md is out of date; regenerate its table with: normrt ops --markdown"
  diff <(echo "$want") <(echo "$have") || true
  exit 1
fi
echo "docs/OPS.md matches the registry ($(echo "$want" | tail -n +3 | wc -l) ops)"
if [ $# -ge 3 ]; then
  readme=$(sed -n '/^<!-- ops:begin -->$/,/^<!-- ops:end -->$/p' "$3" | sed '1d;$d')
  if [ "$want" != "$readme" ]; then
    echo "README.md's op table is out of date; replace the lines between its ops markers with: normrt ops --markdown"
    diff <(echo "$want") <(echo "$readme") || true
    exit 1
  fi
  echo "README.md's op table matches the registry"
fi
