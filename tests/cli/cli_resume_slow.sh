#!/bin/bash
# cli_resume_slow.sh — a sweep interrupted and resumed ends with the rows of an
# uninterrupted run (same set, metrics bit for bit apart from timings, no
# duplicate row): (1) the disk fills in the middle of a cell's second row
# (RLIMIT_FSIZE), (2) kill -9 at seeded random times, resumed after each.
# Usage: bash tests/cli/cli_resume_slow.sh /path/to/ptqbench [SEED] [KILLS]
set -u
BIN=${1:?usage: cli_resume_slow.sh PTQBENCH [SEED] [KILLS]}
RANDOM=${2:-14}
KILLS=${3:-5}
CFG=tests/data/sweep_tiny.json
T=$(mktemp -d /tmp/ptq_resume.XXXXXX)
PID=0
trap '[ $PID -gt 0 ] && kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
same() { python3 tests/cli/same_rows.py "$1" "$T/ref" || fail "$2: rows differ from the uninterrupted run"; }

"$BIN" sweep $CFG --out "$T/ref" >"$T/ref.log" 2>&1 || fail "uninterrupted sweep: $(tail -3 "$T/ref.log")"
rows=$(wc -l <"$T/ref/results.jsonl")

# 1. disk full in the middle of the second cell's second row: the sweep goes
# on (its cells fail), the resume without the limit completes every cell once.
limit=$(awk 'NR <= 3 { n += length($0) + 1 } NR == 4 { print n + int(length($0) / 2) }' "$T/ref/results.jsonl")
prlimit --fsize="$limit" "$BIN" sweep $CFG --out "$T/full" 2>&1 | cat >"$T/full.log"
grep -q "append failed" "$T/full.log" || fail "no append failure under a $limit-byte file limit: $(tail -3 "$T/full.log")"
[ "$(wc -l <"$T/full/results.jsonl")" -eq 2 ] || fail "disk full: expected only the first cell's 2 rows on disk"
"$BIN" sweep $CFG --out "$T/full" --resume >"$T/full2.log" 2>&1 || fail "resume after disk full: $(tail -3 "$T/full2.log")"
same "$T/full" "disk full + resume"

# 2. kill -9 at a random time (seeded) after each run has landed one more
# cell (so every kill falls in a later cell's work, on a busy machine too),
# resumed after each kill
nrows() { cat "$T/k/results.jsonl" 2>/dev/null | wc -l; }
for k in $(seq 1 "$KILLS"); do
    resume=; [ -f "$T/k/results.jsonl" ] && resume=--resume
    before=$(nrows)
    "$BIN" sweep $CFG --out "$T/k" $resume >"$T/k$k.log" 2>&1 &
    PID=$!
    # until one more row lands, or the run ends (a resume of a finished sweep adds none)
    for i in $(seq 1 1200); do [ "$(nrows)" -gt "$before" ] || ! kill -0 $PID 2>/dev/null && break; sleep 0.1; done
    sleep "0.$((RANDOM % 4))"
    kill -9 $PID 2>/dev/null
    wait $PID 2>/dev/null
    PID=0
    echo "kill $k: $(wc -l <"$T/k/results.jsonl" 2>/dev/null || echo 0) rows on disk"
done
resume=; [ -f "$T/k/results.jsonl" ] && resume=--resume
"$BIN" sweep $CFG --out "$T/k" $resume >"$T/k.log" 2>&1 || fail "final resume: $(tail -3 "$T/k.log")"
same "$T/k" "$KILLS x kill -9 + resume"
[ "$(wc -l <"$T/k/results.jsonl")" -eq "$rows" ] || fail "kill -9: $(wc -l <"$T/k/results.jsonl") rows, expected $rows"
echo "PASS cli_resume_slow"
