#!/usr/bin/env bash
# gemv_ab.sh OLD_REV [PASSES] — the dense-row decode GEMV (src/kernels/isa/sgemv_avx512.c) at OLD_REV (A)
# against the work tree's (B), alternated pass by pass in one process (gemv_rows_ab.c), for the shapes that
# decode reads as 16-bit or fp32 rows: a 32000 x 4096 lm_head in bf16 and fp16, an 11008 x 4096 fp32 matrix.
# Run it alone (check /proc/loadavg): the figure is a ratio, but a busy machine widens its spread.
set -euo pipefail
old=${1:?usage: gemv_ab.sh OLD_REV [PASSES]}
passes=${2:-15}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cflags=(-O3 -march=native -fno-math-errno -DNDEBUG -fopenmp -I"$root/src/kernels" -I"$root/src/core" -I"$root/src")
git -C "$root" show "$old:src/kernels/isa/sgemv_avx512.c" > "$tmp/old.c"
gcc "${cflags[@]}" -Dptq_gemv_rows_avx512=gemv_A -c "$tmp/old.c" -o "$tmp/a.o"
gcc "${cflags[@]}" -Dptq_gemv_rows_avx512=gemv_B -c "$root/src/kernels/isa/sgemv_avx512.c" -o "$tmp/b.o"
gcc "${cflags[@]}" "$root/scripts/ab/gemv_rows_ab.c" "$tmp/a.o" "$tmp/b.o" -o "$tmp/ab"
echo "gemv_ab: A = $old, B = work tree ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- src/kernels/isa/sgemv_avx512.c || echo ' + edits')), load $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in "1 32000 4096" "2 32000 4096" "0 11008 4096"; do
    # shellcheck disable=SC2086
    "$tmp/ab" $shape "$passes"
done
