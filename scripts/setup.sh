#!/usr/bin/env bash
# Installs what normrt needs to build and test, from Debian 12 packages.
# Idempotent: when everything is present it prints nothing and exits 0.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --models   also the Python packages that regenerate models/ (not needed to test)
#   scripts/setup.sh --peers    also the benchmark peers (oneDNN, OpenBLAS)
set -euo pipefail

pkgs=(cmake ninja-build g++ gcc pkg-config ccache
      libxsimd-dev libtbb-dev libprotobuf-dev protobuf-compiler libonnx-dev
      doctest-dev libbenchmark-dev python3 python3-numpy clang
      g++-aarch64-linux-gnu qemu-user)
for arg in "$@"; do
  case "$arg" in
    --models) pkgs+=(python3-onnx python3-numpy python3-torch) ;;
    --peers)  pkgs+=(libdnnl-dev libopenblas-dev) ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: missing packages: ${missing[*]}; run as root (or install them) first" >&2
  exit 1
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
