#!/usr/bin/env python3
"""Measures the panel's list pages (bench/panel/run.sh).

    measure.py BASE_URL postgres|sqlite DB USER PASSWORD REPEATS PAGE...

Logs in through the login form (the efir_login double-submit cookie, then
the efir_session cookie), requests every PAGE twice to warm up and then
REPEATS times on one keep-alive connection, timing each answer on the
client. The server's own time of the same requests comes from the request
log (`request_log.duration_ms`, written by the panel for every request),
read from DB (a PostgreSQL URL or an SQLite file) after the log writer has
flushed. Prints one JSON object per page.
"""
import http.client
import json
import re
import statistics
import subprocess
import sqlite3
import sys
import time
import urllib.parse

base, kind, db, user, password, repeats = sys.argv[1:7]
repeats = int(repeats)
pages = sys.argv[7:]
host = urllib.parse.urlsplit(base).netloc
TIMEOUT = 30
conn = http.client.HTTPConnection(host, timeout=TIMEOUT)


def request(method, path, body=None, cookie=""):
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp, data


def cookie_of(resp, name):
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";", 1)[0].split("=", 1)[1]
    return None


resp, body = request("GET", "/admin/login")
nonce = cookie_of(resp, "efir_login")
token = re.search(rb'name="_csrf" value="([^"]+)"', body).group(1).decode()
form = urllib.parse.urlencode({"_csrf": token, "username": user, "password": password, "next": "/admin/"})
resp, body = request("POST", "/admin/login", form, f"efir_login={nonce}")
session = cookie_of(resp, "efir_session")
if resp.status != 303 or not session:
    sys.exit(f"login failed: {resp.status} {body[:300]!r}")
cookie = f"efir_session={session}"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))]


results = []
for page in pages:
    status = None
    client = []
    print(f"{kind}: {page}", file=sys.stderr, flush=True)
    body = b""
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        try:
            resp, body = request("GET", page, cookie=cookie)
        except TimeoutError:
            # Over TIMEOUT seconds: reported, and the connection replaced.
            status = f"timeout {TIMEOUT} s"
            conn.close()
            conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
            break
        t1 = time.perf_counter()
        status = resp.status
        if status != 200:
            break
        if i >= 2:
            client.append((t1 - t0) * 1000)
    results.append({"page": page, "status": status, "client": client, "bytes": len(body)})

time.sleep(3)  # the request log is written in batches


def server_times(page):
    split = urllib.parse.urlsplit(page)
    sql = ("SELECT duration_ms FROM request_log WHERE method = 'GET' AND path = '{}' AND query = '{}' "
           "AND username = '{}' ORDER BY id DESC LIMIT {}").format(
        split.path.replace("'", "''"), split.query.replace("'", "''"), user, repeats)
    if kind == "postgres":
        out = subprocess.run(["psql", "-At", db, "-c", sql], check=True, capture_output=True, text=True).stdout
        return [float(x) for x in out.split()]
    c = sqlite3.connect(db)
    return [float(r[0]) for r in c.execute(sql)]


for r in results:
    line = {"db": kind, "page": r["page"], "status": r["status"], "bytes": r["bytes"]}
    if r["status"] == 200:
        server = server_times(r["page"])
        line.update({
            "n": len(r["client"]),
            "client_median_ms": round(statistics.median(r["client"]), 1),
            "client_p95_ms": round(pct(r["client"], 95), 1),
            "server_n": len(server),
            "server_median_ms": statistics.median(server) if server else None,
            "server_p95_ms": pct(server, 95) if server else None,
            "server_max_ms": max(server) if server else None,
        })
    print(json.dumps(line), flush=True)
