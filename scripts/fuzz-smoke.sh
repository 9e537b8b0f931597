#!/usr/bin/env bash
# Short smoke run of every cargo-fuzz target. Prints executions per target and
# writes the table to target/fuzz-smoke.txt. A crash fails the run.
# Usage: scripts/fuzz-smoke.sh [seconds-per-target]
set -euo pipefail
seconds=${1:-10}
cd "$(dirname "$0")/../fuzz"
# cargo-fuzz passes unstable rustc flags; the machine has only a stable
# toolchain, so allow them there. Our code forbids `unsafe`, so the sanitizer
# adds little and is left off for speed.
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build --sanitizer none >&2
mkdir -p ../target
summary=../target/fuzz-smoke.txt
: > "$summary"
for t in $targets; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    if ! cargo fuzz run "$t" --sanitizer none "corpus/$t" -- -max_total_time="$seconds" -max_len=4096 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz target $t FAILED" >&2
        exit 1
    fi
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1)
    printf '%-24s %12s executions in %ss\n' "$t" "${runs:-?}" "$seconds" | tee -a "$summary"
    rm -f "$log"
done
