#!/usr/bin/env bash
# baselines_stories260k.sh — the stories260K baseline table of methods/README.md:
# methods x {W16A16, W6A6, W4A4, W3A3} on wikitext2 and tinystories.
# Usage: scripts/baselines_stories260k.sh [BIN] [LIMIT_WINDOWS] [NSAMPLES]
# Prints one JSON row per cell x task on stdout. MODELS (default "stories260K
# tinystories-656k") picks the models; tinystories-656k is the HF checkpoint.
set -eu
BIN="${1:-build/ptqbench}"
LIM="${2:-20}"
NS="${3:-32}"
run() { "$BIN" run --model "$MODEL" --no-progress --limit-windows "$LIM" --nsamples "$NS" \
    --eval ppl:wikitext2,ppl:tinystories "$@" 2>/dev/null | grep '^{'; }
for MODEL in ${MODELS:-stories260K tinystories-656k}; do
run --method fp16 --bits W16A16
for bits in W16A16 W6A6 W4A4 W3A3; do
    run --method rtn --bits "$bits"
    run --method smoothquant --bits "$bits"
    run --method gptq --bits "$bits"
    run --method quarot --bits "$bits" --opt weights=rtn
    run --method quarot --bits "$bits" --opt weights=gptq
done
done
