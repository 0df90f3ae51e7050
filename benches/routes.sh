#!/usr/bin/env bash
# Throughput and latency for each route at 1/16/64 connections: GET recipe, GET recipe
# answered 304, GET query (each next to nginx serving the same bytes, via load.sh), and
# POST bundle (aicrd alone: no static server can stand in for bundle generation).
#
# Usage: benches/routes.sh       (DURATION, CONNS, ROUNDS, AICRD_BIN as for load.sh)

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
export DURATION=${DURATION:-5s} CONNS=${CONNS:-"1 16 64"}
if [[ -z ${AICRD_BIN:-} ]]; then
    (cd "$repo" && cargo build --release --quiet)
    export AICRD_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/aicrd
fi

echo "### GET /v1/recipe"
"$here/load.sh"
echo "### GET /v1/recipe, If-None-Match: * (304)"
HEADER='If-None-Match: *' "$here/load.sh"
echo "### GET /v1/query"
URL_PATH=/v1/query QUERY='service=eks&accelerator=h100&intent=training&selector=components.gpu-operator.values.driver' \
    "$here/load.sh"

echo "### POST /v1/bundle (aicrd only)"
stat_py() { python3 "$here/loadstat.py" "$@"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aicrd-routes.XXXXXX")
pid=''
trap '[[ -z $pid ]] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$tmp"' EXIT
port=$(stat_py free-port)
AICR_RATE_LIMIT=0 AICR_LOG_LEVEL=warn taskset -c "${SERVER_CPU:-0}" "$AICRD_BIN" serve --bind 127.0.0.1 --port "$port" \
    >"$tmp/aicrd.log" 2>&1 &
pid=$!
stat_py wait-http "http://127.0.0.1:$port/health" 120 "$pid"
stat_py fetch "http://127.0.0.1:$port/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu" "$tmp/recipe.json" >/dev/null
export POST_BODY=$tmp/recipe.json
printf '%5s %9s %8s %8s %s\n' conns req/s p50 p99 errors
for c in $CONNS; do
    out=$(taskset -c "${CLIENT_CPU:-1}" wrk -t1 -c"$c" -d"$DURATION" --timeout 10s --latency -s "$here/post.lua" \
        "http://127.0.0.1:$port/v1/bundle")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx/ {n += $NF} /Socket errors/ {gsub(/[a-z ,:]+/, " "); n += $1 + $2 + $3 + $4} END {print n + 0}' <<<"$out")
    printf '%5s %9s %8s %8s %s\n' "$c" "$rps" "$p50" "$p99" "$errs"
done
