#!/usr/bin/env bash
# bench/load/run.sh: a realistic day against one Efir box, at several peak
# rates, to find the rate this machine sustains.
#
#   bench/load/run.sh [RATES="50 100 200 400"] [SECONDS=60]
#
# Environment: SUBSCRIBERS (default 3000), CHANNELS (default 100),
# SESSIONS (boxes on at the start, default 500), DB (sqlite or a
# postgres:// URL; default sqlite), PROFILE (release or dev; default release).
#
# Builds efir and efir-load, creates an operator, imports a generated guide
# (CHANNELS channels, 48 hours) with channels made for it, adds one router
# region and edge, starts `efir serve --role api` and `efir router`, seeds
# SUBSCRIBERS subscribers through the Billing API, then replays
# bench/load/scenarios/day.toml for SECONDS at each peak rate and prints
# every report plus a summary table (Markdown) for docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
rates=${1:-"50 100 200 400"}
secs=${2:-60}
subs=${SUBSCRIBERS:-3000}
channels=${CHANNELS:-100}
sessions=${SESSIONS:-500}
profile=${PROFILE:-release}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
case $profile in
release) cargo build --release --locked -p efir -p efir-load >&2; bin=$CARGO_TARGET_DIR/release ;;
dev) cargo build --locked -p efir -p efir-load >&2; bin=$CARGO_TARGET_DIR/debug ;;
*) echo "error: PROFILE must be release or dev" >&2; exit 1 ;;
esac
efir=$bin/efir
load=$bin/efir-load

work=$(mktemp -d)
api_port=18431
router_port=18432
cleanup() {
    local status=$?
    if [[ $status -ne 0 ]]; then
        for log in "$work"/api.log "$work"/router.log; do
            [[ -s $log ]] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
        done
    fi
    for p in ${api_pid:-} ${router_pid:-}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export EFIR_DATA_DIR=$work EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
if [[ ${DB:-sqlite} != sqlite ]]; then
    export EFIR_DATABASE_URL=$DB
fi
keys=(--api-key load-device --billing-key load-billing --content-key load-content)
target=(--api "http://127.0.0.1:$api_port" --router "http://127.0.0.1:$router_port" "${keys[@]}")

"$efir" manage migrate >/dev/null
"$efir" manage create-client --name Load --api-key load-device --billing-api-key load-billing \
    --content-api-key load-content --domain-prefix load --email load@example.com >/dev/null
"$load" xmltv --channels "$channels" --hours 24 --out "$work/guide.xml"
"$efir" manage epg-source-add --name load --url "$work/guide.xml" --client-id 1 >/dev/null
"$efir" manage epg-import --client-id 1 --create-content >/dev/null
printf 'cidr,region\n127.0.0.0/8,r1\n' >"$work/subnets.csv"
"$efir" manage router-import-subnets --file "$work/subnets.csv" >/dev/null
"$efir" manage router-edge-add --name e1 --url http://edge1.example --region r1 >/dev/null
"$efir" manage router-edge-add --name e2 --url http://edge2.example --region r1 >/dev/null

"$efir" serve --role api --listen "127.0.0.1:$api_port" 2>"$work/api.log" &
api_pid=$!
"$efir" router --listen "127.0.0.1:$router_port" 2>"$work/router.log" &
router_pid=$!
for port in $api_port $router_port; do
    for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done

"$load" seed "${target[@]}" --subscribers "$subs" --concurrency 8

# Resident memory of a process, MiB.
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }

summary="| peak rate/s | requests | achieved/s | errors | dropped | zap p50 ms | zap p99 ms | channel_list p99 ms | epg p99 ms | login p99 ms | api RSS MiB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for rate in $rates; do
    echo "== peak $rate/s for $secs s" >&2
    "$load" run "${target[@]}" --subscribers "$subs" --sessions "$sessions" \
        --seconds "$secs" --rate "$rate" --json "$work/r$rate.json" --max-error-rate 1 || true
    summary+=$'\n'$(python3 - "$work/r$rate.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = {x["action"]: x for x in r["rows"]}
g = lambda a, k: rows.get(a, {}).get(k, 0.0)
t = r["totals"]
print(f"| {r['peak_rate']:.0f} | {t['requests']} | {r['achieved_rate']:.1f} | {t['errors']} | {t['dropped']} "
      f"| {g('router_redirect','p50_ms'):.1f} | {g('router_redirect','p99_ms'):.1f} "
      f"| {g('channel_list','p99_ms'):.1f} | {g('epg','p99_ms'):.1f} | {g('login','p99_ms'):.1f} ", end="")
PY
)"| $(rss "$api_pid") |"
done
rss_api=$(rss "$api_pid")
rss_router=$(rss "$router_pid")
echo
echo "$summary"
echo
echo "$subs subscribers, $channels channels, $sessions boxes on, ${DB:-sqlite}, $profile build;" \
    "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%F);" \
    "resident memory after the runs: api $rss_api MiB, router $rss_router MiB."
