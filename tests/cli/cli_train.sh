#!/usr/bin/env bash
# cli_train.sh — `ptqbench train`: a recipe with a bad field gets one error
# naming the field and exit 2; a SentencePiece BPE tokenizer made by spm_train
# loads and round-trips through --check-tokenizer; a tiny run stopped twice
# (--stop-after) and resumed from its checkpoint ends in the same
# model.safetensors bytes as an uninterrupted run (an edited `expected` note
# keeps the run's identity, a changed training field does not); the output directory loads
# in `ptqbench ppl`, `generate`, `stats` and scripts/zoo_stats.sh. (kill -9: cli_train_slow.sh.)
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
cli_scratch
ROOT=$(cd "$("$BIN" datasets list | sed -n 's/^data root: //p')" && pwd)
command -v spm_train >/dev/null || { echo "FAIL: spm_train missing (Debian sentencepiece; scripts/setup.sh)"; exit 1; }

# TinyStories 501-1000 (never evaluation text), every 20th story held out
awk '/^<\|endoftext\|>$/ { n++; next } n >= 500 { print }' "$ROOT/datasets/train/tinystories/tinystories_valid_first1000.txt" |
    awk -v T="$T/train.txt" -v V="$T/val.txt" 'BEGIN { RS = ""; ORS = "\n\n" } { print > (NR % 20 ? T : V) }'
spm_train --input="$T/train.txt" --model_prefix="$T/tok" --model_type=bpe --vocab_size=512 --character_coverage=1.0 \
    --byte_fallback=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 \
    --normalization_rule_name=identity --remove_extra_whitespaces=false --minloglevel=2 >/dev/null 2>&1 ||
    fail "spm_train failed"
expect 0 "round trip 81/81 exact" "$BIN" train --check-tokenizer "$T/tok.model" --text "$T/val.txt"
expect 1 "error:" "$BIN" train --check-tokenizer "$T/nosuch.model" --text "$T/val.txt"
expect 2 "go together" "$BIN" train --check-tokenizer "$T/tok.model"

cfg() { # cfg NAME OUT [JSON-FRAGMENT-REPLACING-TRAIN]: a tiny recipe
    local tr='"train": {"seed": 5, "steps": 8, "batch": 2, "seq_len": 16, "lr": 0.003, "lr_min": 0.0003, "warmup": 2}'
    [ -n "${3:-}" ] && tr=$3
    cat > "$T/$1.json" <<JSON
{"name": "$1", "out": "$2",
 "model": {"dim": 64, "n_layers": 1, "n_heads": 1, "n_kv_heads": 1, "hidden_dim": 96, "vocab_size": 512, "max_seq": 64},
 "data": {"train": "$T/train.txt", "val": "$T/val.txt", "tokenizer": "$T/tok.model"},
 $tr,
 "eval": {"every": 4, "windows": 2},
 "checkpoint": {"every": 2, "snapshots": [0.5]},
 "expected": {"val_loss": 5.0, "note": "toy"}}
JSON
}
bad() { # bad NEEDLE TRAIN-FRAGMENT
    cfg bad "$T/bad" "$2"
    expect 2 "$1" "$BIN" train "$T/bad.json"
}
bad "train.lr: expected a number, got a string" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr": "big"}'
bad "train.lr: expected a number in" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr": 5}'
bad "train.batch: expected an integer" '"train": {"seed": 1, "steps": 8, "batch": 2.5, "seq_len": 16, "lr": 0.1}'
bad "train.steps: missing" '"train": {"seed": 1, "batch": 2, "seq_len": 16, "lr": 0.1}'
bad "train.lr_max: unknown field" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr_max": 0.1}'
bad "train.seq_len 128 is above model.max_seq 64" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 128, "lr": 0.1}'
bad "train.warmup 8 must be below train.steps 8" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr": 0.1, "warmup": 8}'
bad "train.lr_min 0.5 is above train.lr" '"train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr": 0.1, "lr_min": 0.5}'
bad "train: expected an object" '"train": [1]'
bad "zoo: unknown field" '"zoo": 1, "train": {"seed": 1, "steps": 8, "batch": 2, "seq_len": 16, "lr": 0.1}'
cfg bad "$T/bad"
sed 's/\[0.5\]/[0.5, 0.2]/' "$T/bad.json" > "$T/bad2.json"
expect 2 "checkpoint.snapshots[1]: expected increasing fractions" "$BIN" train "$T/bad2.json"
sed 's/"n_heads": 1,/"n_heads": 3,/' "$T/bad.json" > "$T/bad2.json"
expect 2 "model.dim 64 is not a multiple of model.n_heads 3" "$BIN" train "$T/bad2.json"
sed 's/"tied_embeddings_x": 1//; s/"max_seq": 64}/"max_seq": 64, "tied_embeddings": 1}/' "$T/bad.json" > "$T/bad2.json"
expect 2 "model.tied_embeddings: expected true or false" "$BIN" train "$T/bad2.json"
head -c 100 "$T/bad.json" > "$T/bad2.json"
expect 2 "not valid JSON" "$BIN" train "$T/bad2.json"
expect 2 "expected one CONFIG.json" "$BIN" train
expect 2 "error:" "$BIN" train "$T/nosuch.json"
sed "s|$T/tok.model|$T/nosuch.model|" "$T/bad.json" > "$T/bad2.json"
expect 1 "data.tokenizer" "$BIN" train "$T/bad2.json"

# every committed recipe parses (it then fails on the missing tokenizer, exit 1, not on its fields)
for r in experiments/zoo/zoo-*.json; do
    sed "s|data/zoo/tokenizer.model|$T/nosuch/tokenizer.model|" "$r" > "$T/recipe.json"
    expect 1 "data.tokenizer: $T/nosuch/tokenizer.model" "$BIN" train "$T/recipe.json"
done

# uninterrupted vs stopped twice and resumed: same bytes
cfg full "$T/full"
cfg part "$T/part"
sed -i 's/"name": "part"/"name": "full"/' "$T/part.json" # same identity except the out path
expect 0 '"finished":true' "$BIN" train "$T/full.json"
expect 0 '"finished":false' "$BIN" train "$T/part.json" --stop-after 3
sed 's/"lr": 0.003,/"lr": 0.002,/' "$T/part.json" > "$T/other.json" # another recipe: its checkpoint is refused
expect 1 "checkpoint of another model or method" "$BIN" train "$T/other.json"
sed -i 's/"note": "toy"/"note": "toy; measured: 8 steps"/' "$T/part.json" # documentation only: the same run
expect 0 '"resumed_from":3' "$BIN" train "$T/part.json" --stop-after 3
[ -e "$T/part/model.safetensors" ] && fail "an unfinished run wrote the model"
expect 0 '"resumed_from":6' "$BIN" train "$T/part.json"
cmp -s "$T/full/model.safetensors" "$T/part/model.safetensors" || fail "resumed run differs from the uninterrupted one"
[ "$(grep -c '"step"' "$T/part/train_log.jsonl")" = 8 ] || fail "log of the resumed run does not have 8 steps"
expect 0 '"finished":true' "$BIN" train "$T/full.json" # a finished run only rewrites its output
cmp -s "$T/full/model.safetensors" "$T/part/model.safetensors" || fail "re-running a finished recipe changed the model"

# the output loads where every model loads
expect 0 '"task":"ppl:tinystories"' "$BIN" ppl --model "$T/full" --dataset tinystories --seqlen 32 --limit-windows 2
expect 0 "Once" "$BIN" generate --model "$T/full" --prompt "Once" --steps 8 --temperature 0
expect 0 "| 0 | down_proj.in | 96 |" "$BIN" stats "$T/full" --nsamples 2 --seqlen 32 --no-plots --out "$T/stats"
# the half-way snapshot is a model of its own
expect 0 "| 0 | qkv_proj.in | 64 |" "$BIN" stats "$T/full/step4" --nsamples 2 --seqlen 32 --no-plots --out "$T/stats4"
cmp -s "$T/full/step4/model.safetensors" "$T/full/model.safetensors" && fail "the snapshot is the final model"

# the zoo quickstart sweep plans on a trained model (every method x 3 bit-widths + the FP row)
expect 0 "plan: 31 selected" "$BIN" sweep experiments/zoo/quickstart_zoo.json --dry-run --models "$T/full" --out "$T/qs"

# scripts/zoo_stats.sh: the snapshot, the final model and a reference side by side; each cell is the
# maximum over layers of the model's own stats table
Z="$T/zoo"
expect 0 "samples: $Z/samples.md" env PTQBENCH_BIN="$BIN" ZOO_STATS_OUT="$Z" ZOO_STATS_NSAMPLES=2 ZOO_STATS_REFS=stories260K \
    ZOO_SAMPLE_STEPS=8 bash "$(dirname "$0")/../../scripts/zoo_stats.sh" "$T/full"
grep -qF "| input | full@50% (step 4) | full@100% (step 8) | stories260K |" "$Z/outliers.md" || fail "outliers.md columns"
want=$(awk -F'","' '$2 == "down_proj.in" { v = $6 + 0; if (v > m) m = v } END { printf "%.3g", m }' "$Z"/stats/full_step8/table_*_actstats.csv)
grep -A9 "^## top/median" "$Z/outliers.md" | grep -q "^| down_proj.in | [^|]* | $want (L0) |" ||
    fail "down_proj.in top/median at 100% is not $want: $(grep -A9 '^## top/median' "$Z/outliers.md")"
[ -s "$Z/growth_full_top_ratio.png" ] || fail "no growth plot"
grep -q "^Once upon a time" "$Z/samples.md" || fail "no greedy sample: $(cat "$Z/samples.md")"
expect 2 "no such directory" bash "$(dirname "$0")/../../scripts/zoo_stats.sh" "$T/nosuch"
exit $((fails > 0))
