#!/usr/bin/env bash
# Packaging: `cmake --install` into a temporary prefix, then a tiny consumer project built against
# it with find_package(normrt CONFIG) and with pkg-config; the installed library exports only the
# C API and carries its SONAME; `cpack -G DEB` makes a .deb whose normrt runs `info` on the bundled
# model (installed with dpkg when run as root, else unpacked).
#   package_test.sh BUILD_DIR SOURCE_DIR SEED_MODEL
set -euo pipefail
build=$1 src=$2 seed=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(find "$tmp/prefix" -name 'libnormrt.so.*.*.*' | head -1)
[ -n "$lib" ] && ok || bad "no versioned libnormrt.so installed"
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
[ "$soname" = libnormrt.so.0 ] && ok || bad "SONAME is '$soname', not libnormrt.so.0"
others=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^normrt_' || true)
[ -z "$others" ] && ok || bad "symbols other than the C API are exported: $(echo "$others" | head -5 | tr '\n' ' ')"
[ "$(nm -D --defined-only "$lib" | grep -c ' T normrt_')" -ge 35 ] && ok || bad "the C API functions are not all exported"
for f in include/normrt/normrt.h include/normrt/normrt.hpp bin/normrt; do [ -e "$tmp/prefix/$f" ] && ok || bad "$f not installed"; done
pc=$(find "$tmp/prefix" -name normrt.pc | head -1)
[ -n "$pc" ] && ok || bad "no normrt.pc"
libdir=$(dirname "$lib")

# find_package(normrt CONFIG)
if cmake -S "$src/tests/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/log" 2>&1 &&
   cmake --build "$tmp/consumer" >>"$tmp/log" 2>&1; then
  ok
  for exe in consumer_c consumer_cpp; do
    out=$("$tmp/consumer/$exe" "$seed" 2>&1) || true
    # Linked through the imported target, the executable finds the library by its RUNPATH.
    echo "$out" | grep -q "y0=1.732051" && ok || bad "$exe (find_package) printed: $out"
  done
else
  bad "the find_package consumer did not build"; sed 's/^/  /' "$tmp/log" | tail -20
fi

# pkg-config
export PKG_CONFIG_PATH=$(dirname "$pc")
if cc "$src/tests/consumer/consumer.c" $(pkg-config --cflags --libs normrt) -o "$tmp/pc_consumer" 2>"$tmp/log"; then
  ok
  out=$(LD_LIBRARY_PATH=$libdir "$tmp/pc_consumer" "$seed" 2>&1) || true
  echo "$out" | grep -q "y0=1.732051" && ok || bad "pkg-config consumer printed: $out"
else
  bad "the pkg-config consumer did not build: $(cat "$tmp/log")"
fi

# cpack -G DEB
if (cd "$build" && cpack -G DEB -B "$tmp/deb" >"$tmp/log" 2>&1); then
  deb=$(ls "$tmp"/deb/normrt_*.deb | head -1)
  [ -n "$deb" ] && ok || bad "cpack made no .deb"
  dpkg-deb -c "$deb" >"$tmp/contents"
  grep -q './usr/bin/normrt$' "$tmp/contents" && ok || bad ".deb lacks usr/bin/normrt"
  if [ "$(id -u)" -eq 0 ] && ! dpkg-query -W normrt >/dev/null 2>&1; then
    how="installed with dpkg -i"
    dpkg -i "$deb" >/dev/null
    info=$(/usr/bin/normrt info "$src/models/tiny_bert/model.onnx" 2>&1) || true
    dpkg -r normrt >/dev/null
  else
    how="unpacked with dpkg-deb -x (not root, or a normrt package is already installed)"
    dpkg-deb -x "$deb" "$tmp/root"
    info=$("$tmp/root/usr/bin/normrt" info "$src/models/tiny_bert/model.onnx" 2>&1) || true
  fi
  echo "$info" | grep -q "unsupported ops: none" && ok || bad "normrt info from the .deb ($how) printed: $(echo "$info" | head -5)"
  echo "package: .deb $how"
else
  bad "cpack -G DEB failed"; tail -20 "$tmp/log"
fi
echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
