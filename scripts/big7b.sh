#!/usr/bin/env bash
# big7b.sh — the 7B-class memory/speed table: every method on a
# LLaMA-2-7B-shaped random bf16 checkpoint (make-random-checkpoint), quantized
# and evaluated with --stream (one block's fp32 weights at a time; zero-shot
# and KLD run on the compact quantized model the pass leaves), plus the FP
# model evaluated in RAM resident in bf16. One markdown row per cell:
#   method | bits | quantize s | peak RSS GiB (the cell's own) | estimate GiB | ppl tok/s | zero-shot items/s | KLD
#   | export bytes (export --stream: quantized block by block, written from the packed codes) | export peak RSS GiB
# Usage: scripts/big7b.sh [BIN]
# env: LAYERS (32; 2 gives a quick 7B-shaped check), CKPT (checkpoint dir,
#      made when missing), TOK (LLaMA-2 tokenizer.model), WINDOWS (ppl windows,
#      4), SEQLEN (512), ITEMS (zero-shot items, 50), NSAMPLES (calibration, 32),
#      METHODS ("rtn:W4A16 smoothquant:W4A4KV4 gptq:W4A16 quarot:W4A4KV4
#      specquant:W4A4KV4 septq:W4A16 ruquant:W4A4KV4"), MAXRSS (GiB, 20),
#      OMP_NUM_THREADS (2). Needs ~14 GB of disk for 32 layers.
# Run it on a quiet machine: it takes hours at 32 layers on 2 cores.
set -uo pipefail
BIN="${1:-build/ptqbench}"
LAYERS=${LAYERS:-32}
CKPT=${CKPT:-/tmp/ptq-llama2-7b-L$LAYERS}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
ROOT=$("$BIN" datasets list | sed -n 's/^data root: //p')
ROOT=$(cd "$ROOT" && pwd)
export PTQBENCH_DATA=${PTQBENCH_DATA:-$ROOT} # the cells run in a scratch directory (their KLD cache)
TOK=${TOK:-$ROOT/models/tokenizers/llama2-32k/tokenizer.model}
WINDOWS=${WINDOWS:-4}
SEQLEN=${SEQLEN:-512}
ITEMS=${ITEMS:-50}
NSAMPLES=${NSAMPLES:-32}
MAXRSS=${MAXRSS:-20}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
METHODS=${METHODS:-"rtn:W4A16 smoothquant:W4A4KV4 gptq:W4A16 quarot:W4A4KV4 specquant:W4A4KV4 septq:W4A16 ruquant:W4A4KV4"}
[ -f "$CKPT/config.json" ] ||
    "$BIN" make-random-checkpoint --shape llama2-7b --layers "$LAYERS" --dtype bf16 --shards 2 --out "$CKPT" || exit 1
OUT=$(mktemp -d)
echo "# $CKPT: $(du -sh "$CKPT" | cut -f1), $LAYERS layers, $OMP_NUM_THREADS threads, $(date -u +%FT%TZ), load $(cut -d' ' -f1 /proc/loadavg)"
echo "| method | bits | quantize s | peak RSS GiB | estimate GiB | ppl tok/s | zero-shot items/s | KLD mean | export bytes | export peak GiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
num() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$2" | head -1; }
cell() { # method bits [--stream]
    local rows="$OUT/$1-$2.jsonl"
    (cd "$OUT" && "$BIN" run --model "$CKPT" --tokenizer "$TOK" --method "$1" --bits "$2" "${@:3}" --no-progress \
        --eval "ppl:wikitext2,zeroshot:piqa,kld:wikitext2" --seqlen "$SEQLEN" --limit-windows "$WINDOWS" \
        --limit "$ITEMS" --nsamples "$NSAMPLES" --max-rss "$MAXRSS" 2>"$rows.err" | grep '^{' >"$rows")
    local p z k
    p=$(grep '"task":"ppl:' "$rows") z=$(grep '"task":"zeroshot:' "$rows") k=$(grep '"task":"kld:' "$rows")
    if [ -z "$p" ]; then
        echo "| $1 | $2 | failed: $(tail -1 "$rows.err" | cut -c1-160) | | | | | | | |"
        return
    fi
    local peak est zn zs
    peak=$(for r in "$p" "$z" "$k"; do num peak_rss_kb "$r"; done | sort -g | tail -1)
    est=$(num rss_estimate_kb "$p")
    zn=$(num n "$z") zs=$(num eval_seconds "$z")
    local eb=- ep=-
    if [ "${3:-}" = --stream ] && [ "${EXPORT:-1}" = 1 ]; then # the streamed export: file bytes and the process peak
        /usr/bin/time -f "%M" -o "$OUT/$1.time" "$BIN" export --model "$CKPT" --tokenizer "$TOK" --method "$1" --bits "$2" \
            --nsamples "$NSAMPLES" --stream --out "$OUT/$1.ptq" >"$OUT/$1.export.log" 2>&1 &&
            eb=$(stat -c %s "$OUT/$1.ptq") ep=$(awk '{ printf "%.2f", $1 / 1048576 }' "$OUT/$1.time" | tail -1)
        rm -f "$OUT/$1.ptq"
    fi
    printf '| %s | %s | %.1f | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n' "$1" "$2" "$(num quant_seconds "$p")" \
        "$(awk -v k="$peak" 'BEGIN{print k/1048576}')" "$(awk -v k="$est" 'BEGIN{print k/1048576}')" \
        "$(num tokens_per_sec "$p")" "$(awk -v n="$zn" -v s="$zs" 'BEGIN{ if (s > 0) printf "%.3f", n/s; else print "-" }')" \
        "$(num kld_mean "$k")" "$eb" "$ep"
}
cell fp16 W16A16 # in RAM, weights resident in bf16
for mb in $METHODS; do cell "${mb%%:*}" "${mb##*:}" --stream; done
echo "rows and logs: $OUT"
