#!/bin/bash
# bench_peer.sh - the side-by-side speed table of ptqbench and llama.cpp (the peer instrument in
# ../shared/peer/llamacpp), in one command, on LLaMA-7B-shaped random models (dim 4096, ffn 11008, 32 heads).
#
#   bash scripts/bench_peer.sh [--ptq build/ptqbench] [--peer /tmp/llamacpp-peer] [--threads 2] [--reps 7]
#                              [--tokens 128,512] [--ctx 512] [--modes layer,model]
#
# Both engines run the same whole model: 2 decoder layers, vocab 512 ("layer": the lm_head is 0.5 % of a
# layer; per-layer figure = 2 x whole-model tok/s, for both engines alike) and vocab 32000 ("model").
# Prefill computes the last position's logits on both engines (the deployed setting; ptqbench's
# latency task default). Each pair runs llama.cpp then ptqbench, alternately:
#   F32 / FP32 (ptqbench's FP32 path, re-measured in every ptqbench run), Q8_0 / W8A8, Q8_0 / W8A16,
#   Q4_0 / W4A16, Q4_0 / W4A4, Q4_K_M / W4A16-g128; and the weight-only ones again with
#   `--w16-act int8` (rows "... +int8": prefill and decode on per-token int8 activations, as llama.cpp's
#   Q8_0 activations, a labelled mode) and `--w16-act bf16` (rows "... +bf16": activations rounded to bf16,
#   a GPU W4A16 kernel's 16-bit activations, a labelled mode). ptqbench holds the embedding and lm_head in bf16 (`--outer bf16`)
#   beside a quantized llama.cpp file (whose output.weight is Q6_K or Q8_0: still ~2x fewer bytes than
#   bf16) and in fp32 beside F32. In "model" mode the rows "... +lm8" repeat the quantized pairs with an
#   int8 lm_head (`--opt quant_lm_head=true --opt lm_head_bits=8`): the byte-alike decode comparison.
# Prints the issue's table (ratios ptqbench / llama.cpp, median of runs, best in parentheses), both
# engines' tok/s, ptqbench's decode read-bandwidth fraction (bytes read per token x tok/s / the machine's
# streaming read bandwidth, measured in the same ptqbench run; "*" when the bytes fit in the last-level
# cache, so part of them need not come from DRAM) and the 1-minute load average around every run.
# This is the supported side-by-side: the peer directory's own bench.sh passes flags ptqbench no longer
# has (--no-kernels, --no-layers) and fails; it is not ours to edit. Needs the peer installed (bash ../shared/peer/llamacpp/setup.sh) and python3 with numpy (to
# write the GGUFs once, into PEER/models). Measure on a quiet machine; a busy one only shows the noise.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERSRC=$(cd "$ROOT/../shared/peer/llamacpp" 2>/dev/null && pwd || true)
die() { printf 'bench_peer.sh: error: %s\n' "$*" >&2; exit 2; }
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 2; }

PTQ=$ROOT/build/ptqbench DIR=/tmp/llamacpp-peer TH=2 REPS=7 TOKENS=128,512 CTX=512 MODES=layer,model
while [ $# -gt 0 ]; do
    case "$1" in -h|--help) usage ;; esac
    [ $# -ge 2 ] || usage
    case "$1" in
        --ptq) PTQ=$2 ;; --peer) DIR=$2 ;; --threads) TH=$2 ;; --reps) REPS=$2 ;;
        --tokens) TOKENS=$2 ;; --ctx) CTX=$2 ;; --modes) MODES=$2 ;; *) usage ;;
    esac
    shift 2
done
[[ "$TH" =~ ^[1-9][0-9]*$ && "$REPS" =~ ^[1-9][0-9]*$ && "$CTX" =~ ^[1-9][0-9]*$ ]] ||
    die "--threads, --reps, --ctx: positive integers"
[[ "$TOKENS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--tokens: a comma-separated list of positive integers"
[ "$REPS" -ge 5 ] || die "--reps: at least 5 (ptqbench's minimum)"
[ -x "$PTQ" ] || die "$PTQ is not an executable ptqbench binary (build first, or give --ptq)"
LLM=$DIR/llmbench
[ -x "$LLM" ] || die "$LLM not found: run bash ../shared/peer/llamacpp/setup.sh $DIR first"
[ -n "$PEERSRC" ] && [ -f "$PEERSRC/gguf_write.py" ] || die "../shared/peer/llamacpp (gguf_write.py) not found"
PY=${PYTHON:-python3}

# ---- models (written once) ----
mkdir -p "$DIR/models"
model() { # vocab -> base path; writes the F32 GGUF and its quantized versions if missing
    local base=$DIR/models/r7b-L2-v$1
    if [ ! -f "$base-f32.gguf" ]; then
        "$PY" -c 'import numpy' 2>/dev/null || die "$PY has no numpy (apt-get install python3-numpy)"
        echo "writing $base-f32.gguf ..." >&2
        "$PY" "$PEERSRC/gguf_write.py" random "$base-f32.gguf" --dim 4096 --ffn 11008 --heads 32 --layers 2 \
            --vocab "$1" >&2 || die "gguf_write.py random failed"
    fi
    for q in q8_0 q4_0 q4_k_m; do
        if [ ! -f "$base-$q.gguf" ]; then
            echo "quantizing $base-$q.gguf ..." >&2
            "$LLM" quant "$base-f32.gguf" "$base-$q.gguf.part" "${q^^}" > "$base-$q.quant.log" 2>&1 ||
                die "llmbench quant ${q^^} failed, see $base-$q.quant.log"
            mv "$base-$q.gguf.part" "$base-$q.gguf"
        fi
    done
    echo "$base"
}

OUT=$DIR/results/bench_peer-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
export LLMBENCH_DECODE_REPS=$(( 3 * REPS ))
la1() { cut -d' ' -f1 /proc/loadavg; }
run() { # file command...
    local f=$OUT/$1.txt; shift
    { echo "# $*"; echo "# loadavg_before $(la1)"; } > "$f"
    local rc=0
    "$@" >> "$f" 2>&1 || rc=$?
    { echo "# rc $rc"; echo "# loadavg_after $(la1)"; } >> "$f"
    printf '%s %-28s rc=%d  load %s\n' "$(date -u +%T)" "$(basename "$f" .txt)" $rc "$(la1)" >&2
    [ $rc = 0 ] || { echo "---- $f:" >&2; tail -5 "$f" >&2; }
}
if awk -v l="$(la1)" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2.0) }'; then
    echo "WARNING: 1-minute load average $(la1) on $(nproc) cores: the figures will be noisy" >&2
fi
echo "bench_peer: threads=$TH reps=$REPS tokens=$TOKENS ctx=$CTX modes=$MODES -> $OUT" >&2
for mode in ${MODES//,/ }; do
    case "$mode" in layer) V=512 ;; model) V=32000 ;; *) die "--modes: layer and/or model" ;; esac
    BASE=$(model $V)
    PAIRS=("f32 W4A16" "q8_0 W8A8" "q8_0 W8A16" "q4_0 W4A4" "q4_k_m W4A16-g128"
           "q8_0 W8A16+int8" "q4_0 W4A16+int8" "q4_k_m W4A16-g128+int8"
           "q8_0 W8A16+bf16" "q4_0 W4A16+bf16" "q4_k_m W4A16-g128+bf16")
    [ "$mode" = model ] && PAIRS+=("q8_0 W8A8+lm8" "q8_0 W8A16+int8+lm8" "q4_0 W4A16+lm8" "q4_0 W4A4+lm8"
                                   "q4_0 W4A16+int8+lm8" "q4_k_m W4A16-g128+int8+lm8"
                                   "q4_0 W4A16+bf16+lm8" "q4_k_m W4A16-g128+bf16+lm8")
    for pair in "${PAIRS[@]}"; do
        set -- $pair
        w16=fp32 outer=bf16 lm=()
        [[ "$2" == *+int8* ]] && w16=int8
        [[ "$2" == *+bf16* ]] && w16=bf16
        [[ "$2" == *+lm8* ]] && lm=(--opt quant_lm_head=true --opt lm_head_bits=8)
        [ "$1" = f32 ] && outer=f32
        [ -f "$OUT/${mode}_llama_$1.txt" ] || run "${mode}_llama_$1" "$LLM" bench "$BASE-$1.gguf" "$TH" "$REPS" "$TOKENS" "$CTX"
        run "${mode}_ptq_$2" "$PTQ" bench --shape llama7b --layers 2 --vocab $V --method rtn --bits "${2%%+*}" \
            --outer $outer --w16-act $w16 "${lm[@]}" --threads "$TH" --reps "$REPS" --tokens "$TOKENS" --ctx "$CTX"
    done
done

"$PY" - "$OUT" <<'EOF'
import glob, os, re, sys
out = sys.argv[1]
rx_l = re.compile(r"^\s+(prefill T=\d+|decode ctx=\d+)\s+([\d.]+) tok/s \[([\d.]+)\.\.([\d.]+)\]")
rx_p = re.compile(r"^\s+(prefill T=\d+|decode ctx=\d+)\s+packed\s+([\d.]+) tok/s \[([\d.]+)\.\.([\d.]+)\]"
                  r"\s+fp32\s+([\d.]+) \[([\d.]+)\.\.([\d.]+)\]")
rx_bw = re.compile(r"^\s+decode ctx=(\d+)\s+reads packed ([\d.]+) GB/s \(([\d.]+)% of ([\d.]+) GB/s read bandwidth\)"
                   r"( \[fits LLC\])?\s+fp32 ([\d.]+) GB/s \(([\d.]+)%\)( \[fits LLC\])?")
med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else 0.5 * (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2])
data, bw, loads, metrics, own = {}, {}, [], [], {}
for f in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(f)[:-4]
    mode, eng, cfg = name.split("_", 2)
    txt = open(f).read()
    loads.append(f"{name}: " + ", ".join(f"{w} {v}" for w, v in re.findall(r"# loadavg_(before|after) ([\d.]+)", txt)))
    for line in txt.splitlines():
        m = (rx_l if eng == "llama" else rx_p).match(line)
        if m:
            met = m.group(1)
            metrics.append(met) if met not in metrics else None
            if eng == "llama":
                data[(mode, "llama.cpp", cfg, met)] = (float(m.group(2)), float(m.group(4)))
            else:
                data[(mode, "ptqbench", cfg, met)] = (float(m.group(2)), float(m.group(4)))
                own[(mode, cfg, met)] = float(m.group(2)) / float(m.group(5))
                data.setdefault((mode, "ptqbench", "FP32", met), []).append((float(m.group(5)), float(m.group(7))))
        b = rx_bw.match(line) if eng == "ptq" else None
        if b:
            bw[(mode, cfg)] = (float(b.group(3)), float(b.group(4)), bool(b.group(5)))
            bw.setdefault((mode, "FP32"), []).append((float(b.group(7)), bool(b.group(8))))
for k, v in list(data.items()):  # ptqbench FP32: median of its per-run medians, best of its best
    if isinstance(v, list):
        data[k] = (med([x[0] for x in v]), max(x[1] for x in v))
for k, v in list(bw.items()):
    if isinstance(v, list):
        bw[k] = (med([x[0] for x in v]), None, any(x[1] for x in v))
metrics.sort(key=lambda s: (s.startswith("decode"), int(s.split("=")[1])))
pairs = [("FP32", "f32", "FP32 / F32"), ("W8A8", "q8_0", "W8A8 / Q8_0"), ("W8A16", "q8_0", "W8A16 / Q8_0"),
         ("W4A16", "q4_0", "W4A16 / Q4_0"), ("W4A4", "q4_0", "W4A4 / Q4_0"),
         ("W4A16-g128", "q4_k_m", "W4A16-g128 / Q4_K_M"), ("W8A16+int8", "q8_0", "W8A16 int8-act / Q8_0"),
         ("W4A16+int8", "q4_0", "W4A16 int8-act / Q4_0"), ("W4A16-g128+int8", "q4_k_m", "W4A16-g128 int8-act / Q4_K_M"),
         ("W8A8+lm8", "q8_0", "W8A8 lm8 / Q8_0"), ("W8A16+int8+lm8", "q8_0", "W8A16 int8-act lm8 / Q8_0"),
         ("W4A16+lm8", "q4_0", "W4A16 lm8 / Q4_0"), ("W4A4+lm8", "q4_0", "W4A4 lm8 / Q4_0"),
         ("W4A16+int8+lm8", "q4_0", "W4A16 int8-act lm8 / Q4_0"),
         ("W4A16-g128+int8+lm8", "q4_k_m", "W4A16-g128 int8-act lm8 / Q4_K_M"),
         ("W8A16+bf16", "q8_0", "W8A16 bf16-act / Q8_0"), ("W4A16+bf16", "q4_0", "W4A16 bf16-act / Q4_0"),
         ("W4A16-g128+bf16", "q4_k_m", "W4A16-g128 bf16-act / Q4_K_M"),
         ("W4A16+bf16+lm8", "q4_0", "W4A16 bf16-act lm8 / Q4_0"),
         ("W4A16-g128+bf16+lm8", "q4_k_m", "W4A16-g128 bf16-act lm8 / Q4_K_M")]
modes = [m for m in ("layer", "model") if any(k[0] == m for k in data)]
title = {"layer": "per layer (2 layers, vocab 512)", "model": "whole model (2 layers, vocab 32000)"}
print("\nratio ptqbench / llama.cpp, median of runs (best / best); prefill with last-position logits\n")
print("| ptqbench / llama.cpp | " + " | ".join(metrics) + " | decode read bw (ptqbench) |")
print("|---|" + "---|" * (len(metrics) + 1))
for mode in modes:
    for p, l, label in pairs:
        cells = []
        for met in metrics:
            a, b = data.get((mode, "ptqbench", p, met)), data.get((mode, "llama.cpp", l, met))
            cells.append(f"{a[0] / b[0]:.2f}x ({a[1] / b[1]:.2f}x)" if a and b else "-")
        f = bw.get((mode, p))
        cells.append(f"{f[0]:.0f}%{'*' if f[2] else ''}" if f else "-")
        print(f"| {title[mode]}, {label} | " + " | ".join(cells) + " |")
print("\nptqbench packed / its own FP32 path, same run (median tok/s ratio)\n")
print("| ptqbench config | " + " | ".join(metrics) + " |")
print("|---|" + "---|" * len(metrics))
for mode in modes:
    for cfg in sorted({k[1] for k in own if k[0] == mode}):
        print(f"| {title[mode]}, {cfg} | " + " | ".join(f"{own[(mode, cfg, m)]:.2f}x" if (mode, cfg, m) in own else "-"
                                                     for m in metrics) + " |")
print("\n* the decode bytes fit in the last-level cache: part of them need not come from DRAM between tokens")
print("int8-act: weight-only linears on per-token int8 activations, prefill and decode (bench --w16-act int8), a labelled mode")
print("bf16-act: weight-only linears on bf16-rounded activations (bench --w16-act bf16; vdpbf16ps), a labelled mode")
print("ptqbench embedding and lm_head: bf16 beside quantized llama.cpp files (their output.weight: Q6_K / Q8_0), fp32 beside F32;")
print("lm8: lm_head int8 instead (RTN per output channel, packed; `--opt quant_lm_head=true --opt lm_head_bits=8`),")
print("  with int8 inputs where the cell quantizes activations: about the bytes of llama.cpp's output.weight")
print("\ntok/s (whole 2-layer model), median (best)\n")
print("| mode | engine | config | " + " | ".join(metrics) + " |")
print("|---|---|---|" + "---|" * len(metrics))
for mode, eng, cfg in sorted({k[:3] for k in data}):
    cells = [f"{data[(mode, eng, cfg, m)][0]:.1f} ({data[(mode, eng, cfg, m)][1]:.1f})" if (mode, eng, cfg, m) in data
             else "-" for m in metrics]
    print(f"| {mode} | {eng} | {cfg} | " + " | ".join(cells) + " |")
rb = [v[1] for v in bw.values() if v[1]]
if rb:
    print(f"\nread bandwidth measured by ptqbench bench: median {med(rb):.2f} GB/s over {len(rb)} runs")
print("\n1-minute load average before / after each run (%d cores):" % os.cpu_count())
for l in loads:
    print("  " + l)
print(f"\nraw outputs: {out}")
EOF
