#!/bin/bash
# cli_nonfinite.sh — a metric that is not a finite number is a failure, never a
# value: a model whose logits overflow (stories260K with its embedding scaled
# by 1e18, finite weights) fails `ppl`, `run` and `kld` naming the metric and
# prints no nan/inf; `compare` fails (exit 1) on a new or baseline value that
# is null, a string, inf or out of range, naming the side, the row and the metric;
# a sweep records such a cell as failed and the report shows it so.
# Usage: bash tests/cli/cli_nonfinite.sh /path/to/ptqbench   (from the repo root)
set -u
BIN=${1:?usage: cli_nonfinite.sh PTQBENCH}
source "$(dirname "$0")/testlib.sh"
D=tests/data/compare
T=$(mktemp -d /tmp/ptq_nonfinite.XXXXXX)
trap 'rm -rf "$T"' EXIT

# compare on hand-written rows
expect 0 "PASS" "$BIN" compare $D/base.jsonl $D/base.jsonl
expect 1 "new row 'm|rtn|W4A4|s0|ppl:wikitext2': metric 'ppl' is -5, expected a finite number > 0" \
    "$BIN" compare $D/new_negative_ppl.jsonl $D/base.jsonl
expect 1 "new row 'm|rtn|W4A4|s0|ppl:wikitext2': metric 'ppl' is inf" "$BIN" compare $D/new_overflow.jsonl $D/base.jsonl
expect 1 "new row 'm|rtn|W4A4|s0|kld:tinystories': metric 'kld_mean' is null" \
    "$BIN" compare $D/new_overflow.jsonl $D/base.jsonl
expect 1 "baseline row 'm|rtn|W4A4|s0|ppl:wikitext2': metric 'ppl' is \"improved\"" \
    "$BIN" compare $D/base.jsonl $D/base_strings.jsonl
expect 1 "baseline row 'm|rtn|W4A4|s0|zeroshot:piqa': metric 'acc' is null" \
    "$BIN" compare $D/base.jsonl $D/base_strings.jsonl
expect 1 "1 invalid values" "$BIN" compare $D/new_negative_ppl.jsonl $D/base.jsonl

# a model whose logits overflow
ASSETS=$(realpath "${PTQBENCH_DATA:-../shared/assets}")
IN_T=(env -C "$T" PTQBENCH_DATA="$ASSETS" "$(realpath "$BIN")") # the KLD cache goes to $T/results
M=$ASSETS/models/stories260K
if [ -f "$M/stories260K.bin" ]; then
    python3 - "$M/stories260K.bin" "$T/huge.bin" <<'EOF'
import array, struct, sys
d = open(sys.argv[1], "rb").read()
dim, vocab = struct.unpack("7i", d[:28])[0], abs(struct.unpack("7i", d[:28])[5])
w = array.array("f"); w.frombytes(d[28:])
for i in range(vocab * dim): w[i] *= 1e18  # token embedding (shared with the classifier)
open(sys.argv[2], "wb").write(d[:28] + w.tobytes())
EOF
    FL=(--tokenizer "$M/tok512.bin" --limit-windows 1 --seqlen 64)
    expect 1 "perplexity is not finite (ppl = inf" "$BIN" ppl --model "$T/huge.bin" --dataset tinystories "${FL[@]}"
    expect 1 "task ppl:tinystories: perplexity is not finite" \
        "$BIN" run --model "$T/huge.bin" --method rtn --bits W8A8 --eval ppl:tinystories "${FL[@]}"
    expect 1 "task kld:tinystories: metric 'ppl_q' is not finite (inf)" \
        "${IN_T[@]}" run --model "$T/huge.bin" --method rtn --bits W8A8 --eval kld:tinystories "${FL[@]}"
    expect 1 "metric 'ppl_q' is not finite" "${IN_T[@]}" kld --model "$T/huge.bin" --method rtn --bits W8A8 "${FL[@]}"
    # a sweep records the overflowing cell as failed (no metric), runs the others; the
    # report shows it as failed, compare fails on it, resume runs it again
    mkdir -p "$T/hm" && cp "$T/huge.bin" "$T/hm/" && cp "$M/tok512.bin" "$T/hm/tokenizer.bin"
    printf '{"name":"nonfinite","models":["%s","stories260K"],"methods":["rtn"],"bits":["W8A8"],
      "tasks":["ppl:tinystories"],"overrides":{"limit_windows":1,"seqlen":64}}' "$T/hm/huge.bin" >"$T/exp.json"
    expect 1 "task ppl:tinystories: perplexity is not finite" "$BIN" sweep "$T/exp.json" --out "$T/sw"
    [ "$(grep -c '"status":"failed"' "$T/sw/results.jsonl")" -eq 1 ] || fail "no failed row: $(cat "$T/sw/results.jsonl")"
    grep -qE '"metrics":\{[^}]*(null|nan|inf)' "$T/sw/results.jsonl" && fail "a row carries a non-finite metric"
    expect 0 "| rtn | failed |" "$BIN" report "$T/sw" --format md
    expect 1 "new row '$T/hm/huge.bin|rtn|W8A8|s0|ppl:tinystories' is a failed cell: task ppl:tinystories" \
        "$BIN" compare "$T/sw" "$T/sw"
    expect 1 "plan: 2 selected, 1 done" "$BIN" sweep "$T/exp.json" --out "$T/sw" --resume
    out=$("$BIN" ppl --model "$T/huge.bin" --dataset tinystories "${FL[@]}" 2>/dev/null)
    grep -qiE '(^|[^a-z])(nan|inf)([^a-z]|$)' <<<"$out" && fail "ppl printed a non-finite value: $out"
else
    echo "SKIP: no $M (the overflow part)"
fi
[ $fails -eq 0 ] && echo "PASS cli_nonfinite" || { echo "$fails failure(s)"; exit 1; }
