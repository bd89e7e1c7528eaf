#!/usr/bin/env bash
# test.sh — set up, build with -Werror (gcc), run the whole ctest suite, build
# again with AddressSanitizer + UBSan and run the fast subset under it, then
# build with clang -Werror and run every fuzz harness for FUZZ_SECONDS
# (default 20) after its committed crash reproducers (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# clang + its runtime: the second compiler of CI and libFuzzer for tests/fuzz;
# slurm-wlm + munge: the single-node cluster of tests/cli/cli_slurm_slow.sh
PTQ_EXTRA_PKGS="clang libclang-rt-14-dev slurm-wlm munge" PTQ_BUILD_DIR=build bash scripts/setup.sh -DPTQ_WERROR=ON
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j1 --timeout 900

echo "== fast tests under AddressSanitizer + UBSan =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTQ_SANITIZE=ON -DPTQ_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)" 2>&1 | grep -E "error|warning" || true
# LeakSanitizer: suppress the thread pools of libgomp/OpenBLAS that live until exit.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build-asan --output-on-failure -j1 -L fast --timeout 900

echo "== fuzz harnesses: clang -Werror build, crash reproducers, ${FUZZ_SECONDS:-20} s of libFuzzer each =="
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
