#!/usr/bin/env bash
# cli_zeroshot.sh — bad input to `ptqbench zeroshot` / `kld` gets a clear
# `error:` line and a non-zero exit; a bad item is never silently scored.
# Malformed task files are tested through a temporary data root: symlinks to
# the real assets, one modified copy, and a registry (via $PTQBENCH_REGISTRY)
# whose size/sha256 entry is updated for that copy.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT


ROOT=$(cd "$("$BIN" datasets list | sed -n 's/^data root: //p')" && pwd)
REG=datasets/registry.json

# usage errors
expect 2 "unknown task 'siqa'" "$BIN" zeroshot --model stories260K --tasks siqa
expect 2 "unknown task 'nosuch'" "$BIN" zeroshot --model stories260K --tasks piqa,nosuch
expect 2 "--limit" "$BIN" zeroshot --model stories260K --tasks copa --limit 0
expect 2 "--limit" "$BIN" zeroshot --model stories260K --tasks copa --limit -5
expect 2 "--limit" "$BIN" zeroshot --model stories260K --tasks copa --limit 3x
expect 2 "--model is required" "$BIN" zeroshot --tasks copa
expect 2 "unknown option" "$BIN" zeroshot --model stories260K --bogus
expect 2 "--tasks" "$BIN" zeroshot --model stories260K --tasks ,
expect 2 "not available here" "$BIN" zeroshot --model stories260K --tasks avg8_spinquant
expect 2 "--topk" "$BIN" kld --model stories260K --topk 0
expect 2 "unknown --dataset" "$BIN" kld --model stories260K --dataset nosuch
expect 2 "max_seq" "$BIN" kld --model stories260K --seqlen 9999

expect 2 "unknown method 'nosuch'" "$BIN" zeroshot --model stories260K --tasks copa --method nosuch --bits W4A16
expect 2 "--method and --bits go together" "$BIN" zeroshot --model stories260K --tasks copa --bits W4A16
expect 2 "--bits" "$BIN" kld --model stories260K --method rtn --bits W9Q
expect 2 "not both" "$BIN" kld --model stories260K --method rtn --bits W4A16 --qmodel x.bin

# a good tiny run prints one row per task and the JSON rows
expect 0 '"task":"copa"' "$BIN" zeroshot --model stories260K --tasks copa,siqa2 --limit 3
expect 0 '"qspec":"W4A16"' "$BIN" zeroshot --model stories260K --tasks copa --limit 3 --method rtn --bits W4A16
expect 0 '"top1_agree":100' "$BIN" kld --model stories260K --seqlen 64 --limit-windows 2 --cache-dir "$T/cache"

# temporary data root: the real tree through symlinks, one file replaced
mkdir -p "$T/root"
(cd "$ROOT" && find . -type f -o -type l) | while read -r f; do
    mkdir -p "$T/root/$(dirname "$f")"
    ln -s "$ROOT/$f" "$T/root/$f"
done
LAST=""
mkroot() { # mkroot REL: REL becomes a writable copy (the previous copy is a symlink again)
    if [ -n "$LAST" ]; then rm -f "$T/root/$LAST" && ln -s "$ROOT/$LAST" "$T/root/$LAST"; fi
    rm -f "$T/root/$1"
    cp "$ROOT/$1" "$T/root/$1"
    chmod u+w "$T/root/$1"
    LAST="$1"
}
fixreg() { # fixreg REL: registry entry of REL gets the copy's size and sha256
    local old_sha old_bytes new_sha new_bytes
    old_sha=$(sha256sum "$ROOT/$1" | cut -d' ' -f1)
    old_bytes=$(stat -c %s "$ROOT/$1")
    new_sha=$(sha256sum "$T/root/$1" | cut -d' ' -f1)
    new_bytes=$(stat -c %s "$T/root/$1")
    sed -e "s/$old_sha/$new_sha/" -e "/\"path\": \"${1//\//\\/}\"/{n;s/\"bytes\": $old_bytes,/\"bytes\": $new_bytes,/}" \
        "$REG" >"$T/registry.json"
}
zs() { PTQBENCH_DATA="$T/root" PTQBENCH_REGISTRY="$T/registry.json" "$BIN" zeroshot --model stories260K "$@"; }

COPA=datasets/zeroshot/llm-foundry/copa.jsonl
mkroot $COPA
sed -i '3s/.*/{"query": "broken/' "$T/root/$COPA"
fixreg $COPA
expect 1 "copa.jsonl:3: malformed JSON" zs --tasks copa --limit 1

mkroot $COPA
sed -i '2s/"gold": 1, //' "$T/root/$COPA"
fixreg $COPA
expect 1 'copa.jsonl:2: missing or non-integer field "gold"' zs --tasks copa --limit 1

mkroot $COPA
sed -i '4s/"gold": [01]/"gold": 5/' "$T/root/$COPA"
fixreg $COPA
expect 1 "copa.jsonl:4: gold index 5 out of range 0..1" zs --tasks copa --limit 1

mkroot $COPA
sed -i '5s/"choices": \[.*\]/"choices": []/' "$T/root/$COPA"
fixreg $COPA
expect 1 'copa.jsonl:5: "choices" has 0 entries' zs --tasks copa --limit 1

mkroot $COPA
sed -i '6s/"query": "[^"]*"/"question": "x"/' "$T/root/$COPA"
fixreg $COPA
expect 1 'copa.jsonl:6: missing or non-string field "query"' zs --tasks copa --limit 1

# modified file but registry unchanged: sha256 mismatch, not a number
mkroot $COPA
sed -i '7s/a/e/' "$T/root/$COPA"
cp "$REG" "$T/registry.json"
expect 1 "does not match the registry" zs --tasks copa --limit 1

ARC=datasets/zeroshot/llm-foundry/arc_easy.jsonl
mkroot $ARC
sed -i '2s/"query": "Question: /"query": "Q: /' "$T/root/$ARC"
fixreg $ARC
expect 1 'arc_easy.jsonl:2: field "query" does not start with "Question: "' zs --tasks arc_easy --limit 1

WG=datasets/zeroshot/winogrande/winogrande_xl_dev.llamacpp.csv
mkroot $WG
sed -i '3s/,[12]$/,7/' "$T/root/$WG"
fixreg $WG
expect 1 "row 3: answer must be 1 or 2" zs --tasks winogrande --limit 1

HS=datasets/zeroshot/hellaswag/hellaswag_val_full.txt
mkroot $HS
sed -i '8s/.*/x/' "$T/root/$HS"
fixreg $HS
expect 1 "hellaswag_val_full.txt:8: expected a gold index 0..3" zs --tasks hellaswag --limit 1

LAB=datasets/zeroshot/piqa/valid-labels.lst
mkroot $LAB
sed -i '$d' "$T/root/$LAB"
fixreg $LAB
expect 1 "1837 labels for 1838 items" zs --tasks piqa --limit 1

if [ "$fails" -ne 0 ]; then
    echo "cli_zeroshot: $fails failure(s)" >&2
    exit 1
fi
echo "cli_zeroshot: all checks passed"
