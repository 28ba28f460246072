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
cleanup() {
    [[ -n ${efir_pid:-} ]] && kill "$efir_pid" 2>/dev/null || true
    [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
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
"$efir" router --listen "127.0.0.1:$efir_port" 2>"$work/efir.log" &
efir_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$efir_port/health" >/dev/null && break; sleep 0.1; done

cat >"$work/nginx.conf" <<CONF
worker_processes 2; error_log $work/nginx-error.log; pid $work/nginx.pid; daemon on;
events { worker_connections 4096; }
http { access_log off; include $work/geo.conf; include $work/map.conf;
  server { listen 127.0.0.1:$nginx_port reuseport; location / { return 302 http://\$edge\$request_uri; } } }
CONF
nginx -c "$work/nginx.conf"
sleep 0.5
path=/btv/live/hls/ch1
efir_url="http://127.0.0.1:$efir_port$path"
nginx_url="http://127.0.0.1:$nginx_port$path"
echo "efir:  $(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$efir_url")" >&2
echo "nginx: $(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$nginx_url")" >&2

run() { wrk -t1 -c64 -d"${secs}s" --latency "$1"; }
wrk -t1 -c8 -d2s "$efir_url" >/dev/null
efir_out=$(run "$efir_url")
nginx_out=$(run "$nginx_url")
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
kill "$efir_pid"; wait "$efir_pid" 2>/dev/null || true; efir_pid=

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
ratio=$(python3 -c "print(f'{float(\"$efir_rps\") / float(\"$nginx_rps\"):.2f}')")
cat <<MD
$n subnets (/24, 50 regions), 200 edges; \`GET $path\`, wrk -t1 -c64 -d${secs}s:

| server | requests/s | p50 | p99 |
|---|---|---|---|
| efir router | $efir_rps | $(field "$efir_out" 50%) | $(field "$efir_out" 99%) |
| nginx geo + map + return 302 | $nginx_rps | $(field "$nginx_out" 50%) | $(field "$nginx_out" 99%) |

efir / nginx = $ratio; efir router resident memory after the run: $((rss_kb / 1024)) MiB.

At a fixed $rate requests/s for ${secs}s (oha, 64 connections):

| server | requests/s | p50 | p99 | succeeded | status codes |
|---|---|---|---|---|---|
| efir router | $efir_fixed_rps | $efir_fixed_p50 | $efir_fixed_p99 | $efir_fixed_ok | $efir_codes |
| nginx | $nginx_fixed_rps | $nginx_fixed_p50 | $nginx_fixed_p99 | $nginx_fixed_ok | $nginx_codes |

With $big subnets: \`router-import-subnets\` took ${import_s} s (SQLite); the router's resident memory after loading them: $((big_rss_kb / 1024)) MiB.
Subnet lookup microbenchmark: \`$lookup\`

On $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), loopback, $(date -u +%Y-%m-%d).
MD
