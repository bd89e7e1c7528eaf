#!/bin/bash
# cli_mpi_slow.sh — scale-out under OpenMPI: `mpirun -np 2 ptqbench sweep`
# (each rank takes its shard from OpenMPI's environment) gives the same rows
# as a single-process run: the union of the shard files equals it, metrics
# bit for bit, no cell twice. Then a rank is killed (SIGKILL) in the middle
# of a cell, the job dies with it, and `--resume` under mpirun completes the
# experiment with the same rows and no duplicate.
# Skipped (exit 0 with a note) when mpirun is not installed.
set -u
BIN=${1:?usage: cli_mpi_slow.sh PTQBENCH}
BIN=$(readlink -f "$BIN")
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed (apt-get install openmpi-bin)"; exit 0; }
T=$(mktemp -d /tmp/ptq_mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ROOT=""; [ "$(id -u)" = 0 ] && ROOT="--allow-run-as-root"
MPI="mpirun $ROOT --oversubscribe -np 2 -x OMP_NUM_THREADS=1"

# 1. two ranks = one process
CFG=tests/data/sweep_tiny.json
$MPI "$BIN" sweep $CFG --out "$T/mpi" >"$T/mpi.log" 2>&1 || fail "mpirun sweep failed: $(tail -5 "$T/mpi.log")"
[ -f "$T/mpi/results.shard-0-of-2.jsonl" ] && [ -f "$T/mpi/results.shard-1-of-2.jsonl" ] || fail "shard files missing: $(ls "$T/mpi")"
OMP_NUM_THREADS=1 "$BIN" sweep $CFG --out "$T/one" >"$T/one.log" 2>&1 || fail "single sweep failed"
python3 tests/cli/same_rows.py "$T/mpi" "$T/one" || fail "2 ranks differ from one process"
"$BIN" report "$T/mpi" --format md | grep -q "rtn" || fail "report of the shards"
# A --shard run never touches another shard's cells.
"$BIN" sweep $CFG --out "$T/mpi" --shard 1/2 --resume 2>&1 | grep -q "0 to run" || fail "shard 1/2 resume re-ran cells"

# 2. kill rank 1 in the middle of its second cell, then resume
CFG=tests/data/sweep_slurm.json
OMP_NUM_THREADS=1 "$BIN" sweep $CFG --out "$T/one2" >"$T/one2.log" 2>&1 || fail "single sweep (long cells) failed"
$MPI "$BIN" sweep $CFG --out "$T/kill" >"$T/kill.log" 2>&1 &
job=$!
victim=""
for i in $(seq 1 480); do
    if grep -q "cell 2/" "$T/kill.log" 2>/dev/null; then
        for p in $(pgrep -f "$BIN sweep $CFG"); do
            tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
        done
        [ -n "$victim" ] && break
    fi
    sleep 0.25
done
[ -n "$victim" ] || { kill $job 2>/dev/null; fail "rank 1 never reached its second cell: $(tail -3 "$T/kill.log")"; }
kill -9 "$victim"
wait $job && fail "mpirun reported success after a rank was killed"
rows=$(cat "$T"/kill/results*.jsonl 2>/dev/null | wc -l)
$MPI "$BIN" sweep $CFG --out "$T/kill" --resume >"$T/resume.log" 2>&1 || fail "resume under mpirun: $(tail -5 "$T/resume.log")"
python3 tests/cli/same_rows.py "$T/kill" "$T/one2" || fail "killed + resumed differs from one process"
echo "rank 1 killed mid-cell with $rows rows on disk; resumed: complete, no duplicate row"
echo "PASS cli_mpi_slow"
