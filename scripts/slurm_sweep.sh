#!/bin/bash
# slurm_sweep.sh — run an experiment as a Slurm job array, one shard per task
# (DESIGN.md "Scaling out"). Each array task runs
#   ptqbench sweep CONFIG --shard $SLURM_ARRAY_TASK_ID/N --resume
# into results/<experiment>/results.shard-I-of-N.jsonl; `ptqbench report` and
# `compare` merge the shards. Re-submitting resumes: done cells are skipped.
#
# Usage: scripts/slurm_sweep.sh CONFIG N [extra sbatch args...]
#   env: PTQBENCH (binary, default build/ptqbench), THREADS (cpus per task, default 4)
set -euo pipefail
CONFIG=${1:?usage: slurm_sweep.sh CONFIG N [sbatch args...]}
N=${2:?usage: slurm_sweep.sh CONFIG N [sbatch args...]}
shift 2
BIN=${PTQBENCH:-build/ptqbench}
THREADS=${THREADS:-4}
[ -x "$BIN" ] || { echo "error: $BIN not found (build first or set PTQBENCH)" >&2; exit 2; }
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a positive integer, got '$N'" >&2; exit 2; }
"$BIN" sweep "$CONFIG" --dry-run >/dev/null || exit 2   # validate before queueing anything
command -v sbatch >/dev/null || { echo "error: sbatch not found (not a Slurm host)" >&2; exit 1; }
mkdir -p results/slurm-logs
sbatch --array=0-$((N - 1)) --cpus-per-task="$THREADS" --job-name="ptqbench-$(basename "$CONFIG" .json)" \
    --output=results/slurm-logs/%x-%A_%a.out "$@" --wrap \
    "OMP_NUM_THREADS=$THREADS '$BIN' sweep '$CONFIG' --shard \$SLURM_ARRAY_TASK_ID/$N --resume"
