#!/usr/bin/env python3
"""learned_table.py — the learned-rotation evidence table (Markdown) from a
sweep's results: one row per cell (model, method + options, bits) with
TinyStories / WikiText-2 perplexity and KLD, the calibration loss before and
after learning (SpinQuant/ReSpinQuant: CE of the quantized network; RUQuant
+ft: block-output MSE summed over layers) and the cell's optimization time
(quant_seconds: rotations, learning and weight quantization).
usage: scripts/learned_table.py RESULTS_DIR_OR_JSONL... > table.md"""
import glob, json, os, sys

rows = []
for a in sys.argv[1:]:
    for f in sorted(glob.glob(os.path.join(a, "results*.jsonl"))) if os.path.isdir(a) else [a]:
        rows += [json.loads(l) for l in open(f) if l.strip()]
cells = {}
for r in rows:
    c = cells.setdefault(r["key"], {"row": r, "m": {}})
    t, m = r["task"], r["metrics"]
    c["m"][t] = m.get("ppl") if t.startswith("ppl:") else m.get("kld_mean")

def learned(r):
    mi = r.get("method_info", {})
    if "learning" in mi:
        l = mi["learning"]
        run = l.get("steps_run", l.get("steps"))
        return "%.4f → %.4f" % (l["calib_loss_initial"], l["calib_loss_learned"]), "%d" % run
    if "ruquant_ft" in mi:
        e = mi["ruquant_ft"]
        return "%.4f → %.4f (MSE)" % (sum(x["mse_initial"] for x in e), sum(x["mse_learned"] for x in e)), "%d ep" % r["options"]["ft_epochs"]
    return "", ""

fmt = lambda v: "" if v is None else "%.3f" % v if v >= 0.1 else "%.4f" % v
print("| model | method | bits | ppl TinyStories | ppl WikiText-2 | KLD TinyStories | KLD WikiText-2 | calibration loss | steps | optimization s |")
print("|---|---|---|---|---|---|---|---|---|---|")
order = lambda c: (c["row"]["model"], c["row"]["bits"], c["row"].get("index", 0))
for c in sorted(cells.values(), key=order):
    r, m = c["row"], c["m"]
    cl, st = learned(r)
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f |" % (
        r["model"], r["label"], r["bits"], fmt(m.get("ppl:tinystories")), fmt(m.get("ppl:wikitext2")),
        fmt(m.get("kld:tinystories")), fmt(m.get("kld:wikitext2")), cl, st, r["quant_seconds"]))
