#!/usr/bin/env bash
# quickstart.sh — the README's main command: set up and build (scripts/setup.sh),
# show the FP models working (greedy samples), then run
# experiments/quickstart.json (stories260K and TinyStories-656K x every method
# x W6A6/W4A4/W3A3, 3 seeds where a method calibrates + the FP reference row:
# 146 cells; README for the time) and print the table and the plot
# paths. Resumable: re-running skips the cells already in results/quickstart/.
# env: SKIP_SETUP=1 (use an existing build/), OMP_NUM_THREADS (a fixed thread count; unset, ptqbench
# runs as many threads as other jobs leave cores free, re-read as it goes: the rows are the same)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
B=build/ptqbench
echo "== stories260K greedy sample =="
$B generate --model stories260K --temperature 0 --steps 256
echo "== tinystories-656k (Hugging Face safetensors + tokenizer.json) greedy sample =="
$B generate --model tinystories-656k --prompt "Once upon a time, " --temperature 0 --steps 256
echo "== quickstart sweep: every method x bit-width on stories260K and TinyStories-656K =="
start=$(date +%s)
$B sweep experiments/quickstart.json --out results/quickstart --resume
echo "sweep wall time: $(( $(date +%s) - start )) s"
$B report results/quickstart --format md,csv,tex --plots
