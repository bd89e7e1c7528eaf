#!/bin/bash
# slurm_sweep.sh — run an experiment as a Slurm job array, one shard per task
# (DESIGN.md "Scaling out"). Array task I runs
#   ptqbench sweep CONFIG --shard I/N --resume [--out OUT]
# into OUT/results.shard-I-of-N.jsonl (OUT default: results/<experiment>);
# `ptqbench report OUT` and `compare` merge the shards. Re-submitting (all
# tasks, or ARRAY=1,3 for some) resumes: cells already in any shard file are
# skipped, so a cancelled or failed task is simply submitted again.
#
# Usage: scripts/slurm_sweep.sh CONFIG N [extra sbatch args, e.g. --partition=cpu --time=02:00:00]
# env:   PTQBENCH  binary (default build/ptqbench; made absolute)
#        THREADS   CPUs per task = OMP threads (default 4; results do not depend on it)
#        OUT       results directory on a filesystem every node sees (default results/<experiment>)
#        ARRAY     array indices to submit (default 0-(N-1))
#        LOGDIR    task logs (default OUT/slurm-logs, or results/slurm-logs)
# Prints the job id (sbatch --parsable).
set -euo pipefail
CONFIG=${1:?usage: slurm_sweep.sh CONFIG N [sbatch args...]}
N=${2:?usage: slurm_sweep.sh CONFIG N [sbatch args...]}
shift 2
BIN=$(readlink -f "${PTQBENCH:-build/ptqbench}")
THREADS=${THREADS:-4}
[ -x "$BIN" ] || { echo "error: $BIN not found (build first or set PTQBENCH)" >&2; exit 2; }
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a positive integer, got '$N'" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "error: THREADS must be a positive integer, got '$THREADS'" >&2; exit 2; }
ARRAY=${ARRAY:-0-$((N - 1))}
[[ "$ARRAY" =~ ^[0-9,-]+$ ]] || { echo "error: ARRAY must be Slurm array indices like 0-3 or 1,3, got '$ARRAY'" >&2; exit 2; }
CONFIG=$(readlink -f "$CONFIG")
OUTARG=""
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; OUT=$(readlink -f "$OUT"); OUTARG="--out '$OUT'"; fi
LOGDIR=${LOGDIR:-${OUT:-results}/slurm-logs}
"$BIN" sweep "$CONFIG" --dry-run >/dev/null || exit 2   # validate before queueing anything
command -v sbatch >/dev/null || { echo "error: sbatch not found (not a Slurm host)" >&2; exit 1; }
mkdir -p "$LOGDIR"
sbatch --parsable --array="$ARRAY" --cpus-per-task="$THREADS" --job-name="ptqbench-$(basename "$CONFIG" .json)" \
    --output="$LOGDIR/%x-%A_%a.out" "$@" --wrap \
    "OMP_NUM_THREADS=$THREADS '$BIN' sweep '$CONFIG' --shard \$SLURM_ARRAY_TASK_ID/$N --resume $OUTARG"
