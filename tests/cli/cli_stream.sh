#!/usr/bin/env bash
# cli_stream.sh — `ptqbench run --stream`: on a random tiny HF checkpoint the
# streamed cell (quantize + perplexity one block at a time) prints the same
# perplexity as the in-RAM cell and per-block timings, and the same
# zero-shot and KLD metrics; bad input gets one `error:` line (exit 2).
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
cli_scratch

ROOT=$(data_root)
TOK="$ROOT/models/tinystories-656k/tokenizer.json" # 2048 ids < the model's 32000: fast, and enough here
cfg=(--tokenizer "$TOK" --eval ppl:tinystories --seqlen 64 --limit-windows 2 --calib tinystories-calib --nsamples 4
    --calib-seqlen 32)
expect 0 "wrote" "$BIN" make-random-checkpoint --shape tiny --dtype bf16 --out "$T/tiny"
ppl() { sed -n 's/^{.*"ppl":\([0-9.e+-]*\).*/\1/p' <<<"$1"; }
for mb in rtn:W4A8KV8 gptq:W4A16; do
    a=$("$BIN" run --model "$T/tiny" --method "${mb%%:*}" --bits "${mb##*:}" "${cfg[@]}" --no-progress 2>/dev/null)
    b=$("$BIN" run --model "$T/tiny" --method "${mb%%:*}" --bits "${mb##*:}" "${cfg[@]}" --stream 2>"$T/err")
    [ -n "$(ppl "$a")" ] && [ "$(ppl "$a")" = "$(ppl "$b")" ] || fail "$mb: in-RAM ppl '$(ppl "$a")' != streamed '$(ppl "$b")'"
    grep -q '"stream":{' <<<"$b" || fail "$mb: no stream section in the row: $b"
    grep -q "^block  2/2: load .* quantize .* forward .* peak" "$T/err" || fail "$mb: no per-block line: $(cat "$T/err")"
done

# zero-shot and KLD streamed: the quantized blocks stay compact after their
# pass (qweights alone) and the tasks run on them; the FP log-probs for KLD
# come first from the bf16-resident FP model. Same metrics as in RAM.
metrics() { grep -o '"task":"[^"]*","metrics":{[^}]*}' <<<"$1" |
    sed -E 's/"(tokens_per_sec|seconds)":[0-9.e+-]*//g; s/"cache":"[a-z]*"//'; } # timings; KLD cache miss/hit
ATOK="$(cd "$(dirname "$TOK")" && pwd)/$(basename "$TOK")"
zcfg=(--tokenizer "$ATOK" --eval zeroshot:piqa,kld:tinystories,ppl:tinystories --limit 6 --seqlen 64 --limit-windows 2
    --no-progress)
a=$(cd "$T" && "$BIN" run --model "$T/tiny" --method rtn --bits W4A8KV8 "${zcfg[@]}" 2>&1) # KLD cache under $T/results
rm -rf "$T/results"
b=$(cd "$T" && "$BIN" run --model "$T/tiny" --method rtn --bits W4A8KV8 "${zcfg[@]}" --stream 2>&1)
[ "$(metrics "$a" | wc -l)" = 3 ] && [ "$(metrics "$a")" = "$(metrics "$b")" ] ||
    fail "streamed zeroshot/kld/ppl differ from in RAM: $(metrics "$a") vs $(metrics "$b") $b"

# export --stream: each block written to FILE.tmp as soon as it is quantized,
# renamed at the end: the same file byte for byte as the in-RAM export
for mb in gptq:W4A16 quarot:W4A8KV8; do
    ecfg=(--model "$T/tiny" --tokenizer "$ATOK" --method "${mb%%:*}" --bits "${mb##*:}" --calib tinystories-calib
        --nsamples 4 --calib-seqlen 32)
    expect 0 "exported" "$BIN" export "${ecfg[@]}" --out "$T/a.ptq"
    expect 0 "exported" "$BIN" export "${ecfg[@]}" --out "$T/b.ptq" --stream
    cmp -s "$T/a.ptq" "$T/b.ptq" || fail "$mb: export --stream wrote a different file than the in-RAM export"
    [ ! -e "$T/b.ptq.tmp" ] || fail "$mb: export --stream left $T/b.ptq.tmp behind"
done
expect 2 "not a Hugging Face checkpoint" "$BIN" export --model stories260K --method rtn --bits W4A16 --out "$T/c.ptq" \
    --stream

# a truncated shard: one error naming the shard and the tensor, no result row
expect 0 "wrote" "$BIN" make-random-checkpoint --shape tiny --dtype bf16 --shards 2 --out "$T/two"
shard="$T/two/model-00002-of-00002.safetensors"
truncate -s $(($(stat -c %s "$shard") - 1000)) "$shard"
out=$("$BIN" run --model "$T/two" --method rtn --bits W4A16 "${cfg[@]}" --stream 2>&1)
grep -q "model-00002-of-00002.safetensors: tensor '.*': .*truncated" <<<"$out" ||
    fail "truncated shard: no error naming the shard and the tensor: $out"
! grep -q '^{' <<<"$out" || fail "truncated shard: a result row was written: $out"

# bad input
expect 2 "not a Hugging Face checkpoint" "$BIN" run --model stories260K --method rtn --bits W4A16 \
    --eval ppl:tinystories --stream
expect 2 "not a Hugging Face checkpoint directory" "$BIN" run --model "$T" --method rtn --bits W4A16 \
    --eval ppl:tinystories --stream
expect 2 "unknown method" "$BIN" run --model "$T/tiny" --method nosuch --bits W4A16 --eval ppl:tinystories --stream

if [ "$fails" -ne 0 ]; then
    echo "cli_stream: $fails failure(s)"
    exit 1
fi
echo "cli_stream: all checks passed"
