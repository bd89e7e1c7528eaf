#!/usr/bin/env bash
# zoo_corpus.sh — build the training text of the model zoo, check it against
# every evaluation file with a word 13-gram overlap test, split off a
# validation set and train a SentencePiece BPE tokenizer on it.
#
#   bash scripts/zoo_corpus.sh [OUT_DIR]      (default data/zoo; not in git)
#
# Sources (in this order in the corpus):
#   c4           the C4 train sample in ../shared/assets (1,000 documents)
#   tinystories  TinyStories validation stories 501-1000 (1-500 are evaluation)
#   bible-kjv    King James Bible (Debian bible-kjv-text, dumped with `bible`), a chapter per document
#   gcide        GNU Collaborative International Dictionary of English (dict-gcide)
#   wordnet      WordNet 3.0 glosses (wordnet-base), 20 glosses per document
#   linux-doc    Linux kernel documentation, reStructuredText sources (linux-doc)
#   python-doc   Python 3 documentation, reStructuredText sources (python3-doc)
# A missing Debian package is installed when running as root; one that cannot
# be installed is skipped with a message. Each Debian source is capped at
# ZOO_CAP_MB (default 8) MiB of text so no one source dominates the mixture.
# Documents are separated by blank lines. Each source's size and sha256 go to
# OUT/MANIFEST.tsv with the package version or asset sha256 it came from.
#
# Disjointness: every distinct word 13-gram of WikiText-2 (raw test, tokenized
# valid/test), PTB (test, valid), the zero-shot sets (llm-foundry JSONL, PIQA,
# HellaSwag, WinoGrande) and TinyStories 1-500 is looked up in the corpus
# (scripts/zoo/ngram_overlap.c); the rates go to OUT/overlap_raw.txt, every
# corpus document that contains one is dropped, and the check is run again on
# the result (OUT/overlap.txt: rate 0 by construction, recorded as evidence).
# Then every 200th document goes to val.txt, the rest to train.txt, and
# spm_train makes OUT/tokenizer.model (BPE, ZOO_VOCAB default 4096, byte
# fallback, identity normalization so text round-trips byte for byte, bos 1
# eos 2 unk 0, seeded). When the ptqbench binary is built
# (build/ptqbench), the tokenizer is loaded through ptqbench's tokenizer path
# and val.txt must round-trip (ptqbench train --check-tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/zoo}
CAP=$(( ${ZOO_CAP_MB:-8} * 1048576 ))
VOCAB=${ZOO_VOCAB:-4096}
ASSETS=${PTQBENCH_DATA:-../shared/assets}
[ -d "$ASSETS/datasets" ] || { echo "error: no assets at $ASSETS (set PTQBENCH_DATA)" >&2; exit 2; }
case "$VOCAB" in '' | *[!0-9]*) echo "error: ZOO_VOCAB must be a number" >&2; exit 2 ;; esac
mkdir -p "$OUT/src"
export LC_ALL=C

need_pkg() { # need_pkg PACKAGE: 0 when installed (installing it as root), else 1 with a message
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" && return 0
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null 2>&1; } || true
    fi
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" && return 0
    echo "skip: Debian package $1 is not installed and could not be installed" >&2
    return 1
}
pkgver() { dpkg-query -W -f='${Package}=${Version}' "$1"; }
# reStructuredText to prose: drop directives, section underlines, tables and
# indented (code/literal) blocks; keep paragraphs of 8+ words with a sentence end.
rst_prose() {
    sed -e 's/\r$//' | awk '
        /^\.\. / || /^[ \t]/ || /^[=\-~^"#*+`:._]+$/ || /^[+|]/ { if (prev != "") print ""; prev = ""; next }
        { print; prev = $0 }' | cat -s |
        awk 'BEGIN { RS = ""; ORS = "\n\n" } NF >= 8 && /[.?!]/ && !/====|----/' # paragraphs that read as prose
}
# the first CAP bytes, whole paragraphs only (the rest of the input is read, so no SIGPIPE upstream)
cap() { { head -c "$CAP"; cat > /dev/null; } | awk 'BEGIN { RS = ""; ORS = "\n\n" } NR > 1 { print p } { p = $0 }'; }

MANIFEST="$OUT/MANIFEST.tsv"
printf 'source\tbytes\tsha256\tfrom\n' > "$MANIFEST"
SOURCES=()
record() { # record NAME FROM: text file OUT/src/NAME.txt into the manifest
    local f="$OUT/src/$1.txt"
    [ -s "$f" ] || { echo "skip: $1 produced no text" >&2; return 0; }
    printf '%s\t%s\t%s\t%s\n' "$1" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "$2" >> "$MANIFEST"
    SOURCES+=("$f")
}
asset() { printf '%s sha256:%s' "$1" "$(sha256sum "$ASSETS/$1" | cut -d' ' -f1)"; }

C4=datasets/train/c4/c4-train.00000-of-01024.first1000.jsonl
python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    t = json.loads(line)["text"].replace("\r", "").strip()
    while "\n\n" in t: t = t.replace("\n\n", "\n")
    print(t + "\n")' "$ASSETS/$C4" > "$OUT/src/c4.txt"
record c4 "$(asset $C4)"

TS=datasets/train/tinystories/tinystories_valid_first1000.txt
awk '/^<\|endoftext\|>$/ { n++; next } n >= 500 && n < 1000 { print }' "$ASSETS/$TS" |
    awk 'BEGIN { RS = ""; ORS = "\n\n" } { print }' > "$OUT/src/tinystories.txt"
record tinystories "$(asset $TS) stories 501-1000"

if need_pkg bible-kjv-text && need_pkg bible-kjv; then
    bible -l0 Gen1:1-Rev22:21 | awk '
        /^[A-Z1-9][A-Za-z ]+ [0-9]+$/ { if (buf != "") print buf "\n"; buf = ""; next }
        /^  [0-9]+ / { sub(/^  [0-9]+ /, ""); buf = buf == "" ? $0 : buf " " $0 }
        END { if (buf != "") print buf "\n" }' | cap > "$OUT/src/bible-kjv.txt"
    record bible-kjv "$(pkgver bible-kjv-text)"
fi
if need_pkg dict-gcide; then
    zcat /usr/share/dictd/gcide.dict.dz | sed -n '/Begin file 1 of 26/,$p' | sed -e 's/\r$//' -e 's/^[ \t]*//' |
        grep -v '^[*=-]' | cat -s | cap > "$OUT/src/gcide.txt"
    record gcide "$(pkgver dict-gcide)"
fi
if need_pkg wordnet-base; then
    for p in noun verb adj adv; do
        grep -v '^  ' "/usr/share/wordnet/data.$p" | sed -n 's/^[^|]*| *//p' | sed 's/ *$//'
    done | awk '{ print } NR % 20 == 0 { print "" }' | cap > "$OUT/src/wordnet.txt"
    record wordnet "$(pkgver wordnet-base)"
fi
if need_pkg linux-doc; then
    find /usr/share/doc/linux-doc-*/Documentation -name '*.rst.gz' | sort | xargs zcat | rst_prose | cap > "$OUT/src/linux-doc.txt"
    record linux-doc "$(pkgver "$(dpkg-query -W -f='${Package}\n' 'linux-doc-*' | head -1)")"
fi
if need_pkg python3-doc; then
    find /usr/share/doc/python3*/html/_sources -name '*.rst.txt' | sort | xargs cat | rst_prose | cap > "$OUT/src/python-doc.txt"
    record python-doc "$(pkgver "$(dpkg-query -W -f='${Package}\n' 'python3.*-doc' | head -1)")"
fi

cat "${SOURCES[@]}" > "$OUT/corpus_raw.txt"

# the overlap checker (C): the CMake build's, else compiled here
TOOL=build/ngram_overlap
[ -x "$TOOL" ] || { TOOL="$OUT/ngram_overlap" && cc -O2 -std=c11 -o "$TOOL" scripts/zoo/ngram_overlap.c; }
EVAL=()
A=$ASSETS/datasets
for f in "$A"/ppl/wikitext2/wiki.test.raw "$A"/ppl/wikitext2_tokenized/{test,valid}.txt "$A"/ppl/ptb/ptb.{test,valid}.txt \
         "$A"/zeroshot/llm-foundry/*.jsonl "$A"/zeroshot/piqa/valid.jsonl "$A"/zeroshot/hellaswag/hellaswag_val_full.txt \
         "$A"/zeroshot/winogrande/winogrande_xl_dev.llamacpp.csv; do
    [ -f "$f" ] || { echo "error: evaluation file $f is missing" >&2; exit 1; }
    EVAL+=("$f")
done
awk '/^<\|endoftext\|>$/ { n++; next } n < 500 { print }' "$ASSETS/$TS" > "$OUT/eval_tinystories_1_500.txt"
EVAL+=("$OUT/eval_tinystories_1_500.txt")
"$TOOL" -f "$OUT/corpus.txt" "$OUT/corpus_raw.txt" "${EVAL[@]}" | tee "$OUT/overlap_raw.txt"
"$TOOL" "$OUT/corpus.txt" "${EVAL[@]}" > "$OUT/overlap.txt"
grep -q 'with an evaluation 13-gram: 0 ' "$OUT/overlap.txt" || { echo "error: filtered corpus still overlaps" >&2; exit 1; }
echo "after filtering: $(tail -1 "$OUT/overlap.txt")"

awk -v T="$OUT/train.txt" -v V="$OUT/val.txt" 'BEGIN { RS = ""; ORS = "\n\n" }
    { if (NR % 200 == 0) print > V; else print > T }' "$OUT/corpus.txt"
printf 'corpus.txt\t%s\t%s\tfiltered corpus_raw.txt\n' "$(stat -c %s "$OUT/corpus.txt")" \
    "$(sha256sum "$OUT/corpus.txt" | cut -d' ' -f1)" >> "$MANIFEST"
for f in train val; do
    printf '%s.txt\t%s\t%s\tsplit of corpus.txt (every 200th document: val)\n' "$f" "$(stat -c %s "$OUT/$f.txt")" \
        "$(sha256sum "$OUT/$f.txt" | cut -d' ' -f1)" >> "$MANIFEST"
done

need_pkg sentencepiece || { echo "error: spm_train (Debian sentencepiece) is needed for the tokenizer" >&2; exit 1; }
spm_train --input="$OUT/train.txt" --model_prefix="$OUT/tokenizer" --model_type=bpe --vocab_size="$VOCAB" \
    --character_coverage=1.0 --byte_fallback=true --split_digits=true \
    --normalization_rule_name=identity --remove_extra_whitespaces=false --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
    --input_sentence_size=400000 --shuffle_input_sentence=true --random_seed=1234 --num_threads=2 \
    --max_sentence_length=16384 --minloglevel=1 > "$OUT/spm_train.log" 2>&1 ||
    { tail -5 "$OUT/spm_train.log" >&2; echo "error: spm_train failed (log: $OUT/spm_train.log)" >&2; exit 1; }
printf 'tokenizer.model\t%s\t%s\tspm_train %s bpe vocab %s\n' "$(stat -c %s "$OUT/tokenizer.model")" \
    "$(sha256sum "$OUT/tokenizer.model" | cut -d' ' -f1)" "$(pkgver sentencepiece)" "$VOCAB" >> "$MANIFEST"
if [ -x build/ptqbench ] && build/ptqbench train --help 2>/dev/null | grep -q -- --check-tokenizer; then
    build/ptqbench train --check-tokenizer "$OUT/tokenizer.model" --text "$OUT/val.txt"
else
    echo "note: build/ptqbench (with train --check-tokenizer) not built: tokenizer not checked through ptqbench" >&2
fi
column -t -s $'\t' "$MANIFEST"
