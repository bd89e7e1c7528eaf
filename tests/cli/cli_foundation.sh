#!/usr/bin/env bash
# cli_foundation.sh — bad input on the foundation commands gets one clear
# `error:` line naming the flag/file and a non-zero exit; good input works.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT


expect 2 "unknown command 'frobnicate'" "$BIN" frobnicate
expect 2 "usage:" "$BIN"
expect 2 "unknown option" "$BIN" ppl --model stories260K --bogus-flag
expect 2 "--seqlen" "$BIN" ppl --model stories260K --seqlen abc
expect 2 "above the model's max_seq 512" "$BIN" ppl --model stories260K --seqlen 4096
expect 2 "--ppl-protocol" "$BIN" ppl --model stories260K --ppl-protocol sliding
expect 2 "'nosuch' is not a text dataset" "$BIN" ppl --model stories260K --dataset nosuch --limit-windows 1
expect 1 "not a known model name" "$BIN" info /nonexistent/model.bin
expect 2 "--steps" "$BIN" generate --model stories260K --steps 0
expect 2 "datasets: unknown action" "$BIN" datasets frob

# empty / truncated model file
: >"$T/empty.bin"
expect 1 "too short for the llama2.c header" "$BIN" info "$T/empty.bin"
ROOT=$(data_root)
head -c 1000 "$ROOT/models/stories260K/stories260K.bin" >"$T/trunc.bin"
expect 1 "implies" "$BIN" info "$T/trunc.bin"
# missing tokenizer beside a valid model
cp "$ROOT/models/stories260K/stories260K.bin" "$T/m.bin"
expect 1 "cannot open tokenizer" "$BIN" info "$T/m.bin"
# corrupt tokenizer
head -c 100 "$ROOT/models/stories260K/tok512.bin" >"$T/tok512.bin"
expect 1 "truncated" "$BIN" info "$T/m.bin"
# a tokenizer is recognised by its content, not its name: a SentencePiece
# .model given to a llama2.c model is read as SentencePiece (and refused for
# its vocabulary), not parsed as tokenizer.bin
expect 1 "tokenizer has 32000 tokens but the model's vocab_size is 512" \
    "$BIN" generate --model stories260K --steps 2 --tokenizer "$ROOT/models/tokenizers/llama2-32k/tokenizer.model"
cp "$ROOT/models/tokenizers/llama2-32k/tokenizer.model" "$T/tok.bin"
expect 1 "tokenizer has 32000 tokens" "$BIN" generate --model stories260K --steps 2 --tokenizer "$T/tok.bin"

# a data root whose wikitext file is corrupted: sha256 mismatch
mkdir -p "$T/data"
for d in models datasets; do cp -rs "$(cd "$ROOT" && pwd)/$d" "$T/data/"; done
cp "$ROOT/SHA256SUMS" "$T/data/"
rm "$T/data/datasets/ppl/wikitext2/wiki.test.gptq_join.txt"
printf 'x%.0s' $(seq 1 1296370) >"$T/data/datasets/ppl/wikitext2/wiki.test.gptq_join.txt"
expect 1 "does not match the registry" env PTQBENCH_DATA="$T/data" "$BIN" ppl --model stories260K --dataset wikitext2
# wrong size (truncated dataset)
rm "$T/data/datasets/ppl/ptb/ptb.test.gptq_join.txt"
echo "short" >"$T/data/datasets/ppl/ptb/ptb.test.gptq_join.txt"
expect 1 "wrong or truncated" env PTQBENCH_DATA="$T/data" "$BIN" ppl --model stories260K --dataset ptb
# missing dataset file
rm "$T/data/datasets/ppl/ptb/ptb.valid.gptq_join.txt"
expect 1 "not found under the data root" env PTQBENCH_DATA="$T/data" "$BIN" ppl --model stories260K --dataset ptb-valid
expect 1 "PTQBENCH_DATA=/nonexistent" env PTQBENCH_DATA=/nonexistent "$BIN" ppl --model stories260K
# empty text: a registry pointing at an empty file
: >"$T/data/empty.txt"
python3 - "$T" <<'PY' 2>/dev/null || sed 's#"path": "datasets/ppl/wikitext2/wiki.test.gptq_join.txt"#"path": "empty.txt"#' datasets/registry.json >"$T/reg.json"
import json, sys
t = sys.argv[1]
d = json.load(open("datasets/registry.json"))
for a in d["assets"]:
    if a["name"] == "wikitext2":
        a["path"] = "empty.txt"; a["bytes"] = 0
        a["sha256"] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
json.dump(d, open(t + "/reg.json", "w"))
PY
expect 1 "fewer than one window" env PTQBENCH_DATA="$T/data" PTQBENCH_REGISTRY="$T/reg.json" "$BIN" ppl --model stories260K --dataset wikitext2
echo "{not json" >"$T/bad.json"
expect 1 "assets" env PTQBENCH_REGISTRY="$T/bad.json" "$BIN" ppl --model stories260K

# fetch: file:// URLs exercise download + verify + atomic rename without network
python3 - "$T" "$(cd "$ROOT" && pwd)" <<'PY'
import json, sys
t, root = sys.argv[1], sys.argv[2]
d = json.load(open("datasets/registry.json"))
good = [a for a in d["assets"] if a["name"] == "stories260K.tok512"][0]
good["url"] = "file://" + root + "/" + good["path"]
bad = dict(good, name="bad-sha", path="models/bad/tok.bin", sha256="0" * 64)
json.dump({"assets": [good, bad]}, open(t + "/fetch.json", "w"))
PY
out=$(PTQBENCH_REGISTRY="$T/fetch.json" "$BIN" datasets fetch --dest "$T/fetched" 2>&1)
rc=$?
if [ "$rc" != 1 ] || ! grep -q "ok   stories260K.tok512 (fetched)" <<<"$out" || ! grep -q "FAIL bad-sha" <<<"$out" \
    || [ ! -f "$T/fetched/models/stories260K/tok512.bin" ] || [ -e "$T/fetched/models/bad/tok.bin" ] \
    || ls "$T/fetched/models/bad/" | grep -q part; then
    echo "FAIL: datasets fetch: rc=$rc $out" >&2
    fails=$((fails + 1))
fi

# good paths
out=$("$BIN" ppl --model stories260K --dataset tinystories --limit-windows 2 2>/dev/null)
grep -q '"windows":2' <<<"$out" || { echo "FAIL: ppl good path: $out" >&2; fails=$((fails + 1)); }
"$BIN" info stories260K | grep -q "parameters   " || { echo "FAIL: info" >&2; fails=$((fails + 1)); }

# a ./data without the assets' layout (the zoo's data/zoo) does not hide the real data root
mkdir -p "$T/cwd/data/zoo"
got=$(cd "$T/cwd" && env -u PTQBENCH_DATA "$BIN" datasets list | sed -n 's/^data root: //p')
[ -n "$got" ] && [ "$got" != data ] || { echo "FAIL: ./data/zoo taken as the data root: '$got'" >&2; fails=$((fails + 1)); }

if [ "$fails" -ne 0 ]; then echo "cli_foundation: $fails failure(s)"; exit 1; fi
echo "cli_foundation: all checks passed"
