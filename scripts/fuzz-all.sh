#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints the executions
# per target. Seeds come from fuzz/seeds/TARGET (committed); what libFuzzer finds goes
# to fuzz/corpus/TARGET (not committed), crashes to fuzz/artifacts/TARGET.
#
# Usage: scripts/fuzz-all.sh [SECONDS] [TARGET...]   (default 60 s per target, all targets)
#
# Works on the stable toolchain: coverage instrumentation without a sanitizer
# (`--sanitizer none`). Exits 1 if any target crashed, leaked past the RSS limit or
# timed out on an input.

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fuzz=$(dirname "$here")/fuzz
seconds=${1:-60}
shift || true
cd "$fuzz"

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export CARGO_TARGET_DIR=$fuzz/target
# cargo-fuzz asks rustc for flags that stable accepts only with this switch.
export RUSTC_BOOTSTRAP=1

targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
echo "==> building ${#targets[@]} fuzz targets" >&2
cargo fuzz build --sanitizer none >&2

mkdir -p logs
failed=0
printf '%-16s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log=logs/$t.log
    rc=0
    cargo fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
    corpus=$(find "corpus/$t" -type f | wc -l)
    result=ok
    if ((rc != 0)); then
        result="FAILED (exit $rc, see fuzz/$log)"
        failed=1
    fi
    printf '%-16s %12s %10s %8s %s\n' "$t" "${execs:-?}" "$rate" "$corpus" "$result"
done
exit "$failed"
