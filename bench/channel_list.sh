#!/usr/bin/env bash
# bench/channel_list.sh: device API channel/list/ for an account with 300
# channels (warm cache) against nginx serving the very same JSON body as a
# static file, side by side in one run, both under wrk on this machine.
#
#   bench/channel_list.sh [SECONDS] [CONNECTIONS]
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light), python3, and
# for the fixed-rate latency oha (cargo install oha --locked).
# Efir runs its release build on SQLite in a temporary directory; the data
# (tariff, 300 channels, customer, account) is created through the real
# Billing and Content APIs. Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
export PATH="$HOME/.cargo/bin:$PATH"
for tool in wrk nginx python3 curl oha; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install wrk nginx-light curl; cargo install oha --locked)" >&2; exit 1; }
done

cargo build --release --locked -p efir >&2
efir="$CARGO_TARGET_DIR/release/efir"
work=$(mktemp -d)
efir_port=18411
nginx_port=18412
cleanup() {
    [[ -n ${efir_pid:-} ]] && kill "$efir_pid" 2>/dev/null || true
    [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export EFIR_DATA_DIR="$work" EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
"$efir" manage create-client --name Bench --api-key bench-device-key --billing-api-key bench-billing-key \
    --content-api-key bench-content-key --domain-prefix bench --email bench@example.com >/dev/null
"$efir" serve --role api --listen "127.0.0.1:$efir_port" 2>"$work/efir.log" &
efir_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$efir_port/health" >/dev/null && break; sleep 0.1; done

# Data through the real APIs; prints the channel/list URL of the account.
url=$(python3 - "$efir_port" <<'PY'
import base64, hashlib, json, sys, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(api, key, method, params):
    pairs = list(params) + [("client_id", "1")]
    src = "".join(f"{k}:{v};" for k, v in sorted(pairs)) + key
    pairs.append(("signature", hashlib.md5(base64.b64encode(src.encode())).hexdigest()))
    body = urllib.parse.urlencode(pairs).encode()
    out = json.load(urllib.request.urlopen(f"{base}/{api}/api/{method}/", body))
    if out.get("error"):
        sys.exit(f"{api} {method}: {out}")
    return out
billing = lambda m, p: call("billing", "bench-billing-key", m, p)
content = lambda m, p: call("content", "bench-content-key", m, p)
tariff = billing("tariff/create", [("name", "All"), ("basic_tariff_priority", "1")])
tid = str(tariff.get("tariff_id", tariff.get("id")))
for i in range(300):
    content("channel/create", [("name", f"Channel {i}"), ("tariff_id", tid),
        ("icon", f"http://acme.example/icons/{i}.png"), ("recording_days", "7"), ("sort", str(i)),
        ("lcn_number", str(i))])
cid = str(billing("customer/create", [("firstname", "Bench")])["customer_id"])
billing("customer/tariff/assign", [("customer_id", cid), ("tariff_id", tid)])
billing("account/create", [("customer_id", cid), ("abonement", "1000"), ("password", "bench")])
login = json.load(urllib.request.urlopen(f"{base}/tvmiddleware/api/login/?client_id=1&api_key=bench-device-key&abonement=1000&password=bench&device_uid=bench"))
print(f"{base}/tvmiddleware/api/channel/list/?client_id=1&authkey={login['authkey']}&icon_width=120&icon_height=91")
PY
)

# The same body, served by nginx.
curl -fs "$url" >"$work/list.json"
bytes=$(stat -c %s "$work/list.json")
channels=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['channels']))" "$work/list.json")
cat >"$work/nginx.conf" <<CONF
worker_processes 2; error_log $work/nginx-error.log; pid $work/nginx.pid; daemon on;
events { worker_connections 4096; }
http { access_log off; default_type application/json; sendfile on;
  server { listen 127.0.0.1:$nginx_port reuseport; root $work; } }
CONF
chmod 755 "$work"
nginx -c "$work/nginx.conf"
sleep 0.3

run() { wrk -t1 -c"$conns" -d"${secs}s" --latency "$1"; }
# Warm both, then measure.
wrk -t1 -c8 -d2s "$url" >/dev/null
efir_out=$(run "$url")
nginx_out=$(run "http://127.0.0.1:$nginx_port/list.json")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$efir_pid/status")

# Latency at a fixed rate (oha paces requests; wrk only saturates).
rate=${RATE:-5000}
fixed() {
    oha -z "${secs}s" -q "$rate" -c "$conns" --no-tui --output-format json "$1" 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']
ms=lambda v: f'{v*1000:.2f}ms' if v is not None else '-'
print(f\"{s['requestsPerSec']:.0f} {ms(p['p50'])} {ms(p['p99'])} {s['successRate']*100:.1f}%\")"
}
read -r efir_fixed_rps efir_fixed_p50 efir_fixed_p99 efir_fixed_ok <<<"$(fixed "$url")"
read -r nginx_fixed_rps nginx_fixed_p50 nginx_fixed_p99 nginx_fixed_ok <<<"$(fixed "http://127.0.0.1:$nginx_port/list.json")"

field() { echo "$1" | awk -v k="$2" '$1 == k {print $2}'; }
rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
efir_rps=$(rps "$efir_out"); nginx_rps=$(rps "$nginx_out")
ratio=$(python3 -c "print(f'{float(\"$efir_rps\") / float(\"$nginx_rps\"):.2f}')")
cat <<MD
| server | requests/s | p50 | p99 | body |
|---|---|---|---|---|
| efir channel/list/ ($channels channels, warm cache) | $efir_rps | $(field "$efir_out" 50%) | $(field "$efir_out" 99%) | $bytes bytes |
| nginx static file (same body) | $nginx_rps | $(field "$nginx_out" 50%) | $(field "$nginx_out" 99%) | $bytes bytes |

efir / nginx = $ratio; efir resident memory after the run: $((rss_kb / 1024)) MiB.

At a fixed $rate requests/s (oha, $conns connections, ${secs}s):

| server | requests/s | p50 | p99 | succeeded |
|---|---|---|---|---|
| efir channel/list/ | $efir_fixed_rps | $efir_fixed_p50 | $efir_fixed_p99 | $efir_fixed_ok |
| nginx static file | $nginx_fixed_rps | $nginx_fixed_p50 | $nginx_fixed_p99 | $nginx_fixed_ok |

wrk -t1 -c$conns -d${secs}s on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), loopback, $(date -u +%Y-%m-%d).
MD
