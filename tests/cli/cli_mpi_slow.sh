#!/bin/bash
# cli_mpi_slow.sh — scale-out: `mpirun -np 2 ptqbench sweep` (each rank takes
# its shard from OpenMPI's environment) gives the same rows as a
# single-process run: the union of the shard files equals it, no cell twice.
# Skipped (exit 0 with a note) when mpirun is not installed.
set -u
BIN=${1:?usage: cli_mpi_slow.sh PTQBENCH}
BIN=$(readlink -f "$BIN")
CFG=tests/data/sweep_tiny.json
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed (apt-get install openmpi-bin)"; exit 0; }
T=$(mktemp -d /tmp/ptq_mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ROOT=""; [ "$(id -u)" = 0 ] && ROOT="--allow-run-as-root"
OMP_NUM_THREADS=1 mpirun $ROOT --oversubscribe -np 2 "$BIN" sweep $CFG --out "$T/mpi" >"$T/mpi.log" 2>&1 \
    || fail "mpirun sweep failed: $(tail -5 "$T/mpi.log")"
[ -f "$T/mpi/results.shard-0-of-2.jsonl" ] && [ -f "$T/mpi/results.shard-1-of-2.jsonl" ] || fail "shard files missing: $(ls "$T/mpi")"
OMP_NUM_THREADS=1 "$BIN" sweep $CFG --out "$T/one" >"$T/one.log" 2>&1 || fail "single sweep failed"
keys() { cat "$@" | grep -o '"row_key":"[0-9a-f]*"' | sort; }
keys "$T"/mpi/results.shard-*.jsonl >"$T/k_mpi"
keys "$T/one/results.jsonl" >"$T/k_one"
[ "$(uniq -d "$T/k_mpi" | wc -l)" -eq 0 ] || fail "a cell ran on both ranks"
cmp -s "$T/k_mpi" "$T/k_one" || fail "shard union differs from the single run: $(diff "$T/k_mpi" "$T/k_one" | head)"
echo "rows: $(wc -l <"$T/k_mpi") from 2 ranks, $(wc -l <"$T/k_one") single"
# Same numbers too (same thread count): the gate passes both ways; report merges shards.
"$BIN" compare "$T/mpi" "$T/one" --tol ppl=1e-6 >"$T/cmp" || fail "shards vs single: $(grep -v '| ok |' "$T/cmp" | head)"
"$BIN" report "$T/mpi" --format md | grep -q "rtn" || fail "report of the shards"
# A --shard run never touches another shard's cells.
"$BIN" sweep $CFG --out "$T/mpi" --shard 1/2 --resume 2>&1 | grep -q "0 to run" || fail "shard 1/2 resume re-ran cells"
echo "PASS cli_mpi_slow"
