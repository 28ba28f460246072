#!/usr/bin/env bash
# bench/login.sh: device API login/ latency and Efir's memory with 100k
# accounts and 1M live sessions (authkeys) on SQLite.
#
#   bench/login.sh [SECONDS] [RATE]
#
# Accounts share one argon2 password hash (computing 100k hashes would take
# most of an hour; verifying one costs the same whatever it is). Logins go
# to random accounts at a fixed RATE per second (oha), then as fast as the
# machine allows. Needs python3, curl and oha (cargo install oha --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rate=${2:-40}
accounts=${ACCOUNTS:-100000}
sessions=${SESSIONS:-1000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
export PATH="$HOME/.cargo/bin:$PATH"
for tool in python3 curl oha; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
cargo build --release --locked -p efir >&2
efir="$CARGO_TARGET_DIR/release/efir"
work=$(mktemp -d)
port=18421
cleanup() {
    [[ -n ${efir_pid:-} ]] && kill "$efir_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export EFIR_DATA_DIR="$work" EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
"$efir" manage setup-initial-data --json >"$work/sample.json"
api_key=$(python3 -c "import json; print(json.load(open('$work/sample.json'))['api_key'])")
tariff=$(python3 -c "import json; print(json.load(open('$work/sample.json'))['sample']['tariff'])")
hash=$("$efir" manage createsuperuser --username hashsource --password bench --no-input --json >/dev/null &&
    python3 -c "import sqlite3; print(sqlite3.connect('$work/efir.db').execute(\"select password_hash from staff_user where username='hashsource'\").fetchone()[0])")

start=$(date +%s)
python3 - "$work/efir.db" "$accounts" "$sessions" "$tariff" "$hash" <<'PY'
import os, sqlite3, sys
db, accounts, sessions, tariff, hash_ = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL")
c.executemany("INSERT INTO customer (id, client_id, firstname, created_at, updated_at) VALUES (?, 1, 'Bench', 0, 0)",
              ((1000 + i,) for i in range(accounts)))
c.executemany("INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES (?, ?, 0)",
              ((1000 + i, tariff) for i in range(accounts)))
c.executemany("INSERT INTO account (client_id, customer_id, abonement, password_hash, allow_multiple_login, created_at, updated_at) VALUES (1, ?, ?, ?, TRUE, 0, 0)",
              ((1000 + i, str(i + 1), hash_) for i in range(accounts)))
first = c.execute("SELECT MIN(id) FROM account").fetchone()[0]
per = max(1, sessions // accounts)
c.executemany("INSERT INTO account_authkey (account_id, authkey, device_uid, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, 0, 4102444800, 0)",
              ((first + i // per, os.urandom(64).hex(), f"old{i % per}") for i in range(sessions)))
c.execute("UPDATE tariff SET sessions_count = 1000 WHERE id = ?", (tariff,))
c.commit()
PY
echo "populated $accounts accounts and $sessions sessions in $(( $(date +%s) - start )) s" >&2

"$efir" serve --role api --listen "127.0.0.1:$port" 2>"$work/efir.log" &
efir_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$efir_pid/status")
db_mb=$(( $(stat -c %s "$work/efir.db") / 1024 / 1024 ))

# Random accounts, each logging in from a new device of its own.
url="http://127.0.0.1:$port/tvmiddleware/api/login/\\?client_id=1&api_key=$api_key&abonement=[1-9][0-9]{0,4}&password=bench&device_uid=bench[0-9]{6}"
report() {
    oha "$@" --no-tui --output-format json --rand-regex-url "$url" 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']
ms=lambda v: f'{v*1000:.1f}ms' if v is not None else '-'
codes=d.get('statusCodeDistribution', {})
print(f\"| {s['requestsPerSec']:.0f} | {ms(p['p50'])} | {ms(p['p99'])} | {s['successRate']*100:.1f}% | {codes} |\")"
}
fixed=$(report -z "${secs}s" -q "$rate" -c 16)
max=$(report -z "${secs}s" -c 16)
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$efir_pid/status")
errors=$(curl -fs "http://127.0.0.1:$port/tvmiddleware/api/login/?client_id=1&api_key=$api_key&abonement=5&password=bench&device_uid=check" | python3 -c "import json,sys; print(json.load(sys.stdin)['error'])")
cat <<MD
| load | logins/s | p50 | p99 | succeeded (HTTP) | status codes |
|---|---|---|---|---|---|
| fixed $rate/s, 16 connections $fixed
| unlimited, 16 connections $max

$accounts accounts, $sessions sessions, SQLite file $db_mb MiB; efir resident memory $((rss_idle / 1024)) MiB idle, $((rss_after / 1024)) MiB after the runs; a sample login answers error=$errors.
oha ${secs}s per run on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), loopback, $(date -u +%Y-%m-%d).
MD
