#!/usr/bin/env bash
# cli_seed_methods.sh — SpecQuant / SEPTQ / RUQuant from the command line:
# unsupported bit-specs and bad options get one clear `error:` line and the
# right exit code; a tiny good run of each prints a perplexity.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"


R=("$BIN" run --model stories260K --eval ppl:tinystories --limit-windows 1 --no-progress --nsamples 2 --calib-seqlen 32)
expect 2 "septq is weight-only" "${R[@]}" --method septq --bits W4A4
expect 2 "'K' = -3 is out of range" "${R[@]}" --method ruquant --bits W4A4 --opt K=-3
expect 2 "option 'budget' must be one of fixed|energy|softmax" "${R[@]}" --method specquant --bits W4A4 --opt budget=bad
expect 2 "option 'masked_value' must be one of original|updated" "${R[@]}" --method septq --bits W3 --opt masked_value=maybe
for spec in "septq W3" "specquant W4A4" "ruquant W4A4KV4"; do
    set -- $spec
    expect 0 "ppl=" "${R[@]}" --method "$1" --bits "$2" --opt seqlen=32
done

if [ "$fails" -ne 0 ]; then echo "cli_seed_methods: $fails failure(s)"; exit 1; fi
echo "cli_seed_methods: all checks passed"
