#!/usr/bin/env bash
# cli_slowdown.sh — the test-only switch PTQ_TEST_SLOWDOWN=kgemm:F / linear:F (the
# nightly latency gate's injected slowdown): the integer GEMM repeats work, so
# results are unchanged bit for bit while the packed/FP32 ratio (CPU clock)
# drops; a spec it does not know is ignored with a warning naming it.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R=("$BIN" run --model stories260K --method rtn --bits W4A4 --limit-windows 2 --no-progress)
"${R[@]}" --eval ppl:tinystories >"$T/a.txt" 2>&1 || fail "run without the switch"
PTQ_TEST_SLOWDOWN=kgemm:2 "${R[@]}" --eval ppl:tinystories >"$T/b.txt" 2>&1 || fail "run with kgemm:2"
a=$(grep -o '"ppl":[0-9.e+-]*' "$T/a.txt") b=$(grep -o '"ppl":[0-9.e+-]*' "$T/b.txt")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "kgemm:2 changed the perplexity: $a vs $b"
PTQ_TEST_SLOWDOWN=linear:2 "${R[@]}" --eval ppl:tinystories >"$T/b2.txt" 2>&1 || fail "run with linear:2"
b2=$(grep -o '"ppl":[0-9.e+-]*' "$T/b2.txt")
[ "$a" = "$b2" ] || fail "linear:2 changed the perplexity: $a vs $b2"
PTQ_TEST_SLOWDOWN=gemm:1.2 "${R[@]}" --eval ppl:tinystories >"$T/c.txt" 2>&1
grep -qF "PTQ_TEST_SLOWDOWN=gemm:1.2 ignored (expected kgemm:F or linear:F" "$T/c.txt" || fail "no warning for an unknown spec"
L=latency:T=32:ctx=16:reps=7:min_ms=5:clock=cpu:threads=1
ratio() { grep -o '"prefill_T32_speedup":[0-9.e+-]*' "$1" | cut -d: -f2; }
"${R[@]}" --eval "$L" >"$T/l0.txt" 2>&1 || fail "latency without the switch"
PTQ_TEST_SLOWDOWN=kgemm:4 "${R[@]}" --eval "$L" >"$T/l4.txt" 2>&1 || fail "latency with kgemm:4"
r0=$(ratio "$T/l0.txt") r4=$(ratio "$T/l4.txt")
echo "prefill_T32 packed/FP32 ratio (CPU clock): $r0 without, $r4 with kgemm:4"
awk -v a="$r0" -v b="$r4" 'BEGIN { exit !(a > 0 && b > 0 && b < 0.95 * a) }' || fail "kgemm:4 did not lower the ratio ($r0 -> $r4)"
PTQ_TEST_SLOWDOWN=linear:4 "${R[@]}" --eval "$L" >"$T/ll.txt" 2>&1 || fail "latency with linear:4"
rl=$(ratio "$T/ll.txt")
echo "prefill_T32 packed/FP32 ratio (CPU clock): $rl with linear:4"
awk -v a="$r0" -v b="$rl" 'BEGIN { exit !(a > 0 && b > 0 && b < 0.8 * a) }' || fail "linear:4 did not lower the ratio ($r0 -> $rl)"
[ "$fails" = 0 ] && echo "cli_slowdown: all checks passed"
exit $((fails > 0))
