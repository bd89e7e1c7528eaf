#!/usr/bin/env bash
# cli_gguf.sh — `export --format gguf` and `--model FILE.gguf` end to end on
# stories260K: a W4A16-g32 RTN export is Q4_0 (ffn_down, 172 wide, F16), reads
# back with a finite perplexity and exports again from the GGUF (its tokenizer
# copied); what GGUF cannot hold is refused with exit 2 and the reason; a
# truncated file names what it was reading (exit 1, as for every model format).
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
export PTQBENCH_DATA=${PTQBENCH_DATA:-../shared/assets}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
expect 0 "q4_0 x30" "$BIN" export --model stories260K --method rtn --bits W4A16-g32-sym --format gguf --out "$T/a.gguf"
expect 0 "f16 x5" "$BIN" export --model stories260K --method rtn --bits W4A16-g32-sym --format gguf --out "$T/a.gguf"
expect 0 "gguf-llama" "$BIN" info --model "$T/a.gguf"
out=$("$BIN" ppl --model "$T/a.gguf" --dataset wikitext2 --limit-windows 2 2>&1)
grep -q '"ppl":[0-9]' <<<"$out" || fail "ppl on the export: $out"
expect 0 "q4_1 x30" "$BIN" export --model "$T/a.gguf" --method rtn --bits W4A16-g64-asym --format gguf --out "$T/b.gguf"
expect 2 "quantizes its activations to 4 bits" "$BIN" export --model stories260K --method rtn --bits W4A4 --format gguf --out "$T/c.gguf"
expect 2 "8-bit asymmetric" "$BIN" export --model stories260K --method rtn --bits W8A16-asym --format gguf --out "$T/c.gguf"
expect 2 "hf-bpe tokenizer cannot be embedded" "$BIN" export --model tinystories-656k --method rtn --bits W4A16-g32 --format gguf --out "$T/c.gguf"
expect 2 "--format must be ptq or gguf" "$BIN" export --model stories260K --method rtn --bits W4A16 --format onnx --out "$T/c.gguf"
[ -e "$T/c.gguf" ] && fail "a refused export left $T/c.gguf"
head -c 3000 "$T/a.gguf" >"$T/t.gguf"
expect 1 "key 'tokenizer.ggml.tokens': array of 512 strings runs past the end" "$BIN" info --model "$T/t.gguf"
[ "$fails" -eq 0 ] && echo "cli_gguf: ok" || exit 1
