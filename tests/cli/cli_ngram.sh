#!/usr/bin/env bash
# cli_ngram.sh — the zoo corpus' 13-gram overlap checker (build/ngram_overlap):
# a shared 13-gram is found across case, punctuation and line breaks, a
# 12-word overlap is not; the dirty document is filtered out and only it;
# counts are of distinct n-grams; bad usage exits 2.
set -u
BIN="$1"
TOOL="$(dirname "$BIN")/ngram_overlap"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
w="alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu"   # 13 words
echo "$w" > "$T/eval.txt"                                         # one 13-gram
printf '%s\n%s\n' "$w" "$w" > "$T/eval2.txt"                    # 14 13-grams, 13 distinct (first = last)
printf 'doc one %s\n\nclean doc\nwith two lines\n\nALPHA, beta gamma delta epsilon zeta eta theta iota kappa lambda\nmu. nu end\n\n' \
    "$(echo "$w" | cut -d' ' -f2-13)" > "$T/train.txt"                # doc 1: 12 words only; doc 3: the 13-gram
expect 0 "with an evaluation 13-gram: 1 (33.3333%)" "$TOOL" -f "$T/clean.txt" "$T/train.txt" "$T/eval.txt"
out=$("$TOOL" "$T/train.txt" "$T/eval.txt" "$T/eval2.txt")
grep -q "eval.txt  *1  *1  *100.0000  alpha beta" <<<"$out" || fail "per-file counts: $out"
grep -q "eval2.txt  *13  *1  *7.6923  alpha beta" <<<"$out" || fail "distinct counts: $out"
grep -q "clean doc" "$T/clean.txt" && grep -q "doc one" "$T/clean.txt" || fail "a clean document was dropped"
grep -qi "alpha," "$T/clean.txt" && fail "the dirty document was kept"
expect 0 "13-gram: 0 " "$TOOL" "$T/clean.txt" "$T/eval.txt"
expect 0 "12-gram: 2 " "$TOOL" -n 12 "$T/train.txt" "$T/eval.txt"
expect 2 "usage" "$TOOL" "$T/train.txt"
expect 2 "usage" "$TOOL" -n 0 "$T/train.txt" "$T/eval.txt"
expect 2 "cannot read" "$TOOL" "$T/train.txt" "$T/nosuch.txt"
expect 2 "cannot read" "$TOOL" "$T/nosuch.txt" "$T/eval.txt"
exit $((fails > 0))
