#!/usr/bin/env bash
# big7b.sh — the 7B-class memory/speed table: every method on a
# LLaMA-2-7B-shaped random bf16 checkpoint (make-random-checkpoint), quantized
# and evaluated with --stream (one block's fp32 weights at a time; zero-shot
# and KLD run on the compact quantized model the pass leaves), plus the FP
# model evaluated in RAM resident in bf16. One markdown row per cell:
#   method | bits | quantize s | peak RSS GiB (the cell's own) | estimate GiB | ppl tok/s | zero-shot items/s | KLD
#   | export bytes (export --stream: quantized block by block, written from the packed codes) | export peak RSS GiB
#   | .ptq eval peak RSS GiB (the exported file loaded and evaluated: ppl, zero-shot, KLD) | .ptq ppl tok/s
# Usage: scripts/big7b.sh [BIN]
# env: LAYERS (32; 2 gives a quick 7B-shaped check), CKPT (checkpoint dir,
#      made when missing), TOK (LLaMA-2 tokenizer.model), WINDOWS (ppl windows,
#      4), SEQLEN (512), ITEMS (zero-shot items, 50), NSAMPLES (calibration, 32),
#      METHODS ("rtn:W4A16 smoothquant:W4A4KV4 gptq:W4A16 quarot:W4A4KV4
#      specquant:W4A4KV4 septq:W4A16 ruquant:W4A4KV4"; method:bit-spec, the
#      spec may hold colons: rtn:W4A4KV4-asym-a:asym), MAXRSS (GiB, 20),
#      OMP_NUM_THREADS (2), FP (1; 0 skips the fp16 row), EXPORT (1; 0 skips the export columns), LATENCY (layers: instead of the cells, the latency table of
#      `bench --shape llama7b --layers LATENCY --vocab 32000` for FP32 and each method; LAT_T 128, LAT_CTX 512).
#      Needs ~14 GB of disk for 32 layers.
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
OUT=$(mktemp -d)
num() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$2" | head -1; }
evaluate() { # rows-file model method bits [args...]: the three tasks on MODEL, rows to the file
    (cd "$OUT" && "$BIN" run --model "$2" --tokenizer "$TOK" --method "$3" --bits "$4" "${@:5}" --no-progress \
        --eval "ppl:wikitext2,zeroshot:piqa,kld:wikitext2" --seqlen "$SEQLEN" --limit-windows "$WINDOWS" \
        --limit "$ITEMS" --max-rss "$MAXRSS" 2>"$1.err" | grep '^{' >"$1")
}
peak_gib() { # the largest peak_rss_kb of a rows file, in GiB
    for r in $(grep -o '"peak_rss_kb":[0-9.e+-]*' "$1" | cut -d: -f2); do echo "$r"; done |
        sort -g | tail -1 | awk '{ printf "%.2f", $1 / 1048576 }'
}
cell() { # method bits [--stream]
    local rows="$OUT/$1-$2.jsonl"
    evaluate "$rows" "$CKPT" "$1" "$2" "${@:3}" --nsamples "$NSAMPLES"
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
    local eb=- ep=- qp=- qt=-
    if [ "${3:-}" = --stream ] && [ "${EXPORT:-1}" = 1 ]; then # the streamed export: file bytes and the process peak
        /usr/bin/time -f "%M" -o "$OUT/$1.time" "$BIN" export --model "$CKPT" --tokenizer "$TOK" --method "$1" --bits "$2" \
            --nsamples "$NSAMPLES" --stream --out "$OUT/$1.ptq" >"$OUT/$1.export.log" 2>&1 &&
            eb=$(stat -c %s "$OUT/$1.ptq") ep=$(awk '{ printf "%.2f", $1 / 1048576 }' "$OUT/$1.time" | tail -1)
        if [ -f "$OUT/$1.ptq" ]; then # the exported file on its own: loaded compact, evaluated
            evaluate "$OUT/$1-ptq.jsonl" "$OUT/$1.ptq" "$1" "$2" # as stored: the method and bits it records
            grep -q '"task":"ppl:' "$OUT/$1-ptq.jsonl" &&
                qp=$(peak_gib "$OUT/$1-ptq.jsonl") qt=$(num tokens_per_sec "$(grep '"task":"ppl:' "$OUT/$1-ptq.jsonl")")
        fi
        rm -f "$OUT/$1.ptq"
    fi
    printf '| %s | %s | %.1f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$(num quant_seconds "$p")" \
        "$(awk -v k="$peak" 'BEGIN{print k/1048576}')" "$(awk -v k="$est" 'BEGIN{print k/1048576}')" \
        "$(num tokens_per_sec "$p")" "$(awk -v n="$zn" -v s="$zs" 'BEGIN{ if (s > 0) printf "%.3f", n/s; else print "-" }')" \
        "$(num kld_mean "$k")" "$eb" "$ep" "$qp" "$qt"
}
latency() { # method bits: one row of the 7B-shaped latency table (bench's random-weight model, LATENCY layers)
    local log="$OUT/latency-$1-$2.txt"
    "$BIN" bench --shape llama7b --layers "$LATENCY" --vocab 32000 --method "$1" --bits "$2" --tokens "$LAT_T" \
        --ctx "$LAT_CTX" --reps 5 --min-ms 0 --threads "$OMP_NUM_THREADS" >"$log" 2>&1 ||
        { echo "| $1 | $2 | failed: $(tail -1 "$log" | cut -c1-160) | | | | | | |"; return; }
    awk -v m="$1" -v b="$2" '
        $1 == "prefill" && $2 ~ /^T=/ { pp = $4; pf = $8; pr = $NF }
        $1 == "decode" && $3 == "packed" { dp = $4; df = $8; dr = $NF }
        $1 == "decode" && $3 == "reads" { gsub(/[(%]/, "", $7); frac = $7; bw = $9 }
        $1 == "weight" { wb = $3 }
        END { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s%% of %s GB/s |\n", m, b, pp, pf, pr, dp, df, dr, wb / 1e6, frac, bw }' "$log"
}
if [ "${LATENCY:-0}" -gt 0 ]; then # the latency table instead of the cells
    LAT_T=${LAT_T:-128} LAT_CTX=${LAT_CTX:-512}
    echo "# latency: bench --shape llama7b --layers $LATENCY --vocab 32000, prefill T=$LAT_T (last-position logits), decode at ctx $LAT_CTX, median of 5"
    echo "| method | bits | prefill packed tok/s | prefill fp32 | ratio | decode packed tok/s | decode fp32 | ratio | weight MB | decode read / bandwidth |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for mb in fp16:W16A16 $METHODS; do latency "${mb%%:*}" "${mb#*:}"; done
    echo "logs: $OUT"
    exit 0
fi
[ -f "$CKPT/config.json" ] ||
    "$BIN" make-random-checkpoint --shape llama2-7b --layers "$LAYERS" --dtype bf16 --shards 2 --out "$CKPT" || exit 1
echo "# $CKPT: $(du -sh "$CKPT" | cut -f1), $LAYERS layers, $OMP_NUM_THREADS threads, $(date -u +%FT%TZ), load $(cut -d' ' -f1 /proc/loadavg)"
echo "| method | bits | quantize s | peak RSS GiB | estimate GiB | ppl tok/s | zero-shot items/s | KLD mean | export bytes | export peak GiB | .ptq eval peak GiB | .ptq ppl tok/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
[ "${FP:-1}" = 1 ] && cell fp16 W16A16 # in RAM, weights resident in bf16 (FP=0: the method rows only)
for mb in $METHODS; do cell "${mb%%:*}" "${mb#*:}" --stream; done
echo "rows and logs: $OUT"
