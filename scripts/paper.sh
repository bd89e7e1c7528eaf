#!/bin/bash
# paper.sh — regenerate the paper's tables and figures from an experiment's
# results into paper/generated/ and build paper/main.pdf; the pages are also
# rendered to paper/generated/page-N.png (pdftoppm) for a look without a PDF
# viewer. pdflatex and pdftoppm come from Debian (texlive-latex-base,
# texlive-latex-recommended, texlive-fonts-recommended, poppler-utils): when
# missing they are installed with apt-get (as root), else the script says what
# to install and exits 3 with the .tex sources ready.
# Usage: scripts/paper.sh [RESULTS_DIR ...]   (default results/quickstart)
#   Several directories: each one's tables and figures, in order.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/ptqbench
[ -x "$BIN" ] || { echo "error: $BIN not built" >&2; exit 2; }
[ $# -gt 0 ] || set -- results/quickstart
PKGS="texlive-latex-base texlive-latex-recommended texlive-fonts-recommended poppler-utils"

need_tex() {
    command -v pdflatex >/dev/null && command -v pdftoppm >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "paper: installing $PKGS (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS >/tmp/paper_apt.log 2>&1 ||
            { apt-get update >>/tmp/paper_apt.log 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS >>/tmp/paper_apt.log 2>&1; } ||
            { echo "error: apt-get could not install $PKGS (log: /tmp/paper_apt.log)" >&2; return 1; }
        return 0
    fi
    echo "error: pdflatex/pdftoppm not installed and cannot install them here (not root or no apt-get):" >&2
    echo "       sudo apt-get install $PKGS" >&2
    return 1
}

rm -rf paper/generated && mkdir -p paper/generated
: >paper/generated/tables.tex
: >paper/generated/figures.tex
i=0
for DIR in "$@"; do
    [ -d "$DIR" ] || { echo "error: $DIR: no such results directory" >&2; exit 2; }
    OUT=paper/generated/r$i
    "$BIN" report "$DIR" --format md,csv,tex --plots --out "$OUT" >/dev/null
    # figures.tex names the PNGs by their path from the repo root; main.tex lives in paper/
    sed "s#{paper/generated/#{generated/#g" "$OUT/figures.tex" >>paper/generated/figures.tex
    cat "$OUT/tables.tex" >>paper/generated/tables.tex
    i=$((i + 1))
done
echo "tables: paper/generated/tables.tex, figures: paper/generated/figures.tex"
need_tex || exit 3
(cd paper && for pass in 1 2; do
    pdflatex -interaction=nonstopmode -halt-on-error main.tex >/dev/null || exit 1
done) || { echo "error: pdflatex failed, see paper/main.log" >&2; exit 1; }
pdftoppm -png -r 70 paper/main.pdf paper/generated/page
echo "paper: paper/main.pdf ($(ls paper/generated/page-*.png | wc -l) pages rendered to paper/generated/page-*.png)"
