#!/bin/bash
# nightly.sh — the regression gate: run experiments/nightly.json into a fresh
# directory and compare it with the committed baseline
# results/baselines/nightly.jsonl. Exit 0 = no regression, 1 = regression
# (or a failed/missing cell), 2 = usage/config error.
#   scripts/nightly.sh                 # gate
#   scripts/nightly.sh --update        # re-run and overwrite the baseline (review the diff!)
# env: BUILD (default build), TOL (compare --tol, default: ptqbench defaults), OMP_NUM_THREADS (default 2;
#      the baseline was produced with 2 threads: other counts can change the last bits)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
BIN="$BUILD/ptqbench"
[ -x "$BIN" ] || { echo "error: $BIN not built (cmake --build $BUILD)" >&2; exit 2; }
OUT=results/nightly-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$OUT"
# the load average goes with the run: latency is judged through a noise model (ptqbench compare --help)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/loadavg.txt"
"$BIN" sweep experiments/nightly.json --out "$OUT" || { echo "nightly: the sweep failed" >&2; exit 1; }
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
if [ "${1:-}" = "--update" ]; then
    cp "$OUT/results.jsonl" results/baselines/nightly.jsonl
    mkdir -p results/baselines/side && cp "$OUT"/side/*.f32 results/baselines/side/ 2>/dev/null || true
    echo "baseline updated from $OUT"
    exit 0
fi
"$BIN" report "$OUT" --format md >/dev/null || true
"$BIN" compare "$OUT" results/baselines/nightly.jsonl ${TOL:+--tol "$TOL"}
