#!/bin/bash
# cli_slurm_slow.sh — the sharded sweep on a real single-node Slurm cluster
# (Debian's slurm-wlm 22.05 + munge), brought up in a temporary directory
# with its own slurm.conf, state/spool/log directories, ports and munge key,
# and stopped at the end:
#   1. scripts/slurm_sweep.sh submits tests/data/sweep_slurm.json as a
#      4-task job array; the union of the shard files equals a single-process
#      run of the same experiment (same rows, metrics bit for bit);
#   2. one array task is cancelled (scancel) in the middle of a cell and
#      submitted again (ARRAY=I): the results are complete, no duplicate row;
#   3. a task whose shard index is out of range fails with a clear error.
# Skips (exit 0, "SKIP: why") when the packages are missing or the daemons
# cannot start here (e.g. no permission); never fails for that reason.
# Usage: bash tests/cli/cli_slurm_slow.sh /path/to/ptqbench   (from the repo root)
set -u
BIN=$(readlink -f "${1:?usage: cli_slurm_slow.sh PTQBENCH}")
CFG=tests/data/sweep_slurm.json
skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*"; [ -n "${D:-}" ] && tail -n 5 "$D"/log/*.log 2>/dev/null; exit 1; }
for c in munged munge slurmctld slurmd sbatch squeue scontrol scancel sinfo python3; do
    command -v $c >/dev/null || skip "$c not installed (apt-get install slurm-wlm munge python3)"
done

D=$(mktemp -d /tmp/ptq_slurm.XXXXXX)
chmod 755 "$D" # munged wants the socket's directory reachable
export SLURM_CONF=$D/slurm.conf
cleanup() {
    scontrol shutdown >/dev/null 2>&1
    [ -f "$D/munge/munged.pid" ] && kill "$(cat "$D/munge/munged.pid")" 2>/dev/null
    sleep 1
    rm -rf "$D"
}
trap cleanup EXIT
t0=$(date +%s.%N)

# ---- the cluster -----------------------------------------------------------
mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log" "$D/out"
chmod 700 "$D/munge"
dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$D/munge/munge.key"
MSOCK=$D/munge/munge.sock
munged --force -S "$MSOCK" --key-file="$D/munge/munge.key" --log-file="$D/log/munged.log" \
    --pid-file="$D/munge/munged.pid" --seed-file="$D/munge/munged.seed" 2>"$D/log/munged.err" \
    || skip "munged cannot start: $(head -c 300 "$D/log/munged.err")"
munge -S "$MSOCK" -n 2>/dev/null | unmunge -S "$MSOCK" >/dev/null 2>&1 || skip "munge credentials do not round-trip"
H=$(hostname -s)
PORT=$((20000 + RANDOM % 20000))
NCPU=$(nproc)
cat >"$SLURM_CONF" <<EOF
ClusterName=ptqtest
SlurmctldHost=$H
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$MSOCK
CredType=cred/munge
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
MinJobAge=600
KillWait=5
NodeName=$H CPUs=$NCPU State=UNKNOWN
PartitionName=ptq Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" 2>"$D/log/ctld.err" || skip "slurmctld cannot start: $(head -c 300 "$D/log/ctld.err")"
slurmd -f "$SLURM_CONF" 2>"$D/log/slurmd.err" || skip "slurmd cannot start: $(head -c 300 "$D/log/slurmd.err")"
for i in $(seq 1 60); do
    [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
    sleep 0.5
done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || skip "the node did not come up: $(tail -n 3 "$D"/log/slurm*.log | tr '\n' ' ')"
echo "cluster up in $(python3 -c "import time;print(round(time.time()-$t0,1))") s: node $H, $NCPU CPUs, ports $PORT/$((PORT + 1))"

# Wait for every task of job $1 to leave the queue; print each task's state.
wait_job() {
    for i in $(seq 1 600); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && break
        sleep 0.5
    done
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] || fail "job $1 still queued after 5 min: $(squeue -j "$1")"
}
# state|exit code of array task $1_$2 (completed jobs stay known for MinJobAge s)
task_state() {
    scontrol show job "$1_$2" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p;s/^ExitCode=//p' | head -2 | paste -sd'|'
}

# ---- 1. a 4-task array equals one process ------------------------------------
N=4
export PTQBENCH=$BIN THREADS=1
t1=$(date +%s.%N)
JOB=$(OUT=$D/out/array bash scripts/slurm_sweep.sh $CFG $N) || fail "slurm_sweep.sh did not submit"
wait_job "$JOB"
t_array=$(python3 -c "import time;print(round(time.time()-$t1,1))")
for i in $(seq 0 $((N - 1))); do
    st=$(task_state "$JOB" "$i")
    [ "$st" = "COMPLETED|0:0" ] || fail "array task $i: $st; log: $(tail -n 3 "$D"/out/array/slurm-logs/*_$i.out)"
    echo "  task $i: $st, $(wc -l <"$D/out/array/results.shard-$i-of-$N.jsonl") rows in results.shard-$i-of-$N.jsonl"
done
t1=$(date +%s.%N)
OMP_NUM_THREADS=1 "$BIN" sweep $CFG --out "$D/out/one" >"$D/log/one.log" 2>&1 || fail "single-process sweep: $(tail -n 3 "$D/log/one.log")"
t_one=$(python3 -c "import time;print(round(time.time()-$t1,1))")
python3 tests/cli/same_rows.py "$D/out/array" "$D/out/one" || fail "the shards differ from the single run"
echo "wall time: $N-task array $t_array s (incl. scheduling) vs one process $t_one s, $NCPU CPUs"

# ---- 2. cancel a task mid-cell, submit it again --------------------------------
JOB=$(OUT=$D/out/req bash scripts/slurm_sweep.sh $CFG 2) || fail "slurm_sweep.sh did not submit (requeue)"
LOG=$D/out/req/slurm-logs
for i in $(seq 1 240); do # task 1 running, one cell done, the next one started
    grep -q "cell 2/" "$LOG"/*_1.out 2>/dev/null && break
    sleep 0.25
done
grep -q "cell 2/" "$LOG"/*_1.out 2>/dev/null || fail "task 1 never reached its second cell: $(cat "$LOG"/*_1.out 2>/dev/null | tail -3)"
scancel "${JOB}_1"
wait_job "$JOB"
st=$(task_state "$JOB" 1)
[ "${st%%|*}" = CANCELLED ] || fail "task 1 after scancel: $st"
before=$(cat "$D"/out/req/results*.jsonl | wc -l)
JOB2=$(ARRAY=1 OUT=$D/out/req bash scripts/slurm_sweep.sh $CFG 2) || fail "resubmitting task 1"
wait_job "$JOB2"
st=$(task_state "$JOB2" 1)
[ "$st" = "COMPLETED|0:0" ] || fail "resubmitted task 1: $st"
python3 tests/cli/same_rows.py "$D/out/req" "$D/out/one" || fail "cancelled + resubmitted differs from the single run"
echo "cancelled task 1 mid-cell ($before rows on disk then), resubmitted: complete, no duplicate row"

# ---- 3. a shard index out of range fails clearly --------------------------------
JOB=$(ARRAY=2 OUT=$D/out/bad bash scripts/slurm_sweep.sh $CFG 2) || fail "slurm_sweep.sh did not submit (bad index)"
wait_job "$JOB"
st=$(task_state "$JOB" 2)
[ "${st%%|*}" = FAILED ] || fail "task 2 of 2 shards: $st (expected FAILED)"
grep -q "error: .*shard" "$D"/out/bad/slurm-logs/*_2.out || fail "no clear error for shard 2/2: $(cat "$D"/out/bad/slurm-logs/*_2.out)"
echo "shard index 2 of 2: $st, $(grep -m1 'error:' "$D"/out/bad/slurm-logs/*_2.out)"
echo "PASS cli_slurm_slow"
