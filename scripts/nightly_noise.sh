#!/bin/bash
# nightly_noise.sh — how often the latency gate raises a false alarm, and
# whether it catches a real slowdown: run the latency part of the nightly gate
# (experiments/nightly_latency.json vs results/baselines/nightly_latency.jsonl)
# N times, optionally under a competing CPU load and/or with a test-only
# slowdown injected into one packed kernel; one line per run, then the total.
#   scripts/nightly_noise.sh --runs 10                       # quiet machine: expect 0 alarms
#   scripts/nightly_noise.sh --runs 5 --load 2               # 2 busy competing threads: expect 0 alarms
#   scripts/nightly_noise.sh --runs 3 --slowdown kgemm:1.2   # the integer GEMM 20% slower: expect alarms
#   scripts/nightly_noise.sh --runs 5 --slowdown linear:1.2  # every packed linear 20% slower: expect alarms
# --full runs the whole nightly (accuracy too) instead of its latency part.
# Exit 0 when every run behaved as expected (no alarm without --slowdown, an
# alarm in every run with it), 1 otherwise, 2 on a usage error.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=3 LOAD=0 SLOW="" PART=--latency-only
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=${2:?}; shift 2 ;;
    --load) LOAD=${2:?}; shift 2 ;;
    --slowdown) SLOW=${2:?}; shift 2 ;;
    --full) PART=""; shift ;;
    *) echo "usage: scripts/nightly_noise.sh [--runs N] [--load THREADS] [--slowdown kgemm:F|linear:F] [--full]" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$LOAD" =~ ^[0-9]+$ ]] || { echo "error: --runs N >= 1, --load THREADS >= 0" >&2; exit 2; }
[ -z "$SLOW" ] || [[ "$SLOW" =~ ^(kgemm|linear):[0-9.]+$ ]] || { echo "error: --slowdown kgemm:F or linear:F expected, got '$SLOW'" >&2; exit 2; }
LOADERS=()
stop_load() { for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; done; }
trap stop_load EXIT
for ((i = 0; i < LOAD; i++)); do
    (while :; do :; done) &
    LOADERS+=($!)
done
DIR=results/nightly-noise-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$DIR"
alarms=0 bad=0
for ((r = 1; r <= RUNS; r++)); do
    out="$DIR/run$r"
    t0=$(date +%s)
    OUT="$out" PTQ_TEST_SLOWDOWN="$SLOW" bash scripts/nightly.sh $PART > "$out.log" 2>&1
    rc=$?
    n=$(grep -c "^regression: .*_speedup" "$out.log")
    other=$(grep "^regression: " "$out.log" | grep -vc "_speedup")
    worst=$(grep "^regression: .*_speedup" "$out.log" | head -1 | cut -c1-200)
    la=$(grep -o "load average at start: [0-9.]*" "$out.log" | awk '{print $NF}')
    printf "run %d/%d: exit %d, %d latency alarm(s), %d other, %ds, load %s%s\n" "$r" "$RUNS" "$rc" "$n" "$other" \
        $(( $(date +%s) - t0 )) "${la:-?}" "${worst:+; first: $worst}"
    [ "$n" -gt 0 ] && alarms=$((alarms + 1))
    if [ -n "$SLOW" ]; then [ "$n" -gt 0 ] || bad=$((bad + 1)); else [ "$rc" = 0 ] || bad=$((bad + 1)); fi
done
echo "total: $alarms of $RUNS runs raised a latency alarm (load threads $LOAD, slowdown ${SLOW:-none}; logs in $DIR)"
[ "$bad" = 0 ]
