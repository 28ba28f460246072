#!/usr/bin/env bash
# bench/panel/run.sh: server time of the admin panel's list pages with
# 100,000 customers (each with an account) and 300,000 EPG programmes, on
# PostgreSQL and on SQLite, through the real release binary (`efir serve`).
#
#   bench/panel/run.sh [CUSTOMERS] [PROGRAMMES] [REPEATS]
#
# Defaults: 100000 customers, 300000 programmes, 30 timed requests per page
# (after two warm-up requests). Seeding is set-based SQL (bench/panel/seed.py:
# generate_series on PostgreSQL, a recursive CTE on SQLite) in one
# transaction; a superuser logs in through the login form; every list page
# is requested REPEATS times (bench/panel/measure.py) and timed on the client
# and, from the request log (`request_log.duration_ms`), on the server;
# the JSON lines are followed by the Markdown table (bench/panel/table.py).
# Pages that answer 404 (not built yet) are reported as absent. PAGES in
# the environment replaces the page list (space-separated paths).
#
# PostgreSQL comes from EFIR_TEST_POSTGRES_URL (as `scripts/test
# --services-only` exports it), default postgres://postgres@127.0.0.1:5432/postgres;
# the script creates and drops its own database (efir_bench_panel_<pid>).
# Needs psql, python3 and curl. EFIR_BIN skips the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
customers=${1:-100000}
programmes=${2:-300000}
repeats=${3:-30}
admin_url=${EFIR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in psql python3 curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [[ -n ${EFIR_BIN:-} ]]; then
    efir=$EFIR_BIN
else
    cargo build --release --locked -p efir >&2
    efir="$CARGO_TARGET_DIR/release/efir"
fi
here=bench/panel
work=$(mktemp -d)
db="efir_bench_panel_$$"
bench_url="${admin_url%/*}/$db"
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
export EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
now=$(date +%s)
password="bench-password-$$"
default_pages=(
    "/admin/"
    "/admin/customers"
    "/admin/customers?q=Surname4242"
    "/admin/customers?q=user77777@bench.tv"
    "/admin/customers?page=1500"
    "/admin/accounts"
    "/admin/accounts?q=ab4242"
    "/admin/accounts?page=1500"
    "/admin/tariffs"
    "/admin/content/channel"
    "/admin/content/category"
    "/admin/content/video"
    "/admin/epg/sources"
    "/admin/epg/sources/1"
    "/admin/epg/channels"
    "/admin/epg/channels/1"
    "/admin/epg/coverage"
    "/admin/audit"
    "/admin/audit?q=Maria"
    "/admin/audit?page=1500"
    "/admin/request-log"
    "/admin/request-log?path=/admin/api/customers"
    "/admin/request-log?page=1500"
    "/admin/cases"
    "/admin/messages"
    "/admin/notifications"
    "/admin/ingest/jobs"
    "/admin/ingest/workers"
    "/admin/ingest/pipelines"
    "/admin/ingest/hotfolders"
    "/admin/cdn/edges"
    "/admin/cdn/regions"
    "/admin/cdn/subnets"
    "/admin/operators"
    "/admin/streams/services"
    "/admin/streams/datacenters"
    "/admin/streams/maintenance"
)
# shellcheck disable=SC2206
pages=(${PAGES:-${default_pages[@]}})

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')" >&2

bench() {
    local kind=$1 url=$2 seed_cmd=$3
    local data="$work/$kind" port client t0
    mkdir -p "$data"
    export EFIR_DATA_DIR="$data" EFIR_DATABASE_URL="$url"
    "$efir" manage migrate >/dev/null
    client=$("$efir" manage create-client --name bench --api-key "bench-api-key-$$-0123456789" \
        --domain-prefix bench --email ops@bench.tv --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
    "$efir" manage createsuperuser --username bench --password "$password" \
        --email bench@bench.tv --no-input >/dev/null
    t0=$(date +%s)
    python3 "$here/seed.py" "$kind" "$client" "$customers" "$programmes" "$now" | eval "$seed_cmd"
    echo "$kind: seeded $customers customers and accounts, $programmes programmes in $(( $(date +%s) - t0 )) s" >&2
    port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    "$efir" serve --listen "127.0.0.1:$port" >"$work/$kind.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/admin/login" && break
        sleep 0.2
    done
    python3 "$here/measure.py" "http://127.0.0.1:$port" "$kind" \
        "$( [[ $kind == postgres ]] && echo "$url" || echo "${url#sqlite://}" )" \
        bench "$password" "$repeats" "${pages[@]}"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    if grep -qiE "error|panic" "$work/$kind.log"; then
        echo "$kind: server log:" >&2
        grep -iE "error|panic" "$work/$kind.log" | head -20 >&2
    fi
}

psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
{
    bench postgres "$bench_url" "psql -q -v ON_ERROR_STOP=1 '$bench_url' >/dev/null"
    bench sqlite "sqlite://$work/efir.db" "sqlite3 -bail '$work/efir.db' >/dev/null"
} | tee "$work/results.jsonl"
echo
python3 "$here/table.py" <"$work/results.jsonl"
