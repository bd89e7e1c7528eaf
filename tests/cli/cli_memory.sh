#!/usr/bin/env bash
# cli_memory.sh — memory follows the window evaluated, not the positions a
# model declares: stories260K (llama2.c) and TinyStories-656K (Hugging
# Face) patched to declare max_seq = 1,048,576 evaluate perplexity at
# --seqlen 256 (and 4096) under a 1.5 GB address-space limit, with the same
# perplexity as the unpatched models and a small peak RSS.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ROOT=$(data_root)
LIMIT=$((1500 * 1000 * 1000))
LIM=(prlimit --as=$LIMIT)
# AddressSanitizer reserves terabytes of shadow address space: there the
# limit and the RSS bound are left out (ASan checks every access instead).
if grep -q __asan_init "$BIN"; then LIM=(); fi
ppl_of() { sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' <<<"$1"; }

# llama2.c: header seq_len (int32 at byte 24) = 1048576; stories260K ties its
# embeddings, so freq_cis (seq_len x head_dim floats, ignored by the loader)
# ends the file: the patched file is the original with that tail resized.
M="$ROOT/models/stories260K/stories260K.bin"
cp "$M" "$T/big.bin"
cp "$ROOT/models/stories260K/tok512.bin" "$T/tok512.bin"
printf '\x00\x00\x10\x00' | dd of="$T/big.bin" bs=1 seek=24 conv=notrunc status=none
size=$(stat -c %s "$M")
truncate -s $((size - 512 * 8 * 4 + 1048576 * 8 * 4)) "$T/big.bin"
"$BIN" info "$T/big.bin" | grep -q "max_seq      1048576" || fail "patched llama2.c model does not declare 1048576"

# HF: max_position_embeddings = 1048576 beside the published weights
mkdir "$T/hf"
for f in "$ROOT"/models/tinystories-656k/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$T/hf/"; done
rm "$T/hf/config.json"
sed 's/"max_position_embeddings": 512/"max_position_embeddings": 1048576/' \
    "$ROOT/models/tinystories-656k/config.json" >"$T/hf/config.json"
grep -q '"max_position_embeddings": 1048576' "$T/hf/config.json" || fail "config.json not patched"

# Under the limit, the 1M-position models give the unpatched models' perplexity.
check() { # label model-orig model-big seqlen
    local ref out rss
    ref=$("$BIN" ppl --model "$2" --dataset tinystories --seqlen "$4" --limit-windows 2 2>&1)
    out=$("${LIM[@]}" "$BIN" ppl --model "$3" --dataset tinystories --seqlen "$4" --limit-windows 2 2>&1) ||
        { fail "$1: ppl at --seqlen $4 under a ${LIMIT}-byte address space: $out"; return; }
    [ -n "$(ppl_of "$ref")" ] && [ "$(ppl_of "$ref")" = "$(ppl_of "$out")" ] ||
        fail "$1: ppl $(ppl_of "$out") of the 1M-position model differs from $(ppl_of "$ref")"
    if [ -x /usr/bin/time ] && [ ${#LIM[@]} -gt 0 ]; then
        rss=$(/usr/bin/time -f %M "$BIN" ppl --model "$3" --dataset tinystories --seqlen "$4" --limit-windows 1 \
            2>&1 >/dev/null | tail -1)
        [ "$rss" -lt 300000 ] 2>/dev/null || fail "$1: peak RSS ${rss} kB at --seqlen $4 (expected < 300 MB)"
        echo "$1 --seqlen $4: peak RSS ${rss} kB"
    fi
}
check stories260K stories260K "$T/big.bin" 256
check tinystories-656k tinystories-656k "$T/hf" 256
# above the unpatched model's 512 positions: no reference, must run within the limit
out=$("${LIM[@]}" "$BIN" ppl --model "$T/hf" --dataset tinystories --seqlen 4096 --limit-windows 1 2>&1) ||
    fail "tinystories-656k (1M positions) at --seqlen 4096 under the limit: $out"
[ -n "$(ppl_of "$out")" ] || fail "no ppl at --seqlen 4096: $out"

# the other evaluators, same limit, same results as the unpatched model
out=$("${LIM[@]}" "$BIN" generate --model "$T/big.bin" --steps 64 2>&1) ||
    fail "generate on the 1M-position model under the limit: $out" # decodes into --steps positions
[ "$out" = "$("$BIN" generate --model stories260K --steps 64 2>&1)" ] || fail "generate differs: $out"
scores() { grep -o '"\(acc\|acc_norm\|tokens_forwarded\|truncated\)":[^,]*' <<<"$1" | tr '\n' ' '; }
ref=$("$BIN" zeroshot --model stories260K --tasks piqa --limit 8 2>/dev/null)
out=$("${LIM[@]}" "$BIN" zeroshot --model "$T/big.bin" --tasks piqa --limit 8 2>&1) ||
    fail "zeroshot on the 1M-position model under the limit: $out"
[ -n "$(scores "$ref")" ] && [ "$(scores "$ref")" = "$(scores "$out")" ] ||
    fail "zeroshot differs on the 1M-position model: $(scores "$out") (expected $(scores "$ref"))"
out=$("${LIM[@]}" "$BIN" kld --model "$T/big.bin" --method rtn --bits W4A8 --seqlen 256 --limit-windows 2 \
    --cache-dir "$T/kc" 2>&1) || fail "kld on the 1M-position model under the limit: $out"
out=$("${LIM[@]}" "$BIN" bench --model "$T/big.bin" --method rtn --bits W4A4KV8 --tokens 16 --ctx 32 --reps 5 \
    --min-ms 1 2>&1) || fail "bench on the 1M-position model under the limit: $out"
grep -q "packed path" <<<"$out" || fail "bench on the 1M-position model: $out"

if [ "$fails" -ne 0 ]; then echo "cli_memory: $fails failure(s)"; exit 1; fi
echo "cli_memory: all checks passed"
