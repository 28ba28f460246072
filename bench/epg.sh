#!/usr/bin/env bash
# bench/epg.sh: the EPG import at operator scale.
#
#   bench/epg.sh [CHANNELS] [DAYS]        (default 1000 channels × 14 days, ~1 GB)
#
# 1. Generates a guide with ../shared/anchors/gen-xmltv.py (about 1 KB per
#    programme) and its gzip, cached under ~/.cache/efir-bench.
# 2. Parse-only throughput: `efir manage epg-check` (Efir's streaming XMLTV
#    reader, no storage) side by side with `xmllint --stream --noout` on the
#    same files in the same run.
# 3. Full import (`epg-import`) of the gzip into SQLite and into PostgreSQL:
#    wall time and peak memory (GNU time's maximum resident set size).
#
# Needs xmllint (apt-get install libxml2-utils), GNU time, gzip, python3,
# and PostgreSQL at EFIR_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432).
# Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
channels=${1:-1000}
days=${2:-14}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in xmllint /usr/bin/time gzip python3 psql; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install libxml2-utils time gzip python3 postgresql-client)" >&2; exit 1; }
done
gen=../shared/anchors/gen-xmltv.py
[[ -f $gen ]] || gen=/work/shared/anchors/gen-xmltv.py

cargo build --release --locked -p efir >&2
efir="$CARGO_TARGET_DIR/release/efir"

cache="$HOME/.cache/efir-bench"
mkdir -p "$cache"
xml="$cache/guide-$channels-$days.xml"
if [[ ! -s $xml ]]; then
    echo "generating $xml" >&2
    python3 "$gen" "$channels" "$days" >"$xml.part" && mv "$xml.part" "$xml"
fi
if [[ ! -s $xml.gz ]]; then
    echo "compressing $xml" >&2
    gzip -c "$xml" >"$xml.gz.part" && mv "$xml.gz.part" "$xml.gz"
fi
size=$(stat -c %s "$xml")
gzsize=$(stat -c %s "$xml.gz")
work=$(mktemp -d)
pgdb="efir_bench_$$"
pgbase=${EFIR_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
cleanup() {
    rm -rf "$work"
    psql "$pgbase/postgres" -qc "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# measure LABEL CMD…: prints "seconds peak_kb" of CMD.
measure() {
    local out="$work/time.$RANDOM"
    /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null
    cat "$out"
}
mbs() { python3 -c "print(f'{$1 / 1e6 / $2:.0f}')"; }

# Warm the page cache so both parsers read from memory.
cat "$xml" "$xml.gz" >/dev/null

read -r efir_s efir_kb <<<"$(measure "$efir" manage epg-check "$xml")"
read -r xmllint_s xmllint_kb <<<"$(measure xmllint --stream --noout "$xml")"
read -r efirgz_s efirgz_kb <<<"$(measure "$efir" manage epg-check "$xml.gz")"
read -r xmllintgz_s xmllintgz_kb <<<"$(measure xmllint --stream --noout "$xml.gz")"

# Full imports.
import_into() {
    local url=$1 dir=$2
    mkdir -p "$dir"
    EFIR_DATA_DIR="$dir" EFIR_DATABASE_URL="$url" EFIR_LOG_LEVEL=warn "$efir" manage migrate >/dev/null
    EFIR_DATA_DIR="$dir" EFIR_DATABASE_URL="$url" "$efir" manage epg-source-add --name bench --url "$xml.gz" >/dev/null
    EFIR_DATA_DIR="$dir" EFIR_DATABASE_URL="$url" EFIR_LOG_LEVEL=warn \
        /usr/bin/time -f '%e %M' -o "$dir/time" "$efir" manage epg-import --json >"$dir/summary.json"
    # Re-import of the unchanged guide, forced: reads everything, writes nothing.
    EFIR_DATA_DIR="$dir" EFIR_DATABASE_URL="$url" EFIR_LOG_LEVEL=warn \
        /usr/bin/time -f '%e %M' -o "$dir/time2" "$efir" manage epg-import --force-reimport --json >"$dir/summary2.json"
}
import_into "sqlite://$work/sqlite/efir.db" "$work/sqlite"
psql "$pgbase/postgres" -qc "CREATE DATABASE $pgdb" >/dev/null
import_into "$pgbase/$pgdb" "$work/pg"

row() {
    local label=$1 dir=$2
    read -r s kb <"$dir/time"
    read -r s2 kb2 <"$dir/time2"
    python3 - "$label" "$s" "$kb" "$s2" "$kb2" "$dir/summary.json" "$dir/summary2.json" <<'PY'
import json, sys
label, s, kb, s2, kb2, f1, f2 = sys.argv[1:]
a, b = json.load(open(f1)), json.load(open(f2))
print(f"| {label} | {a['programmes_added']:,} | {float(s):.0f} s | {int(kb)//1024} MB | "
      f"{float(s2):.0f} s, {b['programmes_updated'] + b['programmes_added'] + b['programmes_removed']} writes | {int(kb2)//1024} MB |")
PY
}

cat <<MD
Guide: $channels channels × $days days, $(python3 -c "print(f'{$size/1e6:.0f}')") MB XMLTV, $(python3 -c "print(f'{$gzsize/1e6:.0f}')") MB gzip.

Parse only (no storage), same files, same run:

| parser | file | seconds | MB/s (uncompressed) | peak memory |
|---|---|---|---|---|
| efir manage epg-check | plain | $efir_s | $(mbs "$size" "$efir_s") | $((efir_kb / 1024)) MB |
| xmllint --stream --noout | plain | $xmllint_s | $(mbs "$size" "$xmllint_s") | $((xmllint_kb / 1024)) MB |
| efir manage epg-check | gzip | $efirgz_s | $(mbs "$size" "$efirgz_s") | $((efirgz_kb / 1024)) MB |
| xmllint --stream --noout | gzip | $xmllintgz_s | $(mbs "$size" "$xmllintgz_s") | $((xmllintgz_kb / 1024)) MB |

efir / xmllint (plain) = $(python3 -c "print(f'{$xmllint_s / $efir_s:.2f}')")×.

Full import of the gzip (\`epg-import\`), then a forced re-import of the unchanged guide:

| database | programmes added | time | peak memory | forced re-import | its peak memory |
|---|---|---|---|---|---|
$(row SQLite "$work/sqlite")
$(row PostgreSQL "$work/pg")

On $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%Y-%m-%d).
MD
