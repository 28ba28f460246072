#!/usr/bin/env bash
# bench/ingest_transcode.sh: what the ingest pipeline adds to a transcode.
#
#   bench/ingest_transcode.sh [SECONDS=60] [RUNS=2]
#
# A 1080p source of SECONDS (testsrc2 + sine, cached under
# ~/.cache/efir-bench) is transcoded with the archive profile (x264
# medium, its default preset) RUNS times over, alternating:
#   - directly: the exact ffmpeg argv the step runs (printed by the
#     `transcode_args` example), timed from start to exit;
#   - through Efir: `efir manage job-submit` to a one-step pipeline on a
#     running `efir worker` (SQLite), timed from submit until the job is
#     `succeeded` (claim, probe, supervised ffmpeg with progress, lease
#     heartbeats, registering the result and moving the outputs).
# Prints Markdown with the overhead in percent (target: at most 3%).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
runs=${2:-2}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in ffmpeg ffprobe python3 sqlite3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install ffmpeg python3 sqlite3)" >&2; exit 1; }
done
cargo build --release --locked -p efir >&2
cargo build --release --locked -p efir-ingest --example transcode_args >&2
efir="$CARGO_TARGET_DIR/release/efir"
args_of="$CARGO_TARGET_DIR/release/examples/transcode_args"

cache=$HOME/.cache/efir-bench
mkdir -p "$cache"
src="$cache/src-1080p-${secs}s.mp4"
if [[ ! -s $src ]]; then
    ffmpeg -v error -y -f lavfi -i "testsrc2=duration=$secs:size=1920x1080:rate=25" \
        -f lavfi -i "sine=frequency=440:duration=$secs" \
        -c:v libx264 -preset ultrafast -crf 18 -c:a aac -shortest "$src"
fi

work=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/profile.toml" <<'TOML'
profile = "archive"
codec = "x264"
preset = "medium"
crf = 23
TOML
cat >"$work/efir.toml" <<TOML
data_dir = "$work"
[database]
url = "sqlite://$work/efir.db"
[log]
level = "warn"
[ingest]
heartbeat_secs = 2.0
lease_secs = 10.0
poll_secs = 0.05
worker_slots = 1
[[ingest.pipeline]]
name = "archive"
[[ingest.pipeline.step]]
kind = "transcode"
$(cat "$work/profile.toml")
TOML
export EFIR_CONFIG="$work/efir.toml"
"$efir" manage migrate >/dev/null
"$efir" worker --slots 1 --name bench 2>"$work/worker.log" &
pid=$!
sleep 1

now() { date +%s.%N; }
direct=()
piped=()
inner=()
for r in $(seq 1 "$runs"); do
    rm -rf "$work/direct"
    mapfile -t argv < <("$args_of" "$work/profile.toml" "$src" "$work/direct")
    mkdir -p "$work/direct"
    t0=$(now)
    ffmpeg "${argv[@]}" >/dev/null 2>&1
    t1=$(now)
    direct+=("$(python3 -c "print(f'{$t1-$t0:.2f}')")")

    t0=$(now)
    id=$("$efir" manage job-submit --pipeline archive --input "$src" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    # Look once a second (a process per look would take CPU from ffmpeg);
    # the end is the moment the worker registered the result.
    while :; do
        state=$(sqlite3 "$work/efir.db" "SELECT state FROM ingest_job WHERE id = $id")
        [[ $state == succeeded ]] && break
        [[ $state == failed || $state == dead ]] && { echo "job $id $state" >&2; cat "$work/worker.log" >&2; exit 1; }
        sleep 1
    done
    t1=$(sqlite3 "$work/efir.db" "SELECT finished_ms / 1000.0 FROM ingest_job WHERE id = $id")
    piped+=("$(python3 -c "print(f'{$t1-$t0:.2f}')")")
    # Inside Efir: submit → claimed, claimed → registered.
    inner+=("$(sqlite3 "$work/efir.db" "SELECT printf('%.2f s + %.2f s', (started_ms - created_ms) / 1000.0, (finished_ms - started_ms) / 1000.0) FROM ingest_job WHERE id = $id")")
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "### Pipeline overhead on a ${secs} s 1080p transcode ($(date -u +%Y-%m-%d), $(nproc) cores, $cpu)"
echo
echo "x264 medium (the archive profile's default) CRF 23 archive copy, $(ffmpeg -version | head -n1 | cut -d' ' -f1-3); runs alternate."
echo
echo "| run | ffmpeg directly | through Efir (submit → succeeded) | overhead | inside Efir: queued + claimed → registered |"
echo "|---:|---:|---:|---:|---:|"
for i in "${!direct[@]}"; do
    d=${direct[$i]}
    p=${piped[$i]}
    echo "| $((i + 1)) | $d s | $p s | $(python3 -c "print(f'{($p-$d)/$d*100:+.1f}%')") | ${inner[$i]} |"
done
