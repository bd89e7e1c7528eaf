#!/usr/bin/env bash
# cli_stats.sh — `ptqbench stats`: bad input gets one clear error and exit 2
# (1 for a model that cannot be opened); a run on stories260K writes the
# tables (every row finite) and, with gnuplot, the plots; the same run with
# 1 and 2 threads gives byte-identical tables.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

expect 2 "a model is required" "$BIN" stats
expect 2 "unexpected argument 'x'" "$BIN" stats stories260K x
expect 2 "--calib: 'nosuch' is not a text dataset" "$BIN" stats stories260K --calib nosuch
expect 2 "--nsamples" "$BIN" stats stories260K --nsamples 0
expect 2 "--seqlen" "$BIN" stats stories260K --seqlen 1
expect 2 "above the model's max_seq 512" "$BIN" stats stories260K --seqlen 513
expect 2 "unknown option" "$BIN" stats stories260K --bogus
expect 1 "error:" "$BIN" stats "$T/no_such_model.bin"
expect 1 "calibration set too small" "$BIN" stats stories260K --nsamples 5000 --seqlen 512 --no-plots

args=(stories260K --nsamples 4 --seqlen 64)
expect 0 "| 4 | down_proj.in | 172 |" env OMP_NUM_THREADS=1 "$BIN" stats "${args[@]}" --out "$T/a"
expect 0 "| final | lm_head |" env OMP_NUM_THREADS=2 "$BIN" stats "${args[@]}" --out "$T/b" --no-plots
for f in actstats.md actstats.csv actstats.tex wstats.md wstats.csv; do
    cmp -s "$T/a/table_stories260K_$f" "$T/b/table_stories260K_$f" || fail "table_$f differs between 1 and 2 threads"
done
# 26 activation rows (5 layers x 5 sites + lm_head), each with 6 numbers
rows=$(awk -F, 'NR > 1 && $4 != "" && $6 != "" && $7 != "" && $8 != ""' "$T/a/table_stories260K_actstats.csv" | wc -l)
[ "$rows" = 26 ] || fail "expected 26 complete activation rows, got $rows"
grep -qi "nan\|inf" "$T/a/table_stories260K_actstats.csv" && fail "a statistic is not finite"
if command -v gnuplot >/dev/null; then
    for p in max_abs top_ratio; do
        [ -s "$T/a/stats_stories260K_$p.png" ] || fail "no plot $p.png"
    done
fi
[ -e "$T/b/stats_stories260K_max_abs.png" ] && fail "--no-plots still plotted"
exit $((fails > 0))
