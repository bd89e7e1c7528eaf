#!/bin/bash
# cli_threads_slow.sh — results do not depend on the thread count: every
# method (W4A4; SEPTQ, weight-only, at W4) and FP on stories260K, with
# perplexity, KLD to FP (each run builds its own FP cache), and zero-shot,
# swept at OMP_NUM_THREADS=1, 2 and 3 give the same row keys and the same
# metrics bit for bit (timings aside). Each run has its own working directory
# so that no run reuses another's KLD cache.
set -u
BIN=${1:?usage: cli_threads_slow.sh PTQBENCH}
BIN=$(readlink -f "$BIN")
CFG=$(readlink -f tests/data/sweep_threads.json)
SAME=$(readlink -f tests/cli/same_rows.py)
DATA=${PTQBENCH_DATA:-}
[ -z "$DATA" ] && for d in data ../shared/assets; do [ -d "$d" ] && DATA=$(readlink -f "$d") && break; done
[ -n "$DATA" ] || { echo "SKIP: no data root (PTQBENCH_DATA, ./data, ../shared/assets)"; exit 0; }
T=$(mktemp -d /tmp/ptq_threads.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
for n in 1 2 3; do
    mkdir -p "$T/$n"
    (cd "$T/$n" && PTQBENCH_DATA="$DATA" OMP_NUM_THREADS=$n "$BIN" sweep "$CFG" --out out >log 2>&1) ||
        { echo "FAIL: sweep at $n threads: $(tail -5 "$T/$n/log")"; exit 1; }
    grep -q "\"threads\":$n," "$T/$n/out/results.jsonl" || { echo "FAIL: rows do not record threads=$n"; fails=$((fails + 1)); }
done
for n in 2 3; do
    python3 "$SAME" "$T/1/out" "$T/$n/out" || { echo "FAIL: $n threads differ from 1"; fails=$((fails + 1)); }
done
if [ "$fails" -ne 0 ]; then echo "cli_threads_slow: $fails failure(s)"; exit 1; fi
echo "cli_threads_slow: rows at 1, 2 and 3 threads are equal"
