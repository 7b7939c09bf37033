"""P3: the server's batched metric ingest in points/s (POST /api/v1/runs/{id}/metrics with
10,000 points per request, one keep-alive connection, bodies encoded before the clock starts)
divided by plain SQLite batched inserts of the same rows on the same machine (Python sqlite3,
WAL, synchronous=NORMAL, executemany of 10,000 rows per transaction into a metrics table with
an index on (run_id, name)). Goal: >= 0.5.

    python3 bench/p3_ingest_vs_sqlite.py [--points 1000000] [--batch 10000] [--quick]
"""
import argparse
import http.client
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import benchlib


def make_points(n, t0_ms):
    return [{"name": "m", "kind": "scalar", "value": i * 0.5, "step": i, "time": t0_ms + i}
            for i in range(n)]


def bench_server(n, batch):
    with benchlib.TrainyardServer() as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=300)
        hdr = {"Authorization": "Bearer " + srv.token, "Content-Type": "application/json"}
        conn.request("POST", "/api/v1/experiments/bench-p3/runs",
                     body=json.dumps({"kind": "interactive"}), headers=hdr)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 201, body
        run_id = json.loads(body)["id"]
        t0_ms = int(time.time() * 1000)
        pts = make_points(n, t0_ms)
        bodies = [json.dumps({"metrics": pts[i:i + batch]}).encode() for i in range(0, n, batch)]
        path = "/api/v1/runs/%s/metrics" % run_id
        t0 = time.perf_counter()
        for b in bodies:
            conn.request("POST", path, body=b, headers=hdr)
            r = conn.getresponse()
            resp = r.read()
            assert r.status in (200, 201), resp
        dt = time.perf_counter() - t0
        # check every point landed
        conn.request("GET", "/api/v1/runs/%s/metrics?name=m" % run_id, headers=hdr)
        r = conn.getresponse()
        got = json.loads(r.read())["metrics"]["m"]
        assert len(got) == n, "server holds %d of %d points" % (len(got), n)
        conn.close()
        return dt


def bench_sqlite(n, batch):
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(str(Path(tmp, "bench.db")), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("""CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL,
                      name TEXT NOT NULL, kind TEXT NOT NULL, step INTEGER, value REAL,
                      time INTEGER)""")
        db.execute("CREATE INDEX metrics_run_name ON metrics(run_id, name)")
        t0_ms = int(time.time() * 1000)
        rows = [("bench-run", p["name"], p["kind"], p["step"], p["value"], p["time"])
                for p in make_points(n, t0_ms)]
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            db.execute("BEGIN")
            db.executemany("INSERT INTO metrics(run_id, name, kind, step, value, time) "
                           "VALUES (?, ?, ?, ?, ?, ?)", rows[i:i + batch])
            db.execute("COMMIT")
        dt = time.perf_counter() - t0
        assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == n
        db.close()
        return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1000000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="100,000 points (smoke test)")
    args = ap.parse_args()
    n = 100000 if args.quick else args.points
    srv_dt = bench_server(n, args.batch)
    sql_dt = bench_sqlite(n, args.batch)
    srv_rate, sql_rate = n / srv_dt, n / sql_dt
    print("server ingest: %d points in %.3f s = %.0f points/s" % (n, srv_dt, srv_rate))
    print("plain sqlite:  %d points in %.3f s = %.0f points/s" % (n, sql_dt, sql_rate))
    ratio = srv_rate / sql_rate
    benchlib.result_line("P3", "server %.0f points/s vs sqlite %.0f points/s" % (srv_rate, sql_rate),
                         "%.2f" % ratio, ">= 0.5", ratio >= 0.5)


if __name__ == "__main__":
    main()
