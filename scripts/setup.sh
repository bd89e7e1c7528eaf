#!/usr/bin/env bash
# setup.sh — install the Debian packages ptqbench needs (when missing) and
# build Release into build/. Idempotent: a second run only re-checks.
#   usage: scripts/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git curl bzip2 python3
      libopenblas-openmp-dev liblapacke-dev libfftw3-dev libcjson-dev libcsv-dev
      libssl-dev libpcre2-dev libsentencepiece-dev sentencepiece gnuplot-nox openmpi-bin libopenmpi-dev
      ${PTQ_EXTRA_PKGS:-})

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR="${PTQ_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
test -x "$BUILD_DIR/ptqbench" || { echo "setup: build failed" >&2; exit 1; }
echo "setup: built $BUILD_DIR/ptqbench"
