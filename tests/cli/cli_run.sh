#!/usr/bin/env bash
# cli_run.sh — `ptqbench run` / `ptqbench methods`: bad inputs get one clear
# `error:` line and the right exit code; a small good run prints the table
# and a JSON row with metrics, quant time and peak RSS.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"


R=("$BIN" run --model stories260K --no-progress --limit-windows 1)
expect 0 "smoothquant" "$BIN" methods
expect 0 "alpha" "$BIN" methods smoothquant
expect 2 "unknown method 'nosuch'" "$BIN" methods nosuch
expect 2 "unknown method 'nosuch'" "${R[@]}" --method nosuch --bits W4A4
expect 2 "--method is required" "$BIN" run --model stories260K
expect 2 "W bits 9 not supported" "${R[@]}" --method rtn --bits W9A4
expect 2 "unknown option '-foo'" "${R[@]}" --method rtn --bits W4A4-foo
expect 2 "must start with 'W<bits>'" "${R[@]}" --method rtn --bits 4bit
expect 2 "option 'alpha' must be a number, got 'high'" "${R[@]}" --method smoothquant --bits W8A8 --opt alpha=high
expect 2 "unknown option 'alpah'" "${R[@]}" --method smoothquant --bits W8A8 --opt alpah=0.5
expect 2 "out of range" "${R[@]}" --method smoothquant --bits W8A8 --opt alpha=2
expect 2 "expected key=value" "${R[@]}" --method rtn --bits W4A4 --opt a_sym
expect 2 "must be true or false" "${R[@]}" --method rtn --bits W4A4 --opt a_sym=yes
expect 2 "fp16 is the unquantized reference and cannot run W4A4" "${R[@]}" --method fp16 --bits W4A4
expect 2 "is the evaluation text" "${R[@]}" --method gptq --bits W4A16 --calib tinystories --eval ppl:tinystories
expect 2 "unknown dataset 'nosuch'" "${R[@]}" --method rtn --bits W4A4 --eval ppl:nosuch
expect 2 "unknown task kind 'foo'" "${R[@]}" --method rtn --bits W4A4 --eval foo:bar
expect 2 "unknown zero-shot task 'nosuch'" "${R[@]}" --method rtn --bits W4A4 --eval zeroshot:nosuch
expect 2 "expected kind:argument" "${R[@]}" --method rtn --bits W4A4 --eval wikitext2
expect 1 "calibration set too small" "${R[@]}" --method gptq --bits W4A16 --opt nsamples=5000 --eval ppl:wikitext2
expect 2 "option 'weights' must be one of gptq|rtn, got 'foo'" "${R[@]}" --method quarot --bits W4A4 --opt weights=foo
expect 1 "not a known model name" "$BIN" run --model /nonexistent.bin --method rtn --bits W4A4

out=$("${R[@]}" --method rtn --bits W4A4KV4 --eval ppl:tinystories 2>/dev/null)
rc=$?
if [ $rc != 0 ] || ! grep -q '^stories260K *rtn *W4A4KV4 *ppl:tinystories *ppl=' <<<"$out" ||
    ! grep -q '"quant_seconds":' <<<"$out" || ! grep -q '"peak_rss_kb":' <<<"$out" ||
    ! grep -q '"ppl":' <<<"$out"; then
    echo "FAIL: good run (exit $rc): $out" >&2
    fails=$((fails + 1))
fi
out=$("${R[@]}" --method gptq --bits W4A16 --opt nsamples=4 --opt seqlen=64 --eval ppl:wikitext2 2>/dev/null)
if ! grep -q '"calib":{"dataset":"tinystories-calib"' <<<"$out" || ! grep -q '"nsamples":4,"seqlen":64' <<<"$out"; then
    echo "FAIL: gptq run does not record its calibration: $out" >&2
    fails=$((fails + 1))
fi

[ $fails = 0 ] && echo "cli_run: all checks passed"
exit $fails
