#!/usr/bin/env bash
# cli_hf.sh — Hugging Face checkpoints through the CLI: TinyStories-656K
# loads as published and writes a coherent greedy story; a random tiny
# checkpoint gives the same perplexity in RAM and streamed (--stream); bad
# checkpoints and tokenizers get one `error:` line and exit 1 (usage: 2).
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT


ROOT=$(data_root)
SPM="$ROOT/models/tokenizers/llama2-32k/tokenizer.model"
TS="$ROOT/models/tinystories-656k"

# TinyStories-656K, by short name and by directory
out=$("$BIN" info tinystories-656k) || fail "info tinystories-656k: $out"
grep -q "parameters   656000" <<<"$out" && grep -q "hf-half" <<<"$out" && grep -q "hf-bpe" <<<"$out" \
    || fail "info tinystories-656k: $out"
"$BIN" info "$TS" | grep -q "vocab_size   2048" || fail "info by directory"
story=$("$BIN" generate --model tinystories-656k --prompt "Once upon a time, " --steps 40)
grep -q "^Once upon a time, there was a little girl named Lily" <<<"$story" || fail "greedy story: $story"
story2=$("$BIN" generate --model tinystories-656k --prompt "<|start_story|>Once upon a time, " --steps 40)
[ "$story" = "$story2" ] || fail "literal <|start_story|> prompt: $story2"
out=$("$BIN" ppl --model tinystories-656k --dataset tinystories --limit-windows 4 2>/dev/null)
ppl=$(sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' <<<"$out")
awk -v p="$ppl" 'BEGIN { exit !(p > 1 && p < 100) }' || fail "tinystories-656k ppl '$ppl' not far below 2048"

# random tiny checkpoint (bf16, 2 shards): in-RAM and streamed perplexity agree
expect 0 "wrote" "$BIN" make-random-checkpoint --shape tiny --dtype bf16 --shards 2 --out "$T/tiny"
[ -f "$T/tiny/model.safetensors.index.json" ] || fail "no shard index written"
a=$("$BIN" ppl --model "$T/tiny" --tokenizer "$SPM" --dataset ptb --seqlen 64 --limit-windows 3 2>/dev/null |
    sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p')
b=$("$BIN" ppl --model "$T/tiny" --tokenizer "$SPM" --dataset ptb --seqlen 64 --limit-windows 3 --stream 2>/dev/null |
    sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "in-RAM ppl '$a' != streamed ppl '$b'"

# export: the saved model evaluates like the freshly quantized one
expect 0 "exported" "$BIN" export --model tinystories-656k --method rtn --bits W4A8KV8 --out "$T/ts.ptq"
a=$("$BIN" ppl --model "$T/ts.ptq" --dataset tinystories --limit-windows 3 2>/dev/null | sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p')
b=$("$BIN" run --model tinystories-656k --method rtn --bits W4A8KV8 --eval ppl:tinystories --limit-windows 3 \
    --no-progress 2>/dev/null | sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > 0 && (a - b) ^ 2 < 1e-8 * b * b) }' || fail "exported ppl '$a' != run ppl '$b'"
head -c 30000 "$T/ts.ptq" >"$T/trunc.ptq"
expect 1 "truncated" "$BIN" info "$T/trunc.ptq"
expect 2 "unknown method" "$BIN" export --model tinystories-656k --method nosuch --bits W4 --out "$T/x.ptq"

# an exported file is evaluated as stored: its KLD is keyed by the FP checkpoint it came from (the file records its
# path and weights hash), equals the in-RAM cell's, and needs that model's FP log-probs; no second quantization
expect 0 "exported" "$BIN" export --model "$T/tiny" --tokenizer "$SPM" --method rtn --bits W4A16 --out "$T/t.ptq"
export PTQBENCH_DATA="${PTQBENCH_DATA:-$(cd "$ROOT" && pwd)}" # the cells below run in a scratch directory (their KLD cache)
kcfg=(--tokenizer "$(realpath "$SPM")" --eval kld:ptb --seqlen 64 --limit-windows 2 --no-progress)
mkdir -p "$T/k" && cd "$T/k" || fail "cd $T/k"
expect 1 "FP log-probs of that model for ptb" "$BIN" run --model "$T/t.ptq" --method rtn --bits W4A16 "${kcfg[@]}"
expect 1 "would quantize it again" "$BIN" run --model "$T/t.ptq" --method gptq --bits W4A16 "${kcfg[@]}"
expect 0 "kld_mean" "$BIN" run --model "$T/tiny" --method fp16 --bits W16A16 "${kcfg[@]}"
a=$("$BIN" run --model "$T/tiny" --method rtn --bits W4A16 "${kcfg[@]}" 2>/dev/null | sed -n 's/.*"kld_mean":\([0-9.e-]*\).*/\1/p')
b=$("$BIN" run --model "$T/t.ptq" --method rtn --bits W4A16 "${kcfg[@]}" 2>/dev/null | sed -n 's/.*"kld_mean":\([0-9.e-]*\).*/\1/p')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > 0 && a == b) }' || fail "exported file's KLD '$b' != in-RAM KLD '$a' (or 0)"
cd - >/dev/null || true

# bad input
expect 2 "--shape: unknown shape" "$BIN" make-random-checkpoint --shape gpt5 --out "$T/x"
expect 2 "--dtype" "$BIN" make-random-checkpoint --shape tiny --dtype int3 --out "$T/x"
expect 2 "not a Hugging Face checkpoint" "$BIN" ppl --model stories260K --stream
mkdir -p "$T/bad"
cp "$TS/config.json" "$TS/tokenizer.json" "$T/bad/"
head -c 100000 "$TS/model.safetensors" >"$T/bad/model.safetensors"
expect 1 "beyond the data block" "$BIN" info "$T/bad"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$T/bad/model.safetensors"
expect 1 "beyond the file" "$BIN" info "$T/bad"
cp "$TS/model.safetensors" "$T/bad/"
printf '{"model":{"type":"WordPiece","vocab":{"a":0}}}' >"$T/bad/tokenizer.json"
expect 1 "tokenizer model type 'WordPiece' is not supported" "$BIN" info "$T/bad"
cp "$TS/tokenizer.json" "$T/bad/"
sed 's/"hidden_size": 128/"hidden_size": 256/' "$TS/config.json" >"$T/bad/config.json"
expect 1 "config.json implies" "$BIN" info "$T/bad"
echo '{"model_type": "llama",' >"$T/bad/config.json"
expect 1 "malformed JSON" "$BIN" info "$T/bad"
rm "$T/tiny/model-00002-of-00002.safetensors"
expect 1 "is missing" "$BIN" info "$T/tiny" --tokenizer "$SPM"

if [ "$fails" -ne 0 ]; then
    echo "cli_hf: $fails failure(s)"
    exit 1
fi
echo "cli_hf: all checks passed"
