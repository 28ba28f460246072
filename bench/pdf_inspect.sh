#!/usr/bin/env bash
# bench/pdf_inspect.sh: PDF pre-press analysis, Efir's `pdf_inspect` vs poppler's `pdfinfo`.
#
#   bench/pdf_inspect.sh [FILES] [ROUNDS]     (default 200 files, best of 3 rounds)
#
# 1. Builds the `pdf_inspect` example in release and generates FILES
#    Signa-like sample sheets with it (1–16 pages, 50 KB–2 MB).
# 2. Times, side by side in one run, on the same (cached) files:
#    - `pdfinfo FILE` once per file, the way pdfupload ran it;
#    - `pdfinfo -box -f 1 -l 9999 FILE` once per file (every page's boxes,
#      closer to what pdf_inspect reports);
#    - `pdf_inspect FILE…` over all files in one process;
#    - `pdf_inspect FILE` once per file.
#    pdf_inspect also reads colorants and Signa mark text, which pdfinfo does not.
#
# Needs pdfinfo (apt-get install poppler-utils) and python3.
# Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-200}
rounds=${2:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/efir-target}"
for tool in pdfinfo python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install poppler-utils python3)" >&2; exit 1; }
done

cargo build --release --locked -p efir-ingest --example pdf_inspect >&2
inspect="$CARGO_TARGET_DIR/release/examples/pdf_inspect"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$inspect" --generate "$work/pdf" "$files"
mapfile -t pdfs < <(find "$work/pdf" -name '*.pdf' | sort)
bytes=$(cat "${pdfs[@]}" | wc -c)
pages=$("$inspect" "${pdfs[@]}" | python3 -c 'import json,sys; print(sum(json.loads(l)["info"]["pages"] for l in sys.stdin))')

now() { date +%s%N; }
# best_of CMD…: the fastest of $rounds runs of CMD, in seconds.
best_of() {
    local best="" t0 t1 ns
    for ((r = 0; r < rounds; r++)); do
        t0=$(now)
        "$@" >/dev/null
        t1=$(now)
        ns=$((t1 - t0))
        if [[ -z $best || $ns -lt $best ]]; then best=$ns; fi
    done
    python3 -c "print(f'{$best / 1e9:.3f}')"
}
pdfinfo_each() { for f in "${pdfs[@]}"; do pdfinfo "$f"; done; }
pdfinfo_boxes_each() { for f in "${pdfs[@]}"; do pdfinfo -box -f 1 -l 9999 "$f"; done; }
inspect_all() { "$inspect" "${pdfs[@]}"; }
inspect_each() { for f in "${pdfs[@]}"; do "$inspect" "$f"; done; }

pdfinfo_each >/dev/null # warm the page cache
t_pdfinfo=$(best_of pdfinfo_each)
t_boxes=$(best_of pdfinfo_boxes_each)
t_all=$(best_of inspect_all)
t_each=$(best_of inspect_each)

row() { # LABEL SECONDS
    python3 -c "
n, s, base = $files, $2, $t_pdfinfo
print(f'| $1 | {n} | {s:.3f} | {s * 1000 / n:.2f} | {s / base:.2f} |')"
}
echo
echo "$files files, $pages pages, $((bytes / 1000000)) MB; best of $rounds rounds:"
echo
echo "| tool | files | total s | per file ms | × pdfinfo |"
echo "|---|---|---|---|---|"
row 'pdfinfo, one process per file' "$t_pdfinfo"
row 'pdfinfo -box (all pages), one process per file' "$t_boxes"
row 'pdf_inspect, one process for all files' "$t_all"
row 'pdf_inspect, one process per file' "$t_each"
echo
echo "On $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(date -u +%Y-%m-%d); pdfinfo $(pdfinfo -v 2>&1 | head -1 | awk '{print $3}')."
