#!/usr/bin/env bash
# cli_input.sh — bad input is refused up front with exit 2 and one message
# naming the flag, variable, file or key at fault (never a silent no-op, a
# runtime exit 1 or a hang): option values outside their choices, repeated
# --opt keys, unknown or empty datasets, --only keys matching nothing,
# malformed launcher shard variables, a results directory of another
# experiment, overrides.seqlen above the max_seq of a model, FIFOs given as
# files, and plans too large to expand.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
Q=experiments/quickstart.json
RUN=("$BIN" run --model stories260K --eval ppl:wikitext2 --limit-windows 1)

# option values and repeated options
expect 2 "option 'weights' must be one of gptq|rtn, got 'foo'" "${RUN[@]}" --method quarot --bits W4A16 --opt weights=foo
expect 2 "--opt a_sym given twice" "${RUN[@]}" --method rtn --bits W4A4 --opt a_sym=true --opt a_sym=false
expect 2 "option lm_head_bits: 1 bits for lm_head (expected 0 for the cell's, or 2..8)" "${RUN[@]}" --method rtn \
    --bits W4A4 --opt quant_lm_head=true --opt lm_head_bits=1
expect 2 "lm_head_bits" "${RUN[@]}" --method gptq --bits W4A16 --opt quant_lm_head=true --opt lm_head_bits=9
# datasets
expect 2 "--dataset: 'nosuch' is not a text dataset (expected a comma list of: wikitext2" \
    "$BIN" ppl --model stories260K --dataset nosuch
expect 2 "--dataset: an empty name" "$BIN" ppl --model stories260K --dataset ""
expect 2 "--dataset: an empty name" "$BIN" ppl --model stories260K --dataset wikitext2,
# --only must match some cell
expect 2 "--only nosuchkey: no cell of experiment quickstart" "$BIN" sweep $Q --dry-run --only nosuchkey --out "$T/q"
key=$("$BIN" sweep $Q --dry-run --out "$T/q" | sed -n 's/^  \[  0\] \([0-9a-f]*\) .*/\1/p')
expect 0 "1 selected" "$BIN" sweep $Q --dry-run --only "$key" --out "$T/q"
# ... or by the id a row shows: model|method|bits|sSEED (3 seeds of quarot W4A4 in the quickstart)
expect 0 "3 selected" "$BIN" sweep $Q --dry-run --only "stories260K|quarot|W4A4|" --out "$T/q"
# launcher shard variables
sweep_env() { env "$@" "$BIN" sweep $Q --dry-run --out "$T/q"; }
for v in abc -1 "" 1x; do
    expect 2 "SLURM_ARRAY_TASK_ID='$v': expected an integer" sweep_env SLURM_ARRAY_TASK_ID="$v" SLURM_ARRAY_TASK_COUNT=4
done
expect 2 "SLURM_ARRAY_TASK_ID=4 is not below SLURM_ARRAY_TASK_COUNT=4" \
    sweep_env SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_COUNT=4
expect 2 "SLURM_ARRAY_TASK_COUNT='0': expected an integer in 1" sweep_env SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=0
expect 2 "OMPI_COMM_WORLD_SIZE='two'" sweep_env OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=two
expect 2 "OMPI_COMM_WORLD_RANK=3 is not below OMPI_COMM_WORLD_SIZE=2" sweep_env OMPI_COMM_WORLD_RANK=3 OMPI_COMM_WORLD_SIZE=2
expect 2 "OMPI_COMM_WORLD_RANK is set but OMPI_COMM_WORLD_SIZE is not" sweep_env OMPI_COMM_WORLD_RANK=1
expect 0 "shard 1/2 from OMPI_COMM_WORLD_RANK" sweep_env OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2
expect 0 "shard 1/4" env SLURM_ARRAY_TASK_ID=x "$BIN" sweep $Q --dry-run --shard 1/4 --out "$T/q" # the flag wins
# a results directory holds one experiment
mkdir -p "$T/other"
echo '{"name": "nightly"}' >"$T/other/experiment.json"
expect 2 "holds results of experiment 'nightly', not 'quickstart'" "$BIN" sweep $Q --resume --dry-run --out "$T/other"
# FIFOs (and directories) as files: refused before a read blocks; a hang is the timeout's exit 124
mkfifo "$T/fifo" "$T/fifo.bin"
mkdir -p "$T/res"
mkfifo "$T/res/results.jsonl"
expect 2 "$T/fifo: is a FIFO, not a regular file" timeout 20 "$BIN" sweep "$T/fifo" --dry-run
expect 1 "$T/res/results.jsonl: is a FIFO" timeout 20 "$BIN" sweep $Q --dry-run --out "$T/res"
expect 1 "$T/res/results.jsonl: is a FIFO" timeout 20 "$BIN" report "$T/res"
expect 1 "$T/fifo: is a FIFO" timeout 20 "$BIN" compare "$T/fifo" "$T/fifo"
expect 1 "$T/fifo: tokenizer is not a regular file" timeout 20 "$BIN" info stories260K --tokenizer "$T/fifo"
expect 1 "unrecognised model format" timeout 20 "$BIN" info "$T/fifo.bin"
printf '{"name":"fifo","models":["%s"],"methods":["fp16"],"bits":["W16A16"],"tasks":["ppl:wikitext2"]}' \
    "$T/fifo.bin" >"$T/fifo_model.json"
expect 2 "$T/fifo.bin: is a FIFO" timeout 20 "$BIN" sweep "$T/fifo_model.json" --dry-run --out "$T/fm"
expect 2 "$T: is a directory, not a regular file" timeout 20 "$BIN" sweep "$T" --dry-run
# overrides.seqlen above a model's max_seq is a plan-time error naming the cell and the model
for sl in 1024 512; do
    printf '{"name":"sl","models":["stories260K"],"methods":["fp16","rtn"],"bits":["W16A16"],"tasks":["ppl:wikitext2"],
      "overrides":{"seqlen":%d}}' $sl >"$T/seqlen$sl.json"
done
expect 2 "cell stories260K|fp16|W16A16|s0: overrides.seqlen 1024 is above the max_seq 512 of model stories260K" \
    "$BIN" sweep "$T/seqlen1024.json" --dry-run --out "$T/sl"
expect 0 "2 selected" "$BIN" sweep "$T/seqlen512.json" --dry-run --out "$T/sl"
# plan expansion is linear: 96,000 cells plan (and fail --only) within 20 s of CPU time, also under ASan
# (the quadratic duplicate check took 9 s of CPU for 48,000 cells, so about 36 s here); 1.2M cells are
# refused at once with the axes and the product
seeds=$(seq -s, 0 999)
bits=$(for g in $(seq 1 96); do printf '"W4A16-g%d",' "$g"; done)
printf '{"name":"big","models":["stories260K"],"methods":["rtn"],"bits":[%s],"seeds":[%s],"tasks":["ppl:wikitext2"]}' \
    "${bits%,}" "$seeds" >"$T/big.json"
plan_cpu() { (ulimit -t 20 && exec timeout 300 "$BIN" sweep "$T/big.json" --dry-run --only nosuchkey --out "$T/big"); }
expect 2 "--only nosuchkey: no cell of experiment big" plan_cpu
clips=$(seq -s, 0.501 0.001 0.6)
bits=$(for g in $(seq 1 12); do printf '"W4A16-g%d",' "$g"; done)
printf '{"name":"huge","models":["stories260K"],"methods":[{"name":"rtn","options":{"kv_clip":[%s]}}],
  "bits":[%s],"seeds":[%s],"tasks":["ppl:wikitext2"]}' "$clips" "${bits%,}" "$seeds" >"$T/huge.json"
expect 2 "the plan has 1200000 cells (models 1 x method variants 100 x bits 12 x seeds 1000), more than the limit of 100000" \
    timeout 30 "$BIN" sweep "$T/huge.json" --dry-run --out "$T/huge"

if [ "$fails" -ne 0 ]; then echo "cli_input: $fails failure(s)"; exit 1; fi
echo "cli_input: all checks passed"
