#!/bin/bash
# paper.sh — regenerate the paper's tables and figures from an experiment's
# results into paper/generated/, then build paper/main.pdf when pdflatex is
# installed (apt-get install texlive-latex-extra texlive-fonts-recommended).
# Usage: scripts/paper.sh [RESULTS_DIR]   (default results/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/ptqbench
DIR=${1:-results/quickstart}
[ -x "$BIN" ] || { echo "error: $BIN not built" >&2; exit 2; }
"$BIN" report "$DIR" --format md,csv,tex --plots --out paper/generated >/dev/null
# figures.tex names the PNGs by their path from the repo root; main.tex lives in paper/
sed -i 's#{paper/generated/#{generated/#g' paper/generated/figures.tex
echo "tables: paper/generated/tables.tex, figures: paper/generated/figures.tex"
if command -v pdflatex >/dev/null; then
    (cd paper && pdflatex -interaction=nonstopmode -halt-on-error main.tex >/dev/null && \
        pdflatex -interaction=nonstopmode -halt-on-error main.tex >/dev/null) \
        || { echo "error: pdflatex failed, see paper/main.log" >&2; exit 1; }
    echo "paper: paper/main.pdf"
else
    echo "pdflatex not installed: skipped the PDF (the .tex sources are ready)"
fi
