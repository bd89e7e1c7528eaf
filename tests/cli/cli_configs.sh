#!/usr/bin/env bash
# cli_configs.sh — every shipped experiment config parses and plans
# (`sweep --dry-run`; label fast, so CI also runs it under ASan/UBSan). The
# configs that need a method not implemented yet must fail with exit 2 and
# a message naming that method; every other config must plan cleanly.
set -u
BIN="$1"
source "$(dirname "$0")/testlib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# config -> the missing method its error must name
declare -A missing=()
n=0
for cfg in experiments/*.json; do
    name=$(basename "$cfg" .json)
    n=$((n + 1))
    if [ -n "${missing[$name]:-}" ]; then
        expect 2 "unknown method \"${missing[$name]}\"" "$BIN" sweep "$cfg" --dry-run --out "$T/$name"
    else
        expect 0 "plan: experiment" "$BIN" sweep "$cfg" --dry-run --out "$T/$name"
    fi
done
[ "$n" -ge 15 ] || fail "expected the 15+ shipped configs, found $n"
[ "$fails" -eq 0 ] && echo "cli_configs: $n configs ok" || exit 1
