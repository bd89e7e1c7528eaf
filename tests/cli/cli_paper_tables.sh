#!/bin/bash
# cli_paper_tables.sh — the report's LaTeX tables compile alone: a fixture
# with side files (tests/data/stats_fixture: 7 methods x 3 seeds, one altered
# and one missing side file) is reported as tex, the tables carry seed
# mean $\pm$ std, \underline marks and the test in the caption, and a minimal
# document that \inputs tables.tex builds with pdflatex. Skipped (exit 77)
# when pdflatex is not installed.
set -u
BIN=${1:?usage: cli_paper_tables.sh PTQBENCH}
T=$(mktemp -d /tmp/ptq_paper.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cp -r tests/data/stats_fixture "$T/res"
"$BIN" report "$T/res" --format md,tex --out "$T/rep" >"$T/out" 2>"$T/err" || fail "report: $(cat "$T/err")"
grep -q 'underline{' "$T/rep/tables.tex" || fail "no \\underline mark in the LaTeX tables"
grep -q '\$\\pm\$' "$T/rep/tables.tex" || fail "no \$\\pm\$ in the LaTeX tables"
grep -q 'paired bootstrap' "$T/rep/tables.tex" || fail "the caption does not state the test"
grep -q 'does not match the row' "$T/err" || fail "no warning for the altered side file"
grep -q 'is missing' "$T/err" || fail "no warning for the missing side file"
command -v pdflatex >/dev/null || { echo "SKIP: pdflatex not installed"; exit 77; }
cat >"$T/rep/doc.tex" <<'TEX'
\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\input{tables.tex}
\end{document}
TEX
(cd "$T/rep" && pdflatex -interaction=nonstopmode -halt-on-error doc.tex >/dev/null 2>&1) ||
    fail "pdflatex on the tables: $(grep -m3 '^!' "$T/rep/doc.log")"
[ -s "$T/rep/doc.pdf" ] || fail "no PDF"
echo "PASS cli_paper_tables"
