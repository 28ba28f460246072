#!/usr/bin/env bash
# bench/check_accounts.sh: the nightly prepaid billing run
# (`efir manage check-accounts`) over many accounts, on PostgreSQL and on
# SQLite, through the real release binary; then a second run the same
# night, which must charge nothing.
#
#   bench/check_accounts.sh [PG_ACCOUNTS] [SQLITE_ACCOUNTS]
#
# Defaults: 1,000,000 accounts on PostgreSQL, 100,000 on SQLite. Seeding
# is set-based SQL (generate_series on PostgreSQL, a recursive CTE on
# SQLite): one customer per account, every customer has a 10.00 tariff,
# every second one a 2.50 tariff too, all have a free system tariff
# (period 0); 90 % have 100.00 and are charged, 10 % have 5.00 and become
# debtors. Every paid period ends an hour before the frozen night.
#
# PostgreSQL comes from EFIR_TEST_POSTGRES_URL (as `scripts/test
# --services-only` exports it), default postgres://postgres@127.0.0.1:5432/postgres;
# the script creates and drops its own database. Needs psql and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_n=${1:-1000000}
sqlite_n=${2:-100000}
admin_url=${EFIR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in psql python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [[ -n ${EFIR_BIN:-} ]]; then
    efir=$EFIR_BIN # a binary built elsewhere (a quick check with a debug build)
else
    cargo build --release --locked -p efir >&2
    efir="$CARGO_TARGET_DIR/release/efir"
fi
work=$(mktemp -d)
db="efir_bench_billing_$$"
bench_url="${admin_url%/*}/$db"
cleanup() {
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
export EFIR_DATA_DIR="$work" EFIR_LOG_LEVEL=warn EFIR_SCHEDULER_BUILTIN=false
night=$(( $(date +%s) / 86400 * 86400 + 3 * 3600 ))
end=$(( night - 3600 ))

# The seed, in SQL both databases accept once the row source is set.
seed_sql() {
    local client=$1
    cat <<SQL
INSERT INTO client_setting (client_id, key, value, updated_at) VALUES ($client, 'billing.mode', 'prepaid', 0);
INSERT INTO tariff (client_id, name, period, price, created_at, updated_at) VALUES
    ($client, 'Basic', 1, 100000, 0, 0), ($client, 'Extra', 1, 25000, 0, 0), ($client, 'System', 0, 50000, 0, 0);
INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at)
    SELECT c.id, t.id, 0 FROM customer c JOIN tariff t ON t.client_id = c.client_id
    WHERE c.client_id = $client AND (t.name <> 'Extra' OR c.id % 2 = 0);
INSERT INTO account (client_id, customer_id, abonement, deactivation_date, created_at, updated_at)
    SELECT $client, id, 'b' || id, $end, 0, 0 FROM customer WHERE client_id = $client;
SQL
}

run() {
    local label=$1 url=$2 n=$3
    local t0 t1 out
    t0=$(date +%s.%N)
    out=$(EFIR_DATABASE_URL="$url" EFIR_NOW=$night "$efir" manage check-accounts --json)
    t1=$(date +%s.%N)
    python3 - "$label" "$n" "$t0" "$t1" "$out" <<'PY'
import json, sys
label, n, t0, t1, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
print(f"{label}: {n} accounts in {t1 - t0:.1f} s: checked {out['checked']}, charged {out['charged']} "
      f"({out['amount']}), extended {out['extended']}, deactivated {out['deactivated']}")
PY
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

# PostgreSQL.
psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
EFIR_DATABASE_URL="$bench_url" "$efir" manage migrate >/dev/null
client=$(EFIR_DATABASE_URL="$bench_url" "$efir" manage create-client --name bench \
    --api-key "bench-api-key-$$-0123456789" --domain-prefix bench --email ops@bench.tv --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
t0=$(date +%s)
{
    echo "INSERT INTO customer (client_id, firstname, balance, created_at, updated_at)
          SELECT $client, 'Bench', CASE WHEN g % 10 = 0 THEN 50000 ELSE 1000000 END, 0, 0
          FROM generate_series(1, $pg_n) g;"
    seed_sql "$client"
    echo "ANALYZE;"
} | psql -q -v ON_ERROR_STOP=1 "$bench_url" >/dev/null
echo "postgres: seeded $pg_n accounts in $(( $(date +%s) - t0 )) s"
run "postgres first run " "$bench_url" "$pg_n"
run "postgres second run" "$bench_url" "$pg_n"

# SQLite.
sqlite_url="sqlite://$work/efir.db"
EFIR_DATABASE_URL="$sqlite_url" "$efir" manage migrate >/dev/null
client=$(EFIR_DATABASE_URL="$sqlite_url" "$efir" manage create-client --name bench \
    --api-key "bench-api-key-$$-0123456789" --domain-prefix bench --email ops@bench.tv --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
t0=$(date +%s)
python3 - "$work/efir.db" "$sqlite_n" "$client" "$(seed_sql "$client")" <<'PY'
import sqlite3, sys
db, n, client, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = sqlite3.connect(db)
c.execute(f"""WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
    INSERT INTO customer (client_id, firstname, balance, created_at, updated_at)
    SELECT {client}, 'Bench', CASE WHEN i % 10 = 0 THEN 50000 ELSE 1000000 END, 0, 0 FROM g""")
c.executescript(seed + "\nANALYZE;")
c.commit()
PY
echo "sqlite: seeded $sqlite_n accounts in $(( $(date +%s) - t0 )) s"
run "sqlite first run   " "$sqlite_url" "$sqlite_n"
run "sqlite second run  " "$sqlite_url" "$sqlite_n"
