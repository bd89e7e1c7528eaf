#!/usr/bin/env bash
# cli_losscurve.sh — `report --plots` draws one loss curve per learned cell:
# a SpinQuant row (3 full-batch Cayley steps) gets loss_<model>_<cell>.dat
# with one "step loss" line per recorded step and a non-empty PNG and SVG
# (when gnuplot is installed); a row without a curve (QuaRot) gets none,
# and a report without --plots draws none.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R=("$BIN" run --model stories260K --bits W4A4KV4 --eval ppl:tinystories --limit-windows 1 --no-progress
   --nsamples 2 --calib-seqlen 32 --opt weights=rtn)
"${R[@]}" --method spinquant --opt steps=3 2>/dev/null | grep '^{' >"$T/r.jsonl"
"${R[@]}" --method quarot 2>/dev/null | grep '^{' >>"$T/r.jsonl"
[ "$(wc -l <"$T/r.jsonl")" = 2 ] || fail "expected 2 rows, got $(wc -l <"$T/r.jsonl")"
n=$(python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); \
print(sum(x is not None for x in r['method_info']['learning']['loss_curve']))" "$T/r.jsonl")

expect 0 "" "$BIN" report "$T/r.jsonl" --out "$T/plain"
ls "$T/plain" | grep -q '^loss_' && fail "report without --plots drew a loss curve"
if command -v gnuplot >/dev/null; then
    expect 0 "plot: $T/rep/loss_stories260K_spinquant" "$BIN" report "$T/r.jsonl" --plots --out "$T/rep"
    dat=$(ls "$T"/rep/loss_stories260K_spinquant*.dat 2>/dev/null)
    [ -n "$dat" ] || fail "no loss-curve data file"
    [ "$(wc -l <"$dat")" = "$n" ] || fail "$dat: $(wc -l <"$dat") lines, the row has $n recorded steps"
    for ext in png svg; do
        [ -s "${dat%.dat}.$ext" ] || fail "loss curve ${dat%.dat}.$ext missing or empty"
    done
    ls "$T/rep" | grep -q '^loss_stories260K_quarot' && fail "QuaRot (nothing learned) got a loss curve"
else
    echo "gnuplot not installed: loss-curve figures not checked"
fi

[ "$fails" = 0 ] && echo "cli_losscurve: all checks passed"
exit $((fails > 0))
