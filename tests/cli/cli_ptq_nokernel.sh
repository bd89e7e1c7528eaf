#!/usr/bin/env bash
# cli_ptq_nokernel.sh — an exported .ptq whose weights need a kernel this
# build lacks (GPTQ act-order with a group size: groups over permuted
# columns; the packed kernels take consecutive groups): `bench` exits 1 with
# one error naming the file, the tensor and what the build has; a `run`
# latency row carries that error and no speed figure; perplexity still runs
# (the reference path dequantizes the permuted groups) and is finite; an
# exported file with kernels gets a latency row from run (FP32 twin).
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
cli_scratch

ROOT=$(data_root)
expect 0 "wrote" "$BIN" make-random-checkpoint --shape tiny --dtype bf16 --out "$T/tiny"
cp "$ROOT/models/tinystories-656k/tokenizer.json" "$T/tiny/tokenizer.json"
expect 0 "exported" "$BIN" export --model "$T/tiny" --method gptq --bits W4A16-g32 --opt act_order=true \
    --calib tinystories-calib --nsamples 4 --calib-seqlen 32 --out "$T/ao.ptq"
need="$T/ao.ptq: tensor layers.0.q_proj.weight: groups over permuted columns (GPTQ act-order with a group size) have no packed kernel in this build (it has groups of consecutive columns)"
expect 1 "$need" "$BIN" bench --model "$T/ao.ptq" --method fp16 --bits W16A16 --tokens 8 --ctx 16 --reps 5

out=$("$BIN" run --model "$T/ao.ptq" --method fp16 --bits W16A16 --eval latency:T=8:ctx=16:reps=5 --no-progress 2>&1)
grep -qF "\"error\":\"packed path (W4-g32 asym act-order weights): $need" <<<"$out" ||
    fail "latency row without the kernel error: $out"
! grep -q 'tokens_per_sec\|prefill' <<<"$out" || fail "latency row has a speed figure for a path that cannot run: $out"

out=$("$BIN" run --model "$T/ao.ptq" --method fp16 --bits W16A16 --eval ppl:tinystories --seqlen 64 --limit-windows 1 \
    --no-progress 2>&1)
ppl=$(sed -n 's/.*"ppl":\([0-9.e+]*\).*/\1/p' <<<"$out")
[ -n "$ppl" ] && awk -v p="$ppl" 'BEGIN { exit !(p > 1 && p < 1e9) }' || fail "no finite ppl on the act-order file: $out"

# a file whose kernels exist: run's latency row times its packed path against its dequantized FP32 twin
# (the file has no FP model beside it)
expect 0 "exported" "$BIN" export --model "$T/tiny" --method rtn --bits W4A16 --out "$T/r.ptq"
out=$("$BIN" run --model "$T/r.ptq" --method rtn --bits W4A16 --eval latency:T=8:ctx=16:reps=5 --no-progress 2>&1)
grep -q '"prefill_T8_speedup":[0-9]' <<<"$out" || fail "no latency figure for an exported file: $out"

if [ "$fails" -ne 0 ]; then
    echo "cli_ptq_nokernel: $fails failure(s)"
    exit 1
fi
echo "cli_ptq_nokernel: all checks passed"
