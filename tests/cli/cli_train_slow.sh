#!/usr/bin/env bash
# cli_train_slow.sh — `ptqbench train` killed with SIGKILL twice mid-run and
# restarted each time ends in the same model.safetensors bytes (and the same
# final losses) as an uninterrupted run with the same thread count; the
# checkpoint in between is never a torn file (atomic rename).
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
pid=
export OMP_NUM_THREADS=2
ROOT=$(cd "$("$BIN" datasets list | sed -n 's/^data root: //p')" && pwd)
command -v spm_train >/dev/null || { echo "FAIL: spm_train missing (Debian sentencepiece; scripts/setup.sh)"; exit 1; }
awk '/^<\|endoftext\|>$/ { n++; next } n >= 500 { print }' "$ROOT/datasets/train/tinystories/tinystories_valid_first1000.txt" |
    awk -v T="$T/train.txt" -v V="$T/val.txt" 'BEGIN { RS = ""; ORS = "\n\n" } { print > (NR % 20 ? T : V) }'
spm_train --input="$T/train.txt" --model_prefix="$T/tok" --model_type=bpe --vocab_size=512 --character_coverage=1.0 \
    --byte_fallback=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 \
    --normalization_rule_name=identity --remove_extra_whitespaces=false --minloglevel=2 >/dev/null 2>&1 ||
    fail "spm_train failed"
for run in full killed; do
    cat > "$T/$run.json" <<JSON
{"name": "toy", "out": "$T/$run",
 "model": {"dim": 64, "n_layers": 2, "n_heads": 1, "n_kv_heads": 1, "hidden_dim": 172, "vocab_size": 512, "max_seq": 64},
 "data": {"train": "$T/train.txt", "val": "$T/val.txt", "tokenizer": "$T/tok.model"},
 "train": {"seed": 11, "steps": 36, "batch": 8, "seq_len": 64, "lr": 0.003, "lr_min": 0.0003, "warmup": 4},
 "eval": {"every": 12, "windows": 4},
 "checkpoint": {"every": 4}}
JSON
done
expect 0 '"finished":true' "$BIN" train "$T/full.json"
steps() { grep -c '"step"' "$T/killed/train_log.jsonl" 2>/dev/null || echo 0; }
for at in 9 22; do # SIGKILL once the log has passed step `at` (mid-way between checkpoints)
    "$BIN" train "$T/killed.json" > "$T/out.txt" 2>&1 &
    pid=$!
    # steps of 512 tokens and a 10 ms poll: at batch 2 x 32 tokens a Zen 5 host ran all 36 steps in 0.14 s, so
    # a 100 ms poll saw the run finished (a zombie, which kill still accepts) and the test failed by timing
    for _ in $(seq 6000); do
        [ "$(steps)" -ge "$at" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    kill -9 $pid 2>/dev/null || fail "the run ended before the kill at step $at: $(cat "$T/out.txt")"
    wait $pid 2>/dev/null
    [ -e "$T/killed/model.safetensors" ] && fail "a killed run wrote the model"
    ls "$T"/killed/*.tmp.* >/dev/null 2>&1 && rm -f "$T"/killed/*.tmp.* # a torn temp file may stay; never the checkpoint
done
"$BIN" train "$T/killed.json" > "$T/out.txt" 2>&1 || fail "the resumed run failed: $(cat "$T/out.txt")"
grep -Eq '"resumed_from":(2[0-9]|3[0-9]),.*"finished":true' "$T/out.txt" || fail "not resumed from the second kill's checkpoint"
cmp -s "$T/full/model.safetensors" "$T/killed/model.safetensors" || fail "killed + resumed run differs from the uninterrupted one"
[ "$(tail -1 "$T/full/train_log.jsonl")" = "$(tail -1 "$T/killed/train_log.jsonl")" ] || fail "final log lines differ"
[ "$(steps)" = 36 ] || fail "log of the resumed run has $(steps) steps, not 36"
exit $((fails > 0))
