#!/usr/bin/env bash
# cli_latency.sh — latency/memory rows: `ptqbench bench --model M --out FILE`
# appends the runner's latency row (packed path vs FP32, identifying fields,
# load average); bad flags and task parameters get a clear error and leave
# the rows already written alone; `report --plots` turns the fixture into
# the latency table and the Pareto plots.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
B=("$BIN" bench --model stories260K --tokens 16 --ctx 32 --reps 5 --min-ms 1 --threads 1)

expect 0 "row appended to $T/r.jsonl" "${B[@]}" --method rtn --bits W4A4 --out "$T/r.jsonl"
[ "$(wc -l <"$T/r.jsonl")" = 1 ] || fail "bench --out: expected 1 row"
for f in '"task":"latency:reps=5:min_ms=1:T=16:ctx=32"' '"method":"rtn"' '"qspec":"W4A4"' '"bits":"W4A4"' \
         '"options":{' '"git_commit":' '"timestamp":' '"threads":1' '"isa":' '"cpu":' '"loadavg":[' \
         '"path":"packed"' '"prefill_T16_speedup":' '"decode_ctx32_tokens_per_sec":' '"weight_ratio":' \
         '"kv_bytes_ctx32":' '"peak_rss_kb":'; do
    grep -qF -- "$f" "$T/r.jsonl" || fail "bench row lacks $f"
done
# the cache bench measured is at most the one the CPU reports (a VM may report its host's whole L3)
lm=$(sed -n 's/.*"llc_bytes_measured":\([0-9.e+]*\).*/\1/p' "$T/r.jsonl")
lr=$(sed -n 's/.*"llc_bytes":\([0-9.e+]*\).*/\1/p' "$T/r.jsonl")
[ -n "$lm" ] && [ -n "$lr" ] && awk -v m="$lm" -v r="$lr" 'BEGIN { exit !(m >= 0 && m <= r) }' ||
    fail "bench row: llc_bytes_measured '$lm' must be in [0, llc_bytes '$lr']"
cp "$T/r.jsonl" "$T/first.jsonl"

# bad inputs: clear errors, nothing appended
expect 2 "--out needs --model" "$BIN" bench --shape llama7b --method rtn --bits W4A4 --out "$T/r.jsonl"
expect 2 "unknown method 'nosuch'" "${B[@]}" --method nosuch --bits W4A4 --out "$T/r.jsonl"
expect 2 "--shape 'gpt9' unknown" "$BIN" bench --shape gpt9 --method rtn --bits W4A4
expect 2 "unknown option 'bogus'" "${B[@]}" --method rtn --bits W4A4 --opt bogus=1 --out "$T/r.jsonl"
expect 2 "fp16 is the unquantized reference" "${B[@]}" --method fp16 --bits W4A4 --out "$T/r.jsonl"
expect 2 "--reps" "${B[@]}" --method rtn --bits W4A4 --reps 2 --out "$T/r.jsonl"
expect 2 "--w16-act fp16: expected fp32, int8 or bf16" "${B[@]}" --method rtn --bits W4A16 --w16-act fp16 --out "$T/r.jsonl"
cmp -s "$T/r.jsonl" "$T/first.jsonl" || fail "a failed bench changed the rows already written"
expect 2 "unknown parameter 'bogus'" "$BIN" run --model stories260K --method rtn --bits W4A4 --no-progress \
    --eval latency:T=16:bogus=1
cat >"$T/bad.json" <<'JSON'
{"name": "badlat", "models": ["stories260K"], "methods": ["rtn"], "bits": ["W4A4"],
 "tasks": ["ppl:tinystories", "latency:T=16:reps=2"]}
JSON
expect 2 '$.tasks[1]' "$BIN" sweep "$T/bad.json" --out "$T/sw"

# a random-weight model of a published shape, quantized by the method and timed by the latency task
expect 0 "packed path, latency:reps=5:min_ms=0:T=8:ctx=16" "$BIN" bench --shape tiny --vocab 64 --tokens 8 --ctx 16 \
    --reps 5 --min-ms 0 --threads 1 --method gptq --bits W4A4KV4
expect 2 "no tokenizer for calibration text" "$BIN" bench --shape tiny --method gptq --bits W4A16 --calib c4
# --outer bf16: the embedding and lm_head held in bf16; the rows count lm_head's 32000 x 64 weights at 2 bytes
wb() { "$BIN" bench --shape tiny --vocab 32000 --outer "$1" --tokens 8 --ctx 16 --reps 5 --min-ms 0 --threads 1 \
    --method rtn --bits W4A16 2>&1 | sed -n 's/^  weight bytes *\([0-9]*\) *fp32 \([0-9]*\).*/\1 \2/p'; }
read -r q32 f32 <<<"$(wb f32)"
read -r q16 f16 <<<"$(wb bf16)"
[ -n "$q32" ] && [ -n "$q16" ] && [ $((q32 - q16)) = $((32000 * 64 * 2)) ] && [ $((f32 - f16)) = $((32000 * 64 * 2)) ] ||
    fail "--outer bf16: weight bytes $q16/$f16 vs f32 $q32/$f32, expected lm_head 4096000 bytes fewer"
# --w16-act bf16: the row says so
expect 0 "w16 act bf16-act" "$BIN" bench --shape tiny --vocab 64 --tokens 8 --ctx 16 --reps 5 --min-ms 0 --threads 1 \
    --method rtn --bits W4A16 --w16-act bf16
expect 2 "--outer must be bf16, f16 or f32" "$BIN" bench --shape tiny --outer f8 --method rtn --bits W4A16
expect 2 "--outer needs --shape" "$BIN" bench --model stories260K --outer bf16 --method rtn --bits W4A16

# the FP reference appends a row on the FP32 path; the first row is kept
expect 0 "row appended" "${B[@]}" --method fp16 --bits W16A16 --out "$T/r.jsonl"
[ "$(wc -l <"$T/r.jsonl")" = 2 ] || fail "second bench: expected 2 rows"
[ "$(head -1 "$T/r.jsonl")" = "$(cat "$T/first.jsonl")" ] || fail "the first row changed"
grep -qF '"path":"fp32"' "$T/r.jsonl" || fail "fp16 row: path fp32 expected"

# an exported file is measured as stored (method and bits from its header)
expect 0 "exported" "$BIN" export --model stories260K --method rtn --bits W4A4KV4 --out "$T/q.ptq"
expect 0 "row appended" "$BIN" bench --model "$T/q.ptq" --out "$T/f.jsonl" --tokens 16 --ctx 32 --reps 5 --min-ms 0 --threads 1
grep -qF '"qspec":"W4A4KV4"' "$T/f.jsonl" || fail "exported-file row: qspec from the header expected"
grep -qF '"kv_ratio_ctx32":0.375' "$T/f.jsonl" || fail "exported-file row: int4 KV expected"
head -c 50 "$T/q.ptq" >"$T/trunc.ptq"
expect 1 "trunc.ptq" "$BIN" bench --model "$T/trunc.ptq" --out "$T/f.jsonl"
[ "$(wc -l <"$T/f.jsonl")" = 1 ] || fail "a failed bench must not touch the results file"

# report: latency table + Pareto plots from the fixture
expect 0 "pareto_m_wikitext2_decode.png" "$BIN" report tests/data/latency_fixture.jsonl --plots --out "$T/rep"
for f in table_m_latency.md table_m_latency.csv table_m_latency.tex pareto_m_wikitext2_weights.png \
         pareto_m_wikitext2_weights.svg pareto_m_wikitext2_decode.png pareto_m_wikitext2_decode.svg; do
    [ -s "$T/rep/$f" ] || fail "report: $f missing"
done
grep -qF "| rtn | W4A4 | 10000 (2.00x) |" "$T/rep/table_m_latency.md" || fail "latency table row"
# a bench-only results file (no ppl rows) still gets its latency table
expect 0 "latency and memory" "$BIN" report "$T/r.jsonl" --out "$T/rep2"
[ -s "$T/rep2/table_stories260K_latency.md" ] || fail "report of bench rows: no latency table"

[ "$fails" = 0 ] && echo "cli_latency: all checks passed"
exit $((fails > 0))
