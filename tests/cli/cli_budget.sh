#!/usr/bin/env bash
# cli_budget.sh — memory per cell: `--max-rss GiB` (run, sweep, export) refuses, before loading, a
# checkpoint larger than the budget and a cell whose estimated peak RSS is
# above it (exit 2, the estimate in the message; a sweep records the cell as
# failed, no metric row); a cell within the budget runs and its row records
# its own peak (peak_rss_scope "cell") beside the estimate.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
cli_scratch

ROOT=$(data_root)
TOK="$ROOT/models/tinystories-656k/tokenizer.json"
expect 0 "wrote" "$BIN" make-random-checkpoint --shape tiny --dtype bf16 --out "$T/tiny"
cp "$TOK" "$T/tiny/tokenizer.json" # 2048 ids < the model's vocabulary: enough here
bytes=$(cat "$T/tiny"/*.safetensors | wc -c)
cfg=(--model "$T/tiny" --eval ppl:tinystories --seqlen 64 --limit-windows 2 --no-progress)

# a budget below the file size: refused before loading, naming the size
small=$(awk -v b="$bytes" 'BEGIN { printf "%.4f", b / 2 / 1073741824 }')
expect 2 "larger than the budget; refused before loading" "$BIN" run "${cfg[@]}" --method fp16 --bits W16A16 \
    --max-rss "$small"
# above the file, below the estimate of quantizing (fp32 weights + codes + state)
mid=$(awk -v b="$bytes" 'BEGIN { printf "%.4f", b * 1.1 / 1073741824 }')
expect 2 "needs an estimated" "$BIN" run "${cfg[@]}" --method rtn --bits W4A16 --max-rss "$mid"
expect 2 "--max-rss" "$BIN" run "${cfg[@]}" --method rtn --bits W4A16 --max-rss lots

# export: the same check before loading; a refused export writes no file
expect 2 "--max-rss" "$BIN" export --model "$T/tiny" --method rtn --bits W4A16 --out "$T/x.ptq" --max-rss lots
expect 2 "needs an estimated" "$BIN" export --model "$T/tiny" --method rtn --bits W4A16 --out "$T/x.ptq" \
    --max-rss "$mid"
expect 2 "needs an estimated" "$BIN" export --model "$T/tiny" --method rtn --bits W4A16 --out "$T/x.ptq" --stream \
    --max-rss 0.0001
[ ! -e "$T/x.ptq" ] && [ ! -e "$T/x.ptq.tmp" ] || fail "a refused export wrote $(ls "$T"/x.ptq*)"
expect 0 "exported" "$BIN" export --model "$T/tiny" --method rtn --bits W4A16 --out "$T/x.ptq" --max-rss 8

# within the budget: the row has the cell's own peak and the estimate
out=$("$BIN" run "${cfg[@]}" --method rtn --bits W4A16 --max-rss 8 2>&1)
grep -q '"peak_rss_scope":"cell"' <<<"$out" || fail "no per-cell peak in the row: $out"
est=$(sed -n 's/.*"rss_estimate_kb":\([0-9.e+]*\).*/\1/p' <<<"$out")
peak=$(sed -n 's/.*"peak_rss_kb":\([0-9]*\).*/\1/p' <<<"$out")
[ -n "$est" ] && [ -n "$peak" ] && awk -v e="$est" -v p="$peak" 'BEGIN { exit !(p > 0 && p < 4 * e) }' ||
    fail "peak $peak kB not within 4x of the estimate $est kB"

# a sweep: the refused cell is a failed row, not a metric row
cat >"$T/sweep.json" <<JSON
{"name": "budget", "models": ["$T/tiny"], "methods": ["rtn"], "bits": ["W4A16"], "tasks": ["ppl:tinystories"],
 "seeds": [0], "overrides": {"seqlen": 64, "limit_windows": 1}}
JSON
"$BIN" sweep "$T/sweep.json" --out "$T/res" --max-rss "$mid" >"$T/sweep.out" 2>&1
grep -q '"status":"failed"' "$T/res/results.jsonl" 2>/dev/null && grep -q 'needs an estimated' "$T/res/results.jsonl" &&
    ! grep -q '"ppl":' "$T/res/results.jsonl" || fail "sweep: refused cell not recorded as failed: $(cat "$T/sweep.out" "$T/res/results.jsonl" 2>&1 | head -c 800)"

if [ "$fails" -ne 0 ]; then
    echo "cli_budget: $fails failure(s)"
    exit 1
fi
echo "cli_budget: all checks passed"
