#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan)
# and run each for SECONDS (default 20) on a working copy of its seed corpus,
# after replaying the committed crash reproducers. A crash, leak or timeout
# leaves its input in results/fuzz/<harness>/ and fails the run (exit 1):
# fix it, then commit the input under tests/fuzz/crashes/<harness>/.
#   usage: scripts/fuzz.sh [SECONDS] [HARNESS ...]     (harness: tokenizer_json, safetensors, ...)
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
shift || true
command -v clang >/dev/null || { echo "fuzz: clang not installed (apt-get install clang)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTQ_FUZZ=ON -DPTQ_WERROR=ON >/dev/null || exit 2
cmake --build build-fuzz -j"$(nproc)" 2>&1 | grep -E "error" && exit 2
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); [ "$n" = fuzz_util ] || names+=("${n#fuzz_}"); done
fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" OMP_NUM_THREADS=1
status=0
printf '%-20s %10s %6s %6s %s\n' harness execs cov ft result
for n in "${names[@]}"; do
    bin=build-fuzz/fuzz_$n work=results/fuzz/$n
    [ -x "$bin" ] || { echo "fuzz: no harness '$n'" >&2; status=2; continue; }
    mkdir -p "$work/corpus"
    cp -n tests/fuzz/corpus/"$n"/* "$work/corpus/" 2>/dev/null
    rep=ok
    if [ -d tests/fuzz/crashes/$n ] && ! "$bin" tests/fuzz/crashes/$n/* >"$work/replay.log" 2>&1; then
        rep="reproducer fails: $work/replay.log"; status=1
    fi
    "$bin" "$work/corpus" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" >"$work/run.log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$work/run.log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/run.log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last") ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    if [ $rc -ne 0 ]; then rep="FOUND: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1) ($work/run.log)"; status=1; fi
    printf '%-20s %10s %6s %6s %s\n' "$n" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$rep"
done
exit $status
