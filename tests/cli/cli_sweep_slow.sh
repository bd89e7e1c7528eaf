#!/bin/bash
# cli_sweep_slow.sh — the sweep runner end to end on cheap stories260K cells:
# kill -9 mid-run then --resume (no lost, partial or duplicate rows), the
# lock against a second concurrent sweep, refusing to append without
# --resume, a truncated last line, bad configs, report and compare.
# Usage: bash tests/cli_sweep_slow.sh /path/to/ptqbench   (from the repo root)
set -u
BIN=${1:?usage: cli_sweep_slow.sh PTQBENCH}
CFG=tests/data/sweep_tiny.json
T=$(mktemp -d /tmp/ptq_sweep.XXXXXX)
trap 'kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
PID=0
fail() { echo "FAIL: $*"; exit 1; }
NCELLS=6; NTASKS=2

# 1. start a sweep, kill -9 it once the first cell has landed
"$BIN" sweep $CFG --out "$T/a" >"$T/log1" 2>&1 &
PID=$!
for i in $(seq 1 300); do
    [ -f "$T/a/results.jsonl" ] && [ "$(wc -l <"$T/a/results.jsonl")" -ge 2 ] && break
    sleep 0.1
done
# 2. a second sweep on the same results file while the first runs: clear error
"$BIN" sweep $CFG --out "$T/a" --resume >"$T/log2" 2>&1
rc=$?
kill -0 $PID 2>/dev/null || fail "the first sweep finished too early for the lock test"
[ $rc -eq 1 ] || fail "concurrent sweep: expected exit 1, got $rc"
grep -q "locked by another running sweep" "$T/log2" || fail "concurrent sweep: no lock message: $(cat "$T/log2")"
kill -9 $PID
wait $PID 2>/dev/null
n=$(wc -l <"$T/a/results.jsonl")
echo "killed with $n rows written"
[ $((n % NTASKS)) -eq 0 ] || fail "a partial cell was written ($n rows)"
[ "$n" -lt $((NCELLS * NTASKS)) ] || fail "the sweep finished before the kill"

# 3. without --resume an existing results file is refused (exit 2)
"$BIN" sweep $CFG --out "$T/a" >"$T/log3" 2>&1
[ $? -eq 2 ] && grep -q -- "--resume" "$T/log3" || fail "re-run without --resume was not refused"

# 4. simulate a torn write, then resume: tail cut, every cell exactly once
printf '{"task":"ppl:tinystories","metr' >>"$T/a/results.jsonl"
"$BIN" report "$T/a" --format md >"$T/rep0" 2>"$T/rep0.err" || fail "report crashed on a truncated last line"
grep -q "truncated" "$T/rep0.err" || fail "no warning for the truncated last line"
"$BIN" sweep $CFG --out "$T/a" --resume >"$T/log4" 2>&1 || fail "resume failed: $(tail -3 "$T/log4")"
grep -q "plan: 6 selected, $((n / NTASKS)) done" "$T/log4" || fail "resume did not skip the done cells: $(grep 'plan:' "$T/log4")"
total=$(wc -l <"$T/a/results.jsonl")
[ "$total" -eq $((NCELLS * NTASKS)) ] || fail "expected $((NCELLS * NTASKS)) rows after resume, got $total"
dups=$(grep -o '"row_key":"[0-9a-f]*"' "$T/a/results.jsonl" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups duplicate rows"
"$BIN" sweep $CFG --out "$T/a" --resume 2>&1 | grep -q "0 to run" || fail "a second resume re-ran cells"
"$BIN" sweep $CFG --out "$T/a" --dry-run | grep -q "done stories260K|rtn|W3A3" || fail "dry-run does not show done cells"

# 5. report (tables) and the gate against itself, then a perturbed copy
"$BIN" report "$T/a" --format md,csv,tex >"$T/rep" || fail "report failed"
grep -q "| rtn |" "$T/rep" && [ -f "$T/a/report/table_stories260K.tex" ] || fail "report tables missing"
"$BIN" compare "$T/a" "$T/a" >"$T/cmp" || fail "compare of identical results failed"
mkdir -p "$T/p"
sed -E '0,/"ppl":[0-9.]+/s//"ppl":999.0/' "$T/a/results.jsonl" >"$T/p/results.jsonl"
"$BIN" compare "$T/p" "$T/a" >"$T/cmp2"
[ $? -eq 1 ] && grep -q REGRESSION "$T/cmp2" || fail "compare did not catch a perturbed ppl"

# 6. bad configs: exit 2 with the JSON path
echo '{"name":"x","models":["stories260K"],"methods":["nosuch"],"bits":["W4A4"],"tasks":["ppl:ptb"]}' >"$T/bad.json"
"$BIN" sweep "$T/bad.json" --dry-run >/dev/null 2>"$T/e1"
[ $? -eq 2 ] && grep -q '\$.methods\[0\]: unknown method "nosuch"' "$T/e1" || fail "unknown method: $(cat "$T/e1")"
echo '{"name":"x","models":["stories260K"],"methods":["rtn"],"bits":"W4A4","tasks":["ppl:ptb"],"seeds":[0.5]}' >"$T/bad.json"
"$BIN" sweep "$T/bad.json" --dry-run >/dev/null 2>"$T/e2"
[ $? -eq 2 ] && grep -q '\$.seeds\[0\]' "$T/e2" || fail "bad seed: $(cat "$T/e2")"
printf '{"name":' >"$T/bad.json"
"$BIN" sweep "$T/bad.json" >/dev/null 2>"$T/e3"
[ $? -eq 2 ] && grep -q 'malformed JSON' "$T/e3" || fail "malformed config: $(cat "$T/e3")"
"$BIN" sweep $CFG --shard 3/2 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --shard accepted"
"$BIN" report "$T/nonexistent" >/dev/null 2>&1; [ $? -eq 1 ] || fail "report of a missing dir"
echo "PASS cli_sweep_slow"
