#!/usr/bin/env bash
# bench/ingest_noop.sh: no-op job throughput of the ingest queue on
# PostgreSQL with 2 worker processes, side by side with Python rq (the
# queue pdfupload used) on the same machine in the same run.
#
#   bench/ingest_noop.sh [JOBS=50000] [SLOTS=500]
#
# Efir: `efir manage job-submit --pipeline noop --count JOBS` (batched
# inserts), then two `efir worker --slots SLOTS` processes are started and
# timed until every job is `succeeded` (drain), as the rq anchor times
# its burst workers. Every job still goes through the full fenced path:
# claim under a lease (FOR UPDATE SKIP LOCKED), an attempt row, and a
# result accepted only under that lease.
# rq: ../shared/anchors/rq-noop.sh with the same JOBS and 2 SimpleWorkers.
#
# Needs psql, PostgreSQL at EFIR_BENCH_POSTGRES (default
# postgres://postgres@127.0.0.1:5432), redis-server, python3. rq is
# installed into ~/.cache/efir-venv when missing. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-50000}
slots=${2:-500}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
pg=${EFIR_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
for tool in psql redis-server python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
anchor=../shared/anchors/rq-noop.sh
[[ -f $anchor ]] || anchor=/work/shared/anchors/rq-noop.sh
venv=$HOME/.cache/efir-venv
if ! "$venv/bin/python" -c 'import rq' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q rq >&2
fi

cargo build --release --locked -p efir >&2
efir="$CARGO_TARGET_DIR/release/efir"
work=$(mktemp -d)
db="efir_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
export EFIR_DATABASE_URL="$pg/$db" EFIR_DATA_DIR="$work" EFIR_LOG_LEVEL=warn
export EFIR_INGEST_POLL_SECS=0.05 EFIR_DATABASE_MAX_CONNECTIONS=8
"$efir" manage migrate >/dev/null

now() { date +%s.%N; }
count_done() { psql -qtA "$pg/$db" -c "SELECT count(*) FROM ingest_job WHERE state = 'succeeded'"; }

t0=$(now)
"$efir" manage job-submit --pipeline noop --input x --count "$jobs" >/dev/null
t1=$(now)
for i in 1 2; do
    "$efir" worker --slots "$slots" --name "bench-$i" 2>"$work/worker$i.log" &
    pids+=($!)
done
t2=$(now)
while [[ $(count_done) -lt $jobs ]]; do sleep 0.05; done
t3=$(now)
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
enqueue=$(python3 -c "print(f'{$t1-$t0:.2f}')")
drain=$(python3 -c "print(f'{$t3-$t2:.2f}')")
efir_rate=$(python3 -c "print(f'{$jobs/($t3-$t2):.0f}')")
doubled=$(psql -qtA "$pg/$db" -c "SELECT count(*) FROM (SELECT job_id FROM ingest_attempt WHERE outcome='succeeded' GROUP BY job_id HAVING count(*) > 1) d")

rq_out=$(PATH="$venv/bin:$PATH" bash "$anchor" "$jobs" 2)
rq_rate=$(sed -n 's/.*= \([0-9]*\) jobs\/s.*/\1/p' <<<"$rq_out")
rq_enqueue=$(sed -n 's/enqueued [0-9]* in \([0-9.]*\)s/\1/p' <<<"$rq_out")

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat <<MD
### No-op job throughput ($(date -u +%Y-%m-%d), $(nproc) cores, $cpu)

$jobs no-op jobs, 2 worker processes, PostgreSQL $(psql -qtA "$pg/postgres" -c 'SHOW server_version') and Redis on the same machine. Drain = from the workers' start until the last job is done.

| | enqueue | drain | jobs/s (drain) |
|---|---:|---:|---:|
| Efir (2 × \`efir worker --slots $slots\`, fenced leases) | ${enqueue} s | ${drain} s | **${efir_rate}** |
| rq $("$venv/bin/python" -c 'import rq; print(rq.__version__)') (2 SimpleWorkers, \`$(basename "$anchor")\`) | ${rq_enqueue} s | | ${rq_rate} |

Efir / rq: **$(python3 -c "print(f'{$efir_rate/$rq_rate:.1f}')")×**. Jobs registered twice: $doubled.
MD
