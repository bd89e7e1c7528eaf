#!/usr/bin/env python3
"""same_rows.py A B — the rows of two results (a directory: every results*.jsonl
in it, e.g. the shard files of a sharded sweep; or one .jsonl file) are the same
set: every row key once on each side (no duplicate rows), and every metric equal
bit for bit, apart from timings. Exit 0 and a one-line summary, or 1 naming the
first differences."""
import glob, json, os, re, sys

TIMING = re.compile(r"per_sec|seconds|_ms$|^cache")

def rows(path):
    files = sorted(glob.glob(os.path.join(path, "results*.jsonl"))) if os.path.isdir(path) else [path]
    out, dups = {}, []
    for f in files:
        for n, line in enumerate(open(f), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            k = r["row_key"]
            if k in out:
                dups.append(f"{f}:{n} {r.get('id')}")
            out[k] = r
    return out, dups, files

def main():
    a, da, fa = rows(sys.argv[1])
    b, db, fb = rows(sys.argv[2])
    bad = [f"duplicate row {d}" for d in da + db]
    bad += [f"only in {sys.argv[1]}: {a[k].get('id')}" for k in sorted(set(a) - set(b))]
    bad += [f"only in {sys.argv[2]}: {b[k].get('id')}" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        ma, mb = a[k]["metrics"], b[k]["metrics"]
        for m in sorted(set(ma) | set(mb)):
            if not TIMING.search(m) and ma.get(m) != mb.get(m):
                bad.append(f"{a[k].get('id')}: {m} {ma.get(m)!r} vs {mb.get(m)!r}")
    if bad:
        print("\n".join(bad[:20]))
        return 1
    print(f"same rows: {len(a)} rows, {len(fa)} file(s) vs {len(fb)} file(s), metrics equal bit for bit")
    return 0

sys.exit(main())
