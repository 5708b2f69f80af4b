#!/usr/bin/env python3
"""Cost of the project database behind the web app: SQLite (the default) against
PostgreSQL (a team's server), through the HTTP API of `samkit serve --no-model`.

For each backend, one server on a fresh copy of a one-image project; one client, one
request at a time: create an instance (POST), change it (PATCH, versioned), list the
image's instances (GET). Medians and p90 of N requests each. SQLite is the baseline,
measured in the same run.

    python3 bench/store_backends.py [--bin target/release/samkit] [-n 200] [--postgres URL]

Without --postgres a throw-away server is started with scripts/postgres-test-server, with
fsync on (as SQLite's synchronous=FULL: both wait for the disk on commit).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png(path, w=64, h=48):
    raw = b"".join(b"\x00" + bytes([40, 60, 90]) * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def serve(binary, folder, db):
    args = [binary, "serve", "--no-model", "--port", "0", folder]
    if db:
        args += ["--db", db]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    base = line.split("open ")[1].split("/?token=")[0]
    token = line.split("?token=")[1].split()[0]
    return p, base, token


def request(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        out = json.loads(r.read() or b"null")
    return time.perf_counter() - t, out


def measure(binary, db, n):
    with tempfile.TemporaryDirectory() as folder:
        png(os.path.join(folder, "a.png"))
        p, base, token = serve(binary, folder, db)
        try:
            times = {"POST instance": [], "PATCH instance": [], "GET instances": []}
            rle = {"size": [48, 64], "counts": [100, 50, 48 * 64 - 150]}
            for k in range(n):
                dt, inst = request(base, token, "POST", "/api/images/1/instances",
                                   {"rle": rle, "prompts": {}, "client_id": f"c{k}"})
                times["POST instance"].append(dt)
                dt, _ = request(base, token, "PATCH", f"/api/instances/{inst['id']}",
                                {"version": inst["version"], "z": k})
                times["PATCH instance"].append(dt)
                if k % 4 == 0:
                    dt, _ = request(base, token, "GET", "/api/images/1/instances")
                    times["GET instances"].append(dt)
            return times
        finally:
            p.terminate()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/debug/samkit"))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--postgres")
    a = ap.parse_args()
    pgdir = None
    url = a.postgres
    if not url:
        pgdir = tempfile.mkdtemp(prefix="samkit-bench-pg.")
        url = subprocess.check_output([os.path.join(ROOT, "scripts/postgres-test-server"),
                                       "start", pgdir], text=True,
                                      env={**os.environ, "POSTGRES_FSYNC": "on"}).strip()
    base_url = url.rsplit("/", 1)[0]
    try:
        results = {"SQLite (baseline)": measure(a.bin, None, a.n),
                   "PostgreSQL": measure(a.bin, f"{base_url}/samkit_bench_{os.getpid()}", a.n)}
    finally:
        if pgdir:
            subprocess.run([os.path.join(ROOT, "scripts/postgres-test-server"), "stop", pgdir])
    print(f"| request | {' | '.join(results)} |")
    print("|---|" + "---|" * len(results))
    for req in next(iter(results.values())):
        cells = []
        for times in results.values():
            t = sorted(times[req])
            cells.append(f"{statistics.median(t) * 1e3:.2f} ms (p90 {t[int(len(t) * 0.9)] * 1e3:.2f})")
        print(f"| {req} | {' | '.join(cells)} |")


if __name__ == "__main__":
    sys.exit(main())
