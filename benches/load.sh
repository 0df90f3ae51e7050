#!/usr/bin/env bash
# Load comparison: aicrd against nginx serving the very same recipe bytes.
#
# Both servers run pinned to one core (SERVER_CPU), wrk to another (CLIENT_CPU); runs
# are interleaved (aicrd, then nginx, per connection count and round), and for every
# run the server's own CPU time is read from /proc/PID/stat, so the report can give
# CPU microseconds per request, a steadier figure than req/s on a shared machine.
#
# Usage: benches/load.sh [--recipes DIR]       (see benches/README.md)
#
# Environment:
#   DURATION=10s        length of each measured wrk run
#   CONNS="1 16 64"     connection counts
#   ROUNDS=1            interleaved rounds per connection count (the report gives medians)
#   WARMUP=2s           unmeasured wrk run against each server before measuring
#   URL_PATH=/v1/recipe route to load: /v1/recipe or /v1/query (nginx serves the same
#                       bytes under the same path)
#   QUERY=...           query string of the representative request; for /v1/query add a
#                       selector, e.g. QUERY='service=eks&intent=training&selector=components.gpu-operator.values.driver'
#   HEADER=             one extra request header for wrk, e.g. "Accept-Encoding: zstd"
#                       or "If-None-Match: *" (nginx then gets the matching bytes/status)
#   AICRD_BIN=          use this binary instead of `cargo build --release`
#   AICR_RECIPES_DIR=   serve this catalog (same as --recipes DIR)
#   SERVER_CPU=0 CLIENT_CPU=1
#   KEEP_TMP=1          keep the temporary directory (configs, raw wrk output)

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"1 16 64"}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-2s}
QUERY=${QUERY:-service=eks&accelerator=h100&intent=training&os=ubuntu&platform=kubeflow}
HEADER=${HEADER:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RECIPES=${AICR_RECIPES_DIR:-}
URL_PATH=${URL_PATH:-/v1/recipe}
case "$URL_PATH" in
    /v1/recipe | /v1/query) ;;
    *) echo "URL_PATH must be /v1/recipe or /v1/query" >&2; exit 2 ;;
esac
readonly HOST=127.0.0.1 URL_PATH

while (($#)); do
    case $1 in
        --recipes) RECIPES=${2:?--recipes needs a directory}; shift 2 ;;
        --recipes=*) RECIPES=${1#--recipes=}; shift ;;
        -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "load.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'load.sh: %s\n' "$*" >&2; exit 1; }
stat_py() { python3 "$here/loadstat.py" "$@"; }

# --- tools -------------------------------------------------------------------------

install_missing() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v python3 >/dev/null || missing+=(python3)
    command -v taskset >/dev/null || missing+=(util-linux)
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    # Keep the package's own nginx service from starting (and listening on port 80).
    local policy=/usr/sbin/policy-rc.d made_policy=''
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    local rc=0
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } || rc=$?
    [[ -z $made_policy ]] || rm -f "$policy"
    ((rc == 0)) || die "apt-get failed (exit $rc)"
}

install_missing
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
(($(nproc) >= 2)) || echo "load.sh: warning: fewer than 2 CPUs; server and wrk will share a core" >&2

if [[ -n ${AICRD_BIN:-} ]]; then
    bin=$AICRD_BIN
else
    log "cargo build --release"
    (cd "$repo" && cargo build --release --quiet)
    bin=$repo/target/release/aicrd
fi
[[ -x $bin ]] || die "no executable at $bin"

# --- servers -------------------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aicrd-load.XXXXXX")
aicrd_pid='' nginx_pid='' wrk_pid=''

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in $wrk_pid $aicrd_pid $nginx_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $wrk_pid $aicrd_pid $nginx_pid; do
        # Give each server a few seconds to drain, then insist.
        for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${KEEP_TMP:-} ]]; then
        echo "load.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

aicrd_port=$(stat_py free-port)
nginx_port=$(stat_py free-port)
while [[ $nginx_port == "$aicrd_port" ]]; do nginx_port=$(stat_py free-port); done
aicrd_url="http://$HOST:$aicrd_port$URL_PATH?$QUERY"
nginx_url="http://$HOST:$nginx_port$URL_PATH?$QUERY"

serve_args=(serve --port "$aicrd_port" --bind "$HOST")
[[ -z $RECIPES ]] || serve_args+=(--recipes "$RECIPES")
log "starting aicrd on $HOST:$aicrd_port (CPU $SERVER_CPU)"
AICR_RATE_LIMIT=0 AICR_LOG_LEVEL=${AICR_LOG_LEVEL:-warn} \
    taskset -c "$SERVER_CPU" "$bin" "${serve_args[@]}" >"$tmp/aicrd.log" 2>&1 &
aicrd_pid=$!
stat_py wait-http "$aicrd_url" 120 "$aicrd_pid" || { cat "$tmp/aicrd.log" >&2; die "aicrd did not start"; }
kill -0 "$aicrd_pid" 2>/dev/null || { cat "$tmp/aicrd.log" >&2; die "aicrd exited"; }

# The bytes nginx will serve: what aicrd answers for the same request. For a request
# that aicrd answers with 304 (If-None-Match), nginx serves the plain body and gets the
# same conditional header, which it answers with 304 as well when it is "*".
mkdir -p "$tmp/www"
answer=$(stat_py fetch "$aicrd_url" "$tmp/www/recipe" "$HEADER")
read -r status coding aicrd_head <<<"$answer"
case $status in
    200) ;;
    304) answer=$(stat_py fetch "$aicrd_url" "$tmp/www/recipe")
         read -r status coding _ <<<"$answer"
         [[ $status == 200 ]] || die "aicrd answered $status without the extra header" ;;
    *) die "aicrd answered $status for $aicrd_url" ;;
esac
# nginx workers drop root privileges: let them read the file.
chmod 755 "$tmp" "$tmp/www"
chmod 644 "$tmp/www/recipe"

encoding_line=
[[ $coding == identity ]] || encoding_line="add_header Content-Encoding $coding always;"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    # wrk keeps its connections open; hyper (aicrd) never closes a busy keep-alive
    # connection, so do not make nginx reconnect every 1000 requests either.
    keepalive_requests 100000000;
    client_body_temp_path $tmp/nginx-body;
    proxy_temp_path $tmp/nginx-proxy;
    fastcgi_temp_path $tmp/nginx-fastcgi;
    uwsgi_temp_path $tmp/nginx-uwsgi;
    scgi_temp_path $tmp/nginx-scgi;
    types { }
    default_type application/json;
    server {
        listen $HOST:$nginx_port;
        # Exact match on the path; the query string plays no part in choosing the file.
        location = $URL_PATH {
            alias $tmp/www/recipe;
            add_header Cache-Control "public, max-age=600";
            add_header Vary Accept-Encoding;
            $encoding_line
        }
    }
}
EOF
log "starting nginx on $HOST:$nginx_port (CPU $SERVER_CPU)"
taskset -c "$SERVER_CPU" "$NGINX" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" \
    >"$tmp/nginx.log" 2>&1 &
nginx_pid=$!
stat_py wait-http "$nginx_url" 30 "$nginx_pid" || { cat "$tmp/nginx.log" "$tmp/nginx-error.log" >&2 || true; die "nginx did not start"; }

# Sanity: both answer the same status and body for the measured request.
answer=$(stat_py fetch "$aicrd_url" "$tmp/check-aicrd" "$HEADER")
read -r a_status _ _ <<<"$answer"
answer=$(stat_py fetch "$nginx_url" "$tmp/check-nginx" "$HEADER")
read -r n_status _ nginx_head <<<"$answer"
[[ $a_status == "$n_status" ]] || die "status differs: aicrd $a_status, nginx $n_status (HEADER=$HEADER)"
cmp -s "$tmp/check-aicrd" "$tmp/check-nginx" || die "aicrd and nginx bodies differ"
log "both answer $a_status; body $(wc -c <"$tmp/check-aicrd") bytes ($coding); header bytes: aicrd $aicrd_head, nginx $nginx_head"

# --- runs ----------------------------------------------------------------------------

wrk_args=(-t1 --latency)
[[ -z $HEADER ]] || wrk_args+=(-H "$HEADER")

# wrk in the background, so that a signal reaches our trap at once rather than
# after the run.
wrk_run() { # CONNS DURATION URL OUTPUT
    taskset -c "$CLIENT_CPU" wrk "${wrk_args[@]}" -c "$1" -d "$2" "$3" >"$4" &
    wrk_pid=$!
    wait "$wrk_pid"
    wrk_pid=''
}

# run NAME URL CONNS DURATION [RESULT-BASENAME]: without a result name, a warm-up.
run() {
    local name=$1 url=$2 conns=$3 duration=$4 out=${5:-} pid
    pid=${name}_pid
    pid=${!pid}
    if [[ -z $out ]]; then
        wrk_run "$conns" "$duration" "$url" /dev/null
        return
    fi
    local before after
    cut -d' ' -f1 /proc/loadavg >"$out.load"
    before=$(stat_py cpu "$pid")
    wrk_run "$conns" "$duration" "$url" "$out.wrk"
    after=$(stat_py cpu "$pid")
    cut -d' ' -f1 /proc/loadavg >>"$out.load"
    echo "$before $after" >"$out.cpu"   # utime stime before, utime stime after
    kill -0 "$pid" 2>/dev/null || die "$name died during the run"
}

max_conns=0
for c in $CONNS; do
    if ((c > max_conns)); then max_conns=$c; fi
done
if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
    log "warm-up: $WARMUP at $max_conns connections each"
    run aicrd "$aicrd_url" "$max_conns" "$WARMUP"
    run nginx "$nginx_url" "$max_conns" "$WARMUP"
fi

mkdir -p "$tmp/runs"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= ROUNDS; round++)); do
    for c in $CONNS; do
        # Alternate who goes first so that slow drifts in background load even out.
        if ((round % 2)); then order=(aicrd nginx); else order=(nginx aicrd); fi
        for name in "${order[@]}"; do
            url=${name}_url
            log "round $round/$ROUNDS: $name, $c connections, $DURATION"
            run "$name" "${!url}" "$c" "$DURATION" "$tmp/runs/$name-$c-$round"
        done
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "$("$bin" --version 2>/dev/null | head -n1) vs nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')"
echo "GET $URL_PATH?$QUERY${HEADER:+  [$HEADER]}; $DURATION x $ROUNDS round(s) per cell; server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
echo
stat_py report "$tmp/runs"
