#!/bin/bash
# nightly.sh — the regression gate: run experiments/nightly.json (accuracy:
# ppl, KLD, zero-shot, with side files and seeds) and
# experiments/nightly_latency.json (packed/FP32 latency ratios) into fresh
# directories and compare them with the committed baselines
# results/baselines/nightly.jsonl and nightly_latency.jsonl (+ side/).
# Exit 0 = no regression, 1 = regression (or a failed/missing cell), 2 = usage/config error.
#   scripts/nightly.sh                 # gate
#   scripts/nightly.sh --update        # re-run and overwrite the baselines (review the diff!)
#   scripts/nightly.sh --latency-only  # only the latency gate (scripts/nightly_noise.sh)
#   scripts/nightly.sh --update-latency  # re-run and overwrite the latency baseline only: take it on the
#                                        # machine and load state the gate runs in (a quiet machine's decode
#                                        # ratio is lower than a loaded one's: the FP32 path's weights spill to
#                                        # the shared cache, the packed ones do not)
# env: BUILD (default build), TOL (compare --tol, default: ptqbench defaults), OMP_NUM_THREADS (default 2;
#      the baseline was produced with 2 threads: other counts can change the last bits), OUT (run directory)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
BIN="$BUILD/ptqbench"
MODE=${1:-}
case "$MODE" in ""|--update|--latency-only|--update-latency) ;;
*) echo "usage: scripts/nightly.sh [--update|--latency-only|--update-latency]" >&2; exit 2 ;; esac
[ -x "$BIN" ] || { echo "error: $BIN not built (cmake --build $BUILD)" >&2; exit 2; }
OUT=${OUT:-results/nightly-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
# the load average goes with the run (the latency rows record theirs too)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/loadavg.txt"
if [ "$MODE" = "" ] || [ "$MODE" = --update ]; then
    "$BIN" sweep experiments/nightly.json --out "$OUT" || { echo "nightly: the sweep failed" >&2; exit 1; }
fi
"$BIN" sweep experiments/nightly_latency.json --out "$OUT/latency" || { echo "nightly: the latency sweep failed" >&2; exit 1; }
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
if [ "$MODE" = --update-latency ]; then
    cp "$OUT/latency/results.jsonl" results/baselines/nightly_latency.jsonl
    echo "latency baseline updated from $OUT/latency"
    exit 0
fi
if [ "$MODE" = --update ]; then
    cp "$OUT/results.jsonl" results/baselines/nightly.jsonl
    cp "$OUT/latency/results.jsonl" results/baselines/nightly_latency.jsonl
    rm -rf results/baselines/side && mkdir -p results/baselines/side && cp "$OUT"/side/*.f32 results/baselines/side/
    echo "baselines updated from $OUT"
    exit 0
fi
rc=0
if [ "$MODE" != --latency-only ]; then
    "$BIN" report "$OUT" --format md >/dev/null || true
    "$BIN" compare "$OUT" results/baselines/nightly.jsonl ${TOL:+--tol "$TOL"} > "$OUT/compare.md" || rc=1
fi
"$BIN" compare "$OUT/latency" results/baselines/nightly_latency.jsonl ${TOL:+--tol "$TOL"} > "$OUT/compare_latency.md" || rc=1
cat "$OUT"/compare*.md
exit $rc
