# testlib.sh — shared by the tests/cli_*.sh scripts (sourced; not itself a test).
# expect CODE NEEDLE command... : the command must exit with CODE and its
# combined output must contain NEEDLE; otherwise the failure is counted.
fails=0
expect() {
    local code="$1" needle="$2"
    shift 2
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" != "$code" ] || ! grep -qF -- "$needle" <<<"$out"; then
        echo "FAIL: '$*' -> exit $rc (want $code), output: $out" >&2
        fails=$((fails + 1))
    fi
}
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# cli_scratch: T = a fresh directory, removed when the script exits; one
# OpenMP thread (the scripts check behaviour, not speed).
cli_scratch() {
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    export OMP_NUM_THREADS=1
}
# data_root: the directory "$BIN" reads its assets from.
data_root() { "$BIN" datasets list | sed -n 's/^data root: //p'; }
