#!/usr/bin/env bash
# contention.sh — how much of its quiet throughput each path keeps when another
# job competes for the cores, measured in one run: every path is timed quiet,
# then again while a competing job of LOAD busy threads runs in its own session
# (setsid: one scheduling group, as another user's job is on a kernel with
# autogroup), then a few quickstart cells are swept quiet and loaded for their
# CPU time. ptqbench runs its default thread policy (auto: the cores the other
# job leaves free, re-read every 250 ms) unless THREADS or OMP_NUM_THREADS fix a count.
#   | path | figure | quiet tok/s | loaded tok/s | kept |   (kept: loaded / quiet; a fair share is 0.5 with LOAD=2 on 2 cores)
#   | sweep | wall s | user+sys s | ...                     (CPU time loaded / quiet: extra spinning shows here)
# Usage: scripts/contention.sh [BIN]
# env: MODEL (tinystories-656k), PATHS ("fp16:W16A16 rtn:W8A8 rtn:W4A16 rtn:W4A4"), TOKENS (64), CTX (128),
#      THREADS (auto; N fixes bench at N threads), LOAD (2: busy threads of the one competing job;
#      SPLIT=1 runs them as LOAD separate jobs, each its own session, a harsher share on autogroup kernels),
#      ONLY (sweep cells of experiments/quickstart.json, "" to skip; default three methods on TinyStories-656K),
#      OUT (directory for the rows, default a temporary one). Run it on an otherwise quiet machine.
set -uo pipefail
BIN="${1:-build/ptqbench}"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
cd "$(dirname "$0")/.."
MODEL=${MODEL:-tinystories-656k}
PATHS=${PATHS:-"fp16:W16A16 rtn:W8A8 rtn:W4A16 rtn:W4A4"}
TOKENS=${TOKENS:-64}
CTX=${CTX:-128}
THREADS=${THREADS:-auto}
LOAD=${LOAD:-2}
SPLIT=${SPLIT:-0}
ONLY=${ONLY-"tinystories-656k|rtn,tinystories-656k|gptq,tinystories-656k|quarot"}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

pids=() # session leaders: each load job is killed as its process group
load_start() {
    if [ "$SPLIT" = 1 ]; then
        for _ in $(seq "$LOAD"); do
            setsid sh -c 'while :; do :; done' &
            pids+=($!)
        done
    else
        setsid sh -c 'for _ in $(seq '"$LOAD"'); do (while :; do :; done) & done; wait' &
        pids+=($!)
    fi
    sleep 2
}
load_stop() {
    for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
    pids=()
    sleep 2
}
trap load_stop EXIT

bench() { # label: every path into $OUT/bench-<label>.jsonl
    rm -f "$OUT/bench-$1.jsonl"
    for mb in $PATHS; do
        "$BIN" bench --model "$MODEL" --method "${mb%%:*}" --bits "${mb##*:}" --threads "$THREADS" \
            --tokens "$TOKENS" --ctx "$CTX" --reps 7 --out "$OUT/bench-$1.jsonl" >/dev/null 2>>"$OUT/bench.err" ||
            echo "bench ${mb} ($1) failed: see $OUT/bench.err" >&2
    done
}
sweep() { # label: wall, user and sys seconds of the quickstart cells in ONLY
    rm -rf "$OUT/sweep-$1"
    /usr/bin/time -f "%e %U %S" -o "$OUT/sweep-$1.time" "$BIN" sweep experiments/quickstart.json --only "$ONLY" \
        --out "$OUT/sweep-$1" >/dev/null 2>>"$OUT/sweep.err" || echo "sweep ($1) failed: see $OUT/sweep.err" >&2
}

echo "# contention: $MODEL, threads $THREADS (OMP_NUM_THREADS ${OMP_NUM_THREADS:-unset}), competing load $LOAD busy threads ($([ "$SPLIT" = 1 ] && echo "$LOAD jobs" || echo "one job"), own session), $(date -u +%FT%TZ), load before $(cut -d' ' -f1 /proc/loadavg)"
bench quiet
[ -z "$ONLY" ] || sweep quiet
load_start
bench loaded
[ -z "$ONLY" ] || sweep loaded
load_stop

python3 - "$OUT" "$TOKENS" "$CTX" <<'EOF'
import json, sys
out, T, C = sys.argv[1], sys.argv[2], sys.argv[3]
def rows(label):
    try:
        return [json.loads(l) for l in open(f"{out}/bench-{label}.jsonl")]
    except OSError:
        return []
q, l = rows("quiet"), rows("loaded")
print("| path | figure | quiet tok/s | loaded tok/s | kept | threads quiet / loaded |")
print("|---|---|---|---|---|---|")
worst = 1e9
for a, b in zip(q, l):
    path = f"{a['method']} {a['qspec']}"
    for name, key in (("prefill packed", f"prefill_T{T}_tokens_per_sec"), ("prefill fp32", f"fp32_prefill_T{T}_tokens_per_sec"),
                      ("decode packed", f"decode_ctx{C}_tokens_per_sec"), ("decode fp32", f"fp32_decode_ctx{C}_tokens_per_sec")):
        x, y = a["metrics"].get(key), b["metrics"].get(key)
        if not x or not y:
            continue
        worst = min(worst, y / x)
        print(f"| {path} | {name} | {x:.0f} | {y:.0f} | {y / x:.2f} | {a['threads']} / {b['threads']} |")
print(f"\nlowest kept fraction: {worst:.2f}" if worst < 1e9 else "\nno bench rows")
t = {}
for label in ("quiet", "loaded"):
    try:
        e, u, s = map(float, open(f"{out}/sweep-{label}.time").read().split()[-3:])
        t[label] = (e, u + s)
    except (OSError, ValueError):
        pass
if len(t) == 2:
    print("\n| sweep | wall s | CPU s (user+sys) |\n|---|---|---|")
    for label, (e, c) in t.items():
        print(f"| {label} | {e:.1f} | {c:.1f} |")
    print(f"\nsweep CPU time loaded / quiet: {t['loaded'][1] / t['quiet'][1]:.2f}")
EOF
echo "rows: $OUT"
