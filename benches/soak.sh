#!/usr/bin/env bash
# Soak: aicrd at full load on every route for a while, on loopback only. Reports the
# answers by status, socket errors, latency percentiles, and the server's RSS and open
# file descriptors at start, middle and end of the run, and once the load has stopped.
#
# Usage: benches/soak.sh [SECONDS]      (default 60; see benches/README.md)
#
# Fails (exit 1) on: any socket error, any answer outside 200/304 except the 400 and
# 404 requested on purpose and 429 (rate limiting, when RATE_LIMIT is set), the server
# dying, RSS at the end above 1.5x the start plus 64 MiB, or descriptors left open
# once the clients are gone (more than the start-up count plus 8). Never on throughput.
#
# Environment:
#   CONNS=64 THREADS=2  wrk connections and threads
#   RATE_LIMIT=0        AICR_RATE_LIMIT of the server (0: off, so the load is full)
#   AICRD_BIN=          use this binary instead of `cargo build --release`
#   KEEP_TMP=1          keep the temporary directory (server log, wrk output)

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
SECONDS_TOTAL=${1:-${SOAK_SECONDS:-60}}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
RATE_LIMIT=${RATE_LIMIT:-0}
HOST=127.0.0.1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'soak.sh: %s\n' "$*" >&2; exit 1; }
stat_py() { python3 "$here/loadstat.py" "$@"; }

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } >&2 \
        || die "cannot install wrk"
fi

if [[ -n ${AICRD_BIN:-} ]]; then
    bin=$AICRD_BIN
else
    log "cargo build --release"
    (cd "$repo" && cargo build --release --quiet)
    bin=${CARGO_TARGET_DIR:-$repo/target}/release/aicrd
fi
[[ -x $bin ]] || die "no executable at $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aicrd-soak.XXXXXX")
server_pid='' wrk_pid=''
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in $wrk_pid $server_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $wrk_pid $server_pid; do
        for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${KEEP_TMP:-} ]]; then echo "soak.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(stat_py free-port)
base="http://$HOST:$port"
log "starting aicrd on $HOST:$port (rate limit $RATE_LIMIT)"
AICR_RATE_LIMIT=$RATE_LIMIT AICR_LOG_LEVEL=${AICR_LOG_LEVEL:-warn} "$bin" serve --bind "$HOST" --port "$port" \
    >"$tmp/aicrd.log" 2>&1 &
server_pid=$!
stat_py wait-http "$base/health" 120 "$server_pid" || { cat "$tmp/aicrd.log" >&2; die "aicrd did not start"; }

# The bundle requests post a recipe the server itself answered.
read -r status _ <<<"$(stat_py fetch "$base/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu" "$tmp/bundle.json")"
[[ $status == 200 ]] || die "GET /v1/recipe answered $status"
export SOAK_BUNDLE_BODY=$tmp/bundle.json

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
fds() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sample() { # LABEL
    kill -0 "$server_pid" 2>/dev/null || die "aicrd died (during: $1)"
    printf '%-8s rss %6d KiB  fds %5d\n' "$1" "$(rss_kib)" "$(fds)" | tee -a "$tmp/samples"
}

fds_idle=$(fds)
log "warm-up: 3 s"
wrk -t"$THREADS" -c"$CONNS" -d3s -s "$here/soak.lua" "$base" >/dev/null
sleep 1
fds_baseline=$(fds)
echo "soak: $SECONDS_TOTAL s, $CONNS connections, $THREADS wrk threads, rate limit $RATE_LIMIT; $("$bin" --version | head -n1)"
sample start
rss_start=$(rss_kib)
log "soak: ${SECONDS_TOTAL}s"
wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_TOTAL}s" --timeout 10s --latency -s "$here/soak.lua" "$base" >"$tmp/wrk.out" &
wrk_pid=$!
half=$((SECONDS_TOTAL / 2))
sleep "$half"
sample middle
sleep $((SECONDS_TOTAL - half - 1))
sample end
rss_end=$(rss_kib)
wait "$wrk_pid" || die "wrk failed: $(cat "$tmp/wrk.out")"
wrk_pid=''
sleep 1
sample after
fds_after=$(fds)

grep -E '^(status|socket-errors|latency-ms|requests) ' "$tmp/wrk.out" | sort
errors=$(awk '
    /^status / { if ($2 != 200 && $2 != 304 && $2 != 400 && $2 != 404 && $2 != 429) bad += $3 }
    /^socket-errors / { for (i = 2; i <= NF; i++) { split($i, kv, "="); bad += kv[2] } }
    END { print bad + 0 }' "$tmp/wrk.out")
rejected=$(awk '/^status 429 / { print $3 }' "$tmp/wrk.out")
echo "errors (non-429): $errors; rate limited (429): ${rejected:-0}"
echo "rss KiB: start $rss_start, end $rss_end; fds: idle $fds_idle, after warm-up $fds_baseline, after the run $fds_after"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

fail=0
((errors == 0)) || { echo "FAIL: $errors errors"; fail=1; }
((rss_end <= rss_start * 3 / 2 + 65536)) || { echo "FAIL: RSS grew from $rss_start to $rss_end KiB"; fail=1; }
((fds_after <= fds_idle + 8)) || { echo "FAIL: $fds_after descriptors open after the run (idle: $fds_idle)"; fail=1; }
grep -qi panic "$tmp/aicrd.log" && { echo "FAIL: the server log mentions a panic"; fail=1; }
exit "$fail"
