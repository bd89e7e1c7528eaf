#!/bin/bash
# cli_nightly_gate.sh — the regression gate on the committed nightly baseline:
# the baseline against itself passes (exit 0); a deliberately perturbed copy
# (one perplexity +5%, the KLD of every GPTQ W4A4 seed x2 (a seed group:
# paired by seed), one accuracy -20 points, one row removed)
# fails (exit 1) and names each regression; bad arguments exit 2; a truncated
# last line is skipped with a warning.
set -u
BIN=${1:?usage: cli_nightly_gate.sh PTQBENCH}
BASE=results/baselines/nightly.jsonl
[ -s "$BASE" ] || { echo "FAIL: $BASE missing"; exit 1; }
T=$(mktemp -d /tmp/ptq_gate.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" compare "$BASE" "$BASE" >"$T/same" || fail "baseline vs itself: $(tail -3 "$T/same")"
grep -q "PASS" "$T/same" || fail "no PASS line"

# Perturb: scale the first ppl by 1.05 on the first ppl:wikitext2 row, etc. (awk keeps the JSON valid)
awk 'BEGIN{p=0;k=0;a=0}
  /"task":"ppl:wikitext2"/ && !p { match($0, /"ppl":[0-9.e+-]+/); v=substr($0,RSTART+6,RLENGTH-6);
      $0=substr($0,1,RSTART-1) "\"ppl\":" v*1.05 substr($0,RSTART+RLENGTH); p=1 }
  /"task":"kld:tinystories"/ && /"label":"gptq"/ && /"bits":"W4A4"/ { match($0, /"kld_mean":[0-9.e+-]+/); v=substr($0,RSTART+11,RLENGTH-11);
      $0=substr($0,1,RSTART-1) "\"kld_mean\":" v*2 substr($0,RSTART+RLENGTH); k=1 }
  /"task":"zeroshot:piqa"/ && !a { match($0, /"acc":[0-9.e+-]+/); v=substr($0,RSTART+6,RLENGTH-6);
      $0=substr($0,1,RSTART-1) "\"acc\":" v-0.2 substr($0,RSTART+RLENGTH); a=1 }
  { print }' "$BASE" | sed '$d' >"$T/bad.jsonl"
"$BIN" compare "$T/bad.jsonl" "$BASE" >"$T/bad"
rc=$?
[ $rc -eq 1 ] || fail "perturbed results: expected exit 1, got $rc"
[ "$(grep -c '| ppl | .*REGRESSION' "$T/bad")" -ge 1 ] || fail "ppl regression not reported"
grep -q '|gptq|W4A4|s\*|kld:tinystories | kld_mean | .*paired by seed (3 seeds).*REGRESSION' "$T/bad" || fail "KLD regression not reported"
grep -q '| acc | .*REGRESSION' "$T/bad" || fail "accuracy regression not reported"
grep -q 'MISSING' "$T/bad" || fail "missing row not reported"
grep -q "FAIL: regression" "$T/bad" || fail "no FAIL line"

# A looser tolerance accepts the ppl change but not the others.
"$BIN" compare "$T/bad.jsonl" "$BASE" --tol ppl=0.10 | grep -q '| ppl | .*REGRESSION' && fail "--tol ppl=0.10 ignored"

# Truncated last line: skipped with a warning, never a crash.
cp "$BASE" "$T/trunc.jsonl"; printf '{"id":"x","metr' >>"$T/trunc.jsonl"
"$BIN" compare "$T/trunc.jsonl" "$BASE" >/dev/null 2>"$T/w" || fail "truncated last line broke compare"
grep -q "truncated" "$T/w" || fail "no warning for the truncated line"

# Usage errors.
"$BIN" compare "$BASE" >/dev/null 2>&1; [ $? -eq 2 ] || fail "one argument: expected exit 2"
"$BIN" compare "$BASE" "$BASE" --tol pp=1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --tol: expected exit 2"
"$BIN" compare "$T/none.jsonl" "$BASE" >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing file: expected exit 1"
echo "PASS cli_nightly_gate"
