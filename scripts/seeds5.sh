#!/bin/bash
# seeds5.sh — the significance evidence: run experiments/stats_w4a4_seeds.json
# (stories260K and TinyStories-656K at W4A4, every method, 5 seeds; resumable),
# write its tables (seed mean ± std (n), † = not significantly different from
# the column's best) and every method against every other (`report --vs`) into
# results/seeds5/, and list per model and column the pairs whose 95% paired-
# bootstrap interval of the perplexity ratio contains 1 (pairs.md); every other
# pair at the same bit-width differs significantly.
# env: BUILD (default build), RUN (results directory, default results/stats_w4a4_seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}/ptqbench
RUN=${RUN:-results/stats_w4a4_seeds}
OUT=results/seeds5
$B sweep experiments/stats_w4a4_seeds.json --out "$RUN" --resume
mkdir -p "$OUT/vs"
$B report "$RUN" --format md,csv,tex --out "$OUT" > "$OUT/tables.md"
METHODS="rtn smoothquant gptq quarot specquant ruquant septq spinquant respinquant ggml"
for m in $METHODS; do $B report "$RUN" --format md,csv --out "$OUT/vs/$m" --vs "$m" > /dev/null; done
# pairs.md: from the vs CSVs ("Bits","Method","Column",...,"95% CI"), each unordered pair once
{
    echo "# Pairs not significantly different at 95% (paired bootstrap over windows and seeds, 1000 resamples)"
    echo
    echo "Command: \`bash scripts/seeds5.sh\` (results in $RUN). Pairs are compared at the same bit-width"
    echo "(W4A4; SEPTQ and ggml weight-only at W4A16). Every pair not listed differs significantly."
    for f in "$OUT"/vs/*/table_*_vs_*.csv; do
        model=$(basename "$f" .csv | sed 's/^table_//; s/_vs_.*//')
        ref=$(basename "$(dirname "$f")")
        tail -n +2 "$f" | sed -E 's/\([^)]*\)//g' | tr -d '"' | awk -F, -v ref="$ref" -v model="$model" '{
            lo = $7; gsub(/[\[ ]/, "", lo); hi = $8; gsub(/[\] ]/, "", hi);
            a = $2; # the label without its options (they hold commas)
            if (a == "fp16" || a == ref || lo == "" || lo == "-") next;
            if (lo + 0 <= 1 && 1 <= hi + 0) {
                p = a < ref ? a " ~ " ref : ref " ~ " a;
                print model "\t" $3 "\t" $1 "\t" p "\t" a "/" ref " = " $6 " [" lo ", " hi "]"
            }
        }'
    done | sort -u -t$'\t' -k1,1 -k2,2 -k3,3 -k4,4 | awk -F'\t' '
        { key = $1 " " $2 " " $3 } key != last { printf "\n## %s, %s, %s\n\n", $1, $2, $3; last = key }
        { printf "- %s: perplexity ratio %s\n", $4, $5 }'
} > "$OUT/pairs.md"
# keep the tables small enough for git: the vs tables, no per-metric dumps
find "$OUT/vs" -type f ! -name 'table_*_vs_*' -delete
rm -f "$OUT/metrics_long.csv" "$OUT/summary.json" "$OUT/figures.tex"
cat "$OUT/tables.md" "$OUT/pairs.md"
