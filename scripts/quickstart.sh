#!/usr/bin/env bash
# quickstart.sh — set up, build, and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
B=build/ptqbench
echo "== stories260K greedy sample =="
$B generate --model stories260K --temperature 0 --steps 256
echo "== stories260K perplexity =="
$B ppl --model stories260K --dataset wikitext2,ptb,tinystories
echo "== tinystories-656k (Hugging Face safetensors + tokenizer.json) greedy sample =="
$B generate --model tinystories-656k --prompt "Once upon a time, " --temperature 0 --steps 256
echo "== tinystories-656k perplexity =="
$B ppl --model tinystories-656k --dataset tinystories,wikitext2
