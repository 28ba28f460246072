#!/usr/bin/env bash
# bench/router.sh: the CDN router against nginx's classic geo + map + 302.
#
#   bench/router.sh [SUBNETS=100000] [SECONDS=10] [BIG_SUBNETS=1000000]
#
# Both get the same table: SUBNETS random /24s in 50 regions plus
# 127.0.0.0/8 (the load generator's address) in region r1. Efir gets 200
# edges (4 per region) through `efir manage router-edge-add` and the table
# through `router-import-subnets`; nginx gets `geo` + `map` + `return 302`.
# Then wrk at saturation and oha at a fixed 20k requests/s, side by side.
# Last, the router's resident memory with BIG_SUBNETS subnets, and the
# subnet lookup microbenchmark (crates/router/examples/subnet_lookup.rs).
#
# Needs wrk, nginx, oha, python3, curl. Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
secs=${2:-10}
big=${3:-1000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
export PATH="$HOME/.cargo/bin:$PATH"
for tool in wrk nginx oha python3 curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
cargo build --release --locked -p efir >&2
cargo build --release --locked -p efir-router --example subnet_lookup >&2
efir="$CARGO_TARGET_DIR/release/efir"
work=$(mktemp -d)
efir_port=18421
nginx_port=18422
efir2_port=18423
nginx1_port=18424
cleanup() {
    for p in ${efir_pids[@]+"${efir_pids[@]}"} ${efir_pid:-}; do kill "$p" 2>/dev/null || true; done
    for f in "$work"/nginx*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

gen() { # gen COUNT DIR: subnets.csv (+ nginx geo.conf/map.conf)
    python3 - "$1" "$2" <<'PY'
import sys, random
n, d = int(sys.argv[1]), sys.argv[2]
random.seed(1)
csv = open(f"{d}/subnets.csv", "w")
geo = open(f"{d}/geo.conf", "w")
csv.write("cidr,region\n127.0.0.0/8,r1\n")
geo.write("geo $region {\n default r0;\n 127.0.0.0/8 r1;\n")
seen = set()
while len(seen) < n:
    a, b, c = random.randint(1, 223), random.randint(0, 255), random.randint(0, 255)
    if a == 127 or (a, b, c) in seen:
        continue
    seen.add((a, b, c))
    r = random.randint(0, 49)
    csv.write(f"{a}.{b}.{c}.0/24,r{r}\n")
    geo.write(f" {a}.{b}.{c}.0/24 r{r};\n")
geo.write("}\n")
with open(f"{d}/map.conf", "w") as f:
    f.write("map $region $edge {\n default edge-default.example;\n")
    for r in range(50):
        f.write(f" r{r} edge-{r}.example;\n")
    f.write("}\n")
PY
}

mkdir -p "$work/efir"
gen "$n" "$work"
export EFIR_DATA_DIR="$work/efir" EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
"$efir" manage router-import-subnets --file "$work/subnets.csv" >/dev/null
for r in $(seq 0 49); do
    for e in 0 1 2 3; do
        "$efir" manage router-edge-add --name "edge-$r-$e" --url "http://edge-$r-$e.example" \
            --region "r$r" --serves live,catchup,vod >/dev/null
    done
done
# Efir with 1 and with 2 threads (router.threads), nginx with 2 workers
# (the anchor's configuration) and with 1, all on the same table.
start_efir() { # start_efir PORT THREADS
    EFIR_ROUTER_THREADS=$2 "$efir" router --listen "127.0.0.1:$1" 2>"$work/efir-$2.log" &
    efir_pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/health" >/dev/null && break; sleep 0.1; done
}
efir_pids=()
start_efir "$efir_port" 1
efir_pid=${efir_pids[0]}
start_efir "$efir2_port" 2

for w in 2 1; do
    port=$nginx_port
    [[ $w == 1 ]] && port=$nginx1_port
    cat >"$work/nginx$w.conf" <<CONF
worker_processes $w; error_log $work/nginx-error$w.log; pid $work/nginx$w.pid; daemon on;
events { worker_connections 4096; }
http { access_log off; include $work/geo.conf; include $work/map.conf;
  server { listen 127.0.0.1:$port reuseport; location / { return 302 http://\$edge\$request_uri; } } }
CONF
    nginx -c "$work/nginx$w.conf"
done
sleep 0.5
path=/btv/live/hls/ch1
efir_url="http://127.0.0.1:$efir_port$path"
nginx_url="http://127.0.0.1:$nginx_port$path"
echo "efir:  $(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$efir_url")" >&2
echo "nginx: $(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$nginx_url")" >&2

efir2_url="http://127.0.0.1:$efir2_port$path"
nginx1_url="http://127.0.0.1:$nginx1_port$path"
run() { wrk -t1 -c64 -d"${secs}s" --latency "$1"; }
wrk -t1 -c8 -d2s "$efir_url" >/dev/null
wrk -t1 -c8 -d2s "$efir2_url" >/dev/null
# Interleaved so that a busy moment of the shared machine hits all alike.
efir_out=$(run "$efir_url")
nginx_out=$(run "$nginx_url")
efir2_out=$(run "$efir2_url")
nginx1_out=$(run "$nginx1_url")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$efir_pid/status")

rate=${RATE:-20000}
fixed() {
    oha -z "${secs}s" -q "$rate" -c 64 --no-tui --redirect 0 --output-format json "$1" 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']
ms=lambda v: f'{v*1000:.2f}ms' if v is not None else '-'
codes=d.get('statusCodeDistribution', {})
print(f\"{s['requestsPerSec']:.0f} {ms(p['p50'])} {ms(p['p99'])} {s['successRate']*100:.1f}% {'/'.join(f'{k}:{v}' for k,v in codes.items())}\")"
}
read -r efir_fixed_rps efir_fixed_p50 efir_fixed_p99 efir_fixed_ok efir_codes <<<"$(fixed "$efir_url")"
read -r nginx_fixed_rps nginx_fixed_p50 nginx_fixed_p99 nginx_fixed_ok nginx_codes <<<"$(fixed "$nginx_url")"
for p in "${efir_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
efir_pids=(); efir_pid=

# Memory with the big table.
mkdir -p "$work/big"
gen "$big" "$work/big"
export EFIR_DATA_DIR="$work/big/efir"
mkdir -p "$EFIR_DATA_DIR"
import_s=$( { /usr/bin/time -f '%e' "$efir" manage router-import-subnets --file "$work/big/subnets.csv" >/dev/null; } 2>&1 | tail -1)
"$efir" manage router-edge-add --name e --url http://e.example --region r1 >/dev/null
"$efir" router --listen "127.0.0.1:$efir_port" 2>"$work/big.log" &
efir_pid=$!
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$efir_port/health" >/dev/null && break; sleep 0.1; done
big_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$efir_pid/status")
kill "$efir_pid"; wait "$efir_pid" 2>/dev/null || true; efir_pid=
lookup=$("$CARGO_TARGET_DIR/release/examples/subnet_lookup" "$big")

field() { echo "$1" | awk -v k="$2" '$1 == k {print $2}'; }
rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
efir_rps=$(rps "$efir_out"); nginx_rps=$(rps "$nginx_out")
efir2_rps=$(rps "$efir2_out"); nginx1_rps=$(rps "$nginx1_out")
ratio=$(python3 -c "print(f'{float(\"$efir_rps\") / float(\"$nginx_rps\"):.2f}')")
ratio2=$(python3 -c "print(f'{float(\"$efir2_rps\") / float(\"$nginx_rps\"):.2f}')")
ratio11=$(python3 -c "print(f'{float(\"$efir_rps\") / float(\"$nginx1_rps\"):.2f}')")
cat <<MD
$n subnets (/24, 50 regions), 200 edges; \`GET $path\`, wrk -t1 -c64 -d${secs}s:

| server | requests/s | p50 | p99 |
|---|---|---|---|
| efir router, 1 thread (\`router.threads = 1\`) | $efir_rps | $(field "$efir_out" 50%) | $(field "$efir_out" 99%) |
| nginx geo + map + return 302, 2 workers (the anchor) | $nginx_rps | $(field "$nginx_out" 50%) | $(field "$nginx_out" 99%) |
| efir router, 2 threads | $efir2_rps | $(field "$efir2_out" 50%) | $(field "$efir2_out" 99%) |
| nginx, 1 worker | $nginx1_rps | $(field "$nginx1_out" 50%) | $(field "$nginx1_out" 99%) |

efir (1 thread) / nginx (2 workers) = **$ratio**; efir (2 threads) / nginx (2 workers) = $ratio2; efir (1 thread) / nginx (1 worker) = $ratio11. wrk itself takes one of the two cores. Efir router (1 thread) resident memory after the run: $((rss_kb / 1024)) MiB.

At a fixed $rate requests/s for ${secs}s (oha, 64 connections):

| server | requests/s | p50 | p99 | succeeded | status codes |
|---|---|---|---|---|---|
| efir router | $efir_fixed_rps | $efir_fixed_p50 | $efir_fixed_p99 | $efir_fixed_ok | $efir_codes |
| nginx | $nginx_fixed_rps | $nginx_fixed_p50 | $nginx_fixed_p99 | $nginx_fixed_ok | $nginx_codes |

With $big subnets: \`router-import-subnets\` took ${import_s} s (SQLite); the router's resident memory after loading them: $((big_rss_kb / 1024)) MiB.
Subnet lookup microbenchmark: \`$lookup\`

On $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), loopback, $(date -u +%Y-%m-%d).
MD
