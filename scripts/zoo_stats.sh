#!/usr/bin/env bash
# zoo_stats.sh — outlier statistics across training, side by side: `ptqbench
# stats` on every snapshot of each zoo model (MODEL_DIR/step<S>/, written at
# the recipe's checkpoint.snapshots fractions) and on the final model
# (MODEL_DIR), and on stories260K and TinyStories-656K for reference; then 3
# greedy samples of each final zoo model (`ptqbench generate --temperature 0`).
#
#   bash scripts/zoo_stats.sh MODEL_DIR...     e.g. data/zoo/models/zoo-d512-l8
#
# Output (ZOO_STATS_OUT, default results/zoo):
#   stats/<model>@<when>/     ptqbench stats' per-layer tables and plots of each model/snapshot
#   outliers.md               one table per statistic: rows = linear input (or weight), columns = the
#                             models at each snapshot (10%, 50%, 100% of training) and the reference models
#   growth_<model>_{top_ratio,max_abs}.{png,svg}   the statistic over training, one line per linear input
#   samples.md                the greedy samples
# Each cell is the maximum over the layers of the per-layer value, with the layer it comes from (L3; "final" =
# lm_head's input). A snapshot's fraction is its step over the run's last logged step (train_log.jsonl);
# a run that is not finished labels its snapshots by step only.
# Calibration is the same for every model: stats' default set (C4), ZOO_STATS_NSAMPLES (16) windows of
# min(256, the smallest max_position_embeddings among the zoo models) tokens, seed 0.
# ZOO_STATS_REFS (default "stories260K tinystories-656k") lists the reference models (empty: none);
# ZOO_SAMPLE_STEPS (64) positions per sample. PTQBENCH_BIN overrides build/ptqbench.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash scripts/zoo_stats.sh MODEL_DIR..." >&2; exit 2; }
ARGS=()
for d in "$@"; do
    [ -d "$d" ] || { echo "error: $d: no such directory" >&2; exit 2; }
    ARGS+=("$(cd "$d" && pwd)")
done
set -- "${ARGS[@]}"
cd "$(dirname "$0")/.."
BIN=${PTQBENCH_BIN:-build/ptqbench}
[ -x "$BIN" ] || { echo "error: $BIN not built (cmake --build build)" >&2; exit 2; }
OUT=${ZOO_STATS_OUT:-results/zoo}
NS=${ZOO_STATS_NSAMPLES:-16}
REFS=${ZOO_STATS_REFS-stories260K tinystories-656k}
# A ./data without the assets (e.g. only data/zoo from the recipes) shadows ../shared/assets as the data root.
if [ -z "${PTQBENCH_DATA:-}" ] && [ ! -e data/SHA256SUMS ] && [ -e ../shared/assets/SHA256SUMS ]; then
    PTQBENCH_DATA=$(cd ../shared/assets && pwd)
    export PTQBENCH_DATA
fi
for d in "$@"; do
    [ -f "$d/config.json" ] || ls -d "$d"/step* >/dev/null 2>&1 ||
        { echo "error: $d: neither a model directory (config.json) nor a run with step<S>/ snapshots" >&2; exit 2; }
done
mkdir -p "$OUT/stats"
rm -f "$OUT/stats/.index.tmp"

# every (label, spec) to measure, in table order: each zoo run's snapshots then its final model, then the references
LIST=$(python3 - "$@" <<'EOF'
import glob, json, os, re, sys
for d in sys.argv[1:]:
    d = d.rstrip("/")
    name = os.path.basename(d)
    total = 0
    log = os.path.join(d, "train_log.jsonl")
    if os.path.exists(os.path.join(d, "model.safetensors")) and os.path.exists(log):
        for line in open(log):
            total = max(total, json.loads(line).get("step", 0))
    snaps = sorted((int(m.group(1)), p) for p in glob.glob(d + "/step*")
                   if (m := re.fullmatch(r"step(\d+)", os.path.basename(p))) and os.path.exists(p + "/config.json"))
    if os.path.exists(d + "/config.json"):
        snaps.append((total, d))
    for step, p in snaps:
        when = f"{100 * step / total:.0f}% (step {step})" if total else f"step {step}"
        print(f"{name}@{when}\t{p}\t{name}_step{step}")
EOF
)
for r in $REFS; do LIST+=$'\n'"$r"$'\t'"$r"$'\t'"$r"; done
SEQ=$(python3 - "$@" <<'EOF'
import glob, json, sys
cfgs = [f for d in sys.argv[1:] for f in glob.glob(d + "/config.json") + glob.glob(d + "/step*/config.json")]
print(min([256] + [json.load(open(f))["max_position_embeddings"] for f in cfgs]))
EOF
)

while IFS=$'\t' read -r label spec dirname; do
    [ -n "$label" ] || continue
    dir="$OUT/stats/$dirname"
    echo "stats: $label ($spec)" >&2
    rm -rf "$dir"
    "$BIN" stats "$spec" --nsamples "$NS" --seqlen "$SEQ" --out "$dir" > "$dir.log" 2>&1 ||
        { cat "$dir.log" >&2; echo "error: ptqbench stats $spec failed" >&2; exit 1; }
    printf '%s\t%s\n' "$label" "$dir" >> "$OUT/stats/.index.tmp"
done <<< "$LIST"
mv "$OUT/stats/.index.tmp" "$OUT/stats/index.tsv"

PLOTS=$(python3 - "$OUT" "$NS" "$SEQ" <<'EOF'
import csv, glob, math, os, sys
out, ns, seq = sys.argv[1:4]
runs = [l.rstrip("\n").split("\t") for l in open(f"{out}/stats/index.tsv")]

def num(s):
    try:
        return float(s)
    except ValueError:
        return math.nan

def rows(d, kind):
    (f,) = glob.glob(f"{d}/table_*_{kind}.csv")
    return list(csv.DictReader(open(f)))

def peak(rs, key, col):  # max over layers of col, per key: (value, layer)
    best = {}
    for r in rs:
        v, k = num(r[col]), r[key]
        if k not in best or v > best[k][0] or math.isnan(best[k][0]):
            best[k] = (v, r["layer"])
    return best

ACT = [("max|x|", "max|x|"), ("top/median", "top/median channel max|x|"), ("kurtosis", "kurtosis"),
       ("massive %", "massive activations % (|x| > 100x the token's median)")]
WGT = [("max|w|", "max|w|"), ("top/median", "weight input-column top/median"), ("kurtosis", "weight kurtosis")]
acts = {lab: rows(d, "actstats") for lab, d in runs}
wgts = {lab: rows(d, "wstats") for lab, d in runs}
labels = [lab for lab, _ in runs]

def fmt(v, layer):
    if math.isnan(v):
        return "-"
    if v == 0:
        return "0"
    lay = "" if layer == "final" else f"L{layer}"
    return f"{v:.3g} ({lay})" if lay else f"{v:.3g}"

md = [f"# Outlier statistics across training\n",
      f"Calibration: C4, {ns} windows x {seq} tokens, seed 0 (`ptqbench stats`). Each cell: the maximum over layers "
      "(layer in parentheses). Per-layer tables and plots: `stats/<model>/`.\n"]
for data, key, cols, what in [(acts, "input", ACT, "activation"), (wgts, "linear", WGT, "weight")]:
    groups = list(dict.fromkeys(r[key] for lab in labels for r in data[lab]))
    for col, title in cols:
        md.append(f"\n## {title} ({what}s)\n")
        md.append("| " + key + " | " + " | ".join(labels) + " |")
        md.append("|---|" + "---:|" * len(labels))
        pk = {lab: peak(data[lab], key, col) for lab in labels}
        for g in groups:
            md.append(f"| {g} | " + " | ".join(fmt(*pk[lab].get(g, (math.nan, ""))) for lab in labels) + " |")
open(f"{out}/outliers.md", "w").write("\n".join(md) + "\n")

# growth plots: per zoo model with two or more points, the statistic at each snapshot, one line per input
models = {}
for lab, _ in runs:
    name, _, when = lab.partition("@")
    if when:
        models.setdefault(name, []).append(lab)
for name, labs in models.items():
    if len(labs) < 2:
        continue
    for col, tag in [("top/median", "top_ratio"), ("max|x|", "max_abs")]:
        groups = list(dict.fromkeys(r["input"] for lab in labs for r in acts[lab]))
        base = f"{out}/growth_{name}_{tag}"
        with open(base + ".dat", "w") as f:
            for g in groups:
                for i, lab in enumerate(labs):
                    v = peak(acts[lab], "input", col).get(g, (math.nan, ""))[0]
                    f.write(f"{i} {v:.6g} {lab.partition('@')[2].split(' ')[0]}\n")
                f.write("\n\n")
        print(f"{base}\t{len(groups)}\t{' '.join(groups)}\t{len(labs)}\t{col}\t{name}")
EOF
)
echo "table: $OUT/outliers.md" >&2

# growth plots (scripts/zoo/growth.gp)
while IFS=$'\t' read -r base n titles nx col name; do
    [ -n "$base" ] || continue
    gnuplot -e "datafile='$base.dat'; outbase='$base'; ylab='$col (max over layers)'; ttl='$name: $col over training'; nblocks=$n; titles='$titles'; nx=$nx" \
        scripts/zoo/growth.gp || { echo "error: gnuplot failed on $base.dat" >&2; exit 1; }
    echo "plot: $base.png $base.svg" >&2
done <<< "$PLOTS"

# greedy samples of each final zoo model
{
    echo "# Greedy samples (ptqbench generate --temperature 0 --steps ${ZOO_SAMPLE_STEPS:-64})"
    for d in "$@"; do
        [ -f "$d/model.safetensors" ] || continue
        echo; echo "## $(basename "$d")"
        for p in "Once upon a time" "The meaning of the word" "In the beginning"; do
            echo; echo '```'
            "$BIN" generate --model "$d" --prompt "$p" --steps "${ZOO_SAMPLE_STEPS:-64}" --temperature 0 2>/dev/null | cat -s ||
                echo "(generate failed)"
            echo '```'
        done
    done
} > "$OUT/samples.md"
echo "samples: $OUT/samples.md" >&2
