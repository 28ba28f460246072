#!/usr/bin/env python3
"""Turns measure.py's JSON lines (stdin) into the Markdown table of
docs/benchmarks.md: per page, server median / p95 (request log) and client
median / p95, PostgreSQL and SQLite side by side; pages over the 200 ms
target are marked."""
import json
import sys

rows, order = {}, []
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if r["page"] not in rows:
        order.append(r["page"])
        rows[r["page"]] = {}
    rows[r["page"]][r["db"]] = r


def cell(r):
    if r is None:
        return "–", "–"
    if r["status"] != 200:
        s = r["status"]
        return (f"HTTP {s}" if isinstance(s, int) else f"**{s}**"), ""
    mark = " ⚠" if (r.get("server_p95_ms") or 0) > 200 else ""
    return (f"{r['server_median_ms']:.0f} / {r['server_p95_ms']:.0f}{mark}",
            f"{r['client_median_ms']:.0f} / {r['client_p95_ms']:.0f}")


print("| page | PostgreSQL server ms (median / p95) | client ms | SQLite server ms (median / p95) | client ms |")
print("|---|---:|---:|---:|---:|")
for page in order:
    pg = cell(rows[page].get("postgres"))
    sl = cell(rows[page].get("sqlite"))
    if pg[0].startswith("HTTP 404") and sl[0].startswith("HTTP 404"):
        continue
    print(f"| `{page}` | {pg[0]} | {pg[1]} | {sl[0]} | {sl[1]} |")
absent = [p for p in order if all(r["status"] == 404 for r in rows[p].values())]
if absent:
    print("\nNot built yet (404): " + ", ".join(f"`{p}`" for p in absent))
