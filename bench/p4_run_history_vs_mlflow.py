"""P4a-P4d (run history at scale, issue 20): Trainyard and MLflow side by side in one run, on
the same data: one experiment with 100,000 runs (3 params, 2 tags, metrics acc and loss) and
one run with a 1,000,000-point metric.

- Trainyard: the store is seeded with `trainyard debug-seed-runs` (through the metadata store,
  before the server starts); every read goes through the SDK or REST of a real server.
- MLflow: a SQLite tracking store created by MLflow's own SqlAlchemyStore (its migrations),
  populated in-process through its ORM tables (its REST writes take hours at this size); reads
  through MlflowClient in-process (no HTTP: MLflow's best case).

    bash bench/setup.sh                           # once: MLflow in bench/.venv
    bench/.venv/bin/python bench/p4_run_history_vs_mlflow.py [--runs 100000]
        [--points 1000000] [--quick]

P4a  full read of the 1 M-point series: SDK get_metrics ÷ MLflow get_metric_history (goal
     ≤ 1/50); 1,000-point downsampled read (≤ 50 ms); server RSS rise during the full read
     (≤ 100 MB).
P4b  first page (REST, 100 runs) ÷ MLflow search_runs(max_results=100) (≤ 1/10); SDK first item
     of get_runs() ÷ MLflow's first item (≤ 1/10); "acc > 0.99, ordered by acc, top 100"
     ÷ MLflow search_runs with the same filter/order (≤ 1/20).
P4c  run creation rate at 100,000 runs ÷ at 0 runs (≥ 0.9), and ÷ MLflow create_run (≥ 5).
P4d  wrk: 20 connections on the first page of the 100,000-run experiment while a writer logs
     10,000 points/s (≥ 1,000 req/s, p99 ≤ 50 ms).
"""
import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import benchlib

ALGOS = ["svm", "tree", "linear"]


def threshold(n_runs):
    """acc > 0.99 at full size (about 1,000 matches); lower for --quick so 100 still match."""
    return 0.99 if n_runs >= 20000 else 0.5


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Server(benchlib.TrainyardServer):
    """A bench server whose data dir is seeded before it starts."""

    def __init__(self, seed_args=()):
        super().__init__()
        self.seed_args = list(seed_args)
        self.seed_seconds = 0.0

    def __enter__(self):
        if self.seed_args:
            t0 = time.time()
            subprocess.run([benchlib.trainyard_bin(), "debug-seed-runs", "--data",
                            str(self.data_dir)] + self.seed_args, check=True,
                           capture_output=True)
            self.seed_seconds = time.time() - t0
        return super().__enter__()


def trainyard_side(n_runs, n_points, res, only_create=False):
    from trainyard.core import Experiment, Run
    seed = ["--experiment", "big", "--runs", str(n_runs), "--series-points", str(n_points)]
    with Server(seed) as srv:
        print("[trainyard] seeded %d runs + %d points in %.1f s" % (n_runs, n_points,
                                                                   srv.seed_seconds))
        ws = srv.workspace()
        client = ws._client
        exp = Experiment(ws, "big", _create_in_cloud=False)
        run = Run.get(ws, "big_series")
        if not only_create:
            trainyard_reads(srv, ws, client, exp, run, n_runs, n_points, res)
        # P4c: creation at 100,000 runs and on an empty store, in alternating rounds (the
        # machine's load drifts; both sides see the same drift).
        with Server() as fresh:
            big_exp = Experiment(ws, "big")
            fresh_exp = Experiment(fresh.workspace(), "fresh")
            at_n, at_0 = [], []
            for _ in range(7):
                at_n.append(create_rate(big_exp, 100))
                at_0.append(create_rate(fresh_exp, 100))
            res["ty_create_at_n"] = statistics.median(at_n)
            res["ty_create_at_0"] = statistics.median(at_0)
            print("[trainyard] create rounds at n:", [round(x) for x in at_n], "at 0:",
                  [round(x) for x in at_0])
        if not only_create:
            res.update(wrk_first_page(srv, run))


def trainyard_reads(srv, ws, client, exp, run, n_runs, n_points, res):
    # P4a: full read, RSS sampled every 5 ms.
    base_rss = rss_mb(srv.proc.pid)
    peak = [base_rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(srv.proc.pid))
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.perf_counter()
    values = run.get_metrics("s0")["s0"]
    res["ty_full_read"] = time.perf_counter() - t0
    done.set()
    t.join()
    assert len(values) == n_points, len(values)
    res["ty_rss_rise_mb"] = peak[0] - base_rss
    res["ty_full_read_best_of_3"] = min(
        [res["ty_full_read"]] + [timed(lambda: run.get_metrics("s0"), 1) for _ in range(2)])
    res["ty_downsampled"] = timed(lambda: run.get_metric_series("s0", max_points=1000), 10)
    res["ty_downsampled_lttb"] = timed(
        lambda: run.get_metric_series("s0", max_points=1000, mode="lttb"), 10)
    # P4b
    path = "/api/v1/experiments/big/runs"
    res["ty_first_page"] = timed(lambda: client.get(path, params={"page_size": 100}), 10)
    res["ty_first_item"] = timed(lambda: next(exp.get_runs()), 10)

    def top():
        got = list(itertools.islice(exp.get_runs(filter="metrics.acc > %g" % threshold(n_runs),
                                                 order_by="metrics.acc DESC"), 100))
        assert len(got) == 100

    res["ty_top100"] = timed(top, 5)


def create_rate(exp, n=300):
    body = {"kind": "interactive", "status": "Running", "tags": {}, "properties": {}}
    client = exp.workspace._client
    path = "/api/v1/experiments/%s/runs" % exp.name
    for _ in range(5):
        client.post(path, body)
    t0 = time.perf_counter()
    for _ in range(n):
        client.post(path, body)
    return n / (time.perf_counter() - t0)


def wrk_first_page(srv, run, seconds=10):
    out = {}
    for view in ("full", "summary"):
        r = wrk_view(srv, run, view, seconds)
        out.update({k + ("" if view == "full" else "_summary"): v for k, v in r.items()})
    return out


def wrk_view(srv, run, view, seconds):
    out = {}
    stop = threading.Event()
    logged = [0]

    def writer():  # 10,000 points/s: a batch of 1,000 every 100 ms
        client = srv.workspace()._client
        step = 0
        next_t = time.time()
        while not stop.is_set():
            pts = [{"name": "live", "value": float(i), "step": step + i} for i in range(1000)]
            client.post("/api/v1/runs/%s/metrics" % run.id, {"metrics": pts})
            step += 1000
            logged[0] += 1000
            next_t += 0.1
            time.sleep(max(0.0, next_t - time.time()))

    w = threading.Thread(target=writer)
    w.start()
    try:
        cmd = ["wrk", "-t2", "-c20", "-d%ds" % seconds, "--latency", "-H",
               "Authorization: Bearer " + srv.token,
               srv.url + "/api/v1/experiments/big/runs?page_size=100&view=" + view]
        t0 = time.time()
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        elapsed = time.time() - t0
    finally:
        stop.set()
        w.join()
    out["wrk_req_s"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    out["wrk_p99_ms"] = float(m.group(1)) * scale
    out["wrk_non2xx"] = int(re.search(r"Non-2xx or 3xx responses: (\d+)", text).group(1)) \
        if "Non-2xx" in text else 0
    out["writer_points_s"] = logged[0] / elapsed
    print(text)
    return out


def mlflow_side(n_runs, n_points, res, only_create=False):
    from mlflow.store.tracking.dbmodels import models as m
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    tmp = tempfile.mkdtemp(prefix="mlflow-p4-")
    try:
        uri = "sqlite:///%s/mlflow.db" % tmp
        store = SqlAlchemyStore(uri, os.path.join(tmp, "artifacts"))
        exp_id = store.create_experiment("big")
        t0 = time.time()
        base = 1_700_000_000_000
        with store.ManagedSessionMaker() as s:
            for at in range(0, n_runs, 5000):
                runs, params, tags, metrics = [], [], [], []
                for i in range(at, min(n_runs, at + 5000)):
                    rid = "r%031d" % i
                    acc = (i * 7919 % 100003) / 100003.0
                    runs.append(dict(run_uuid=rid, name="run%d" % i, source_type="LOCAL",
                                     source_name="", entry_point_name="", user_id="bench",
                                     status="FINISHED" if i % 10 else "FAILED",
                                     start_time=base + i, end_time=base + i + 1,
                                     source_version="", lifecycle_stage="active",
                                     artifact_uri=os.path.join(tmp, "artifacts", rid),
                                     experiment_id=int(exp_id)))
                    for k, v in (("lr", "%.3f" % (0.001 * (i % 10 + 1))), ("depth", str(i % 7)),
                                 ("algo", ALGOS[i % 3])):
                        params.append(dict(key=k, value=v, run_uuid=rid))
                    for k, v in (("team", "blue" if i % 2 else "red"), ("split", str(i % 5))):
                        tags.append(dict(key=k, value=v, run_uuid=rid))
                    for k, v in (("acc", acc), ("loss", 1 - acc)):
                        metrics.append(dict(key=k, value=v, timestamp=base + i, step=0,
                                            is_nan=False, run_uuid=rid))
                s.execute(m.SqlRun.__table__.insert(), runs)
                s.execute(m.SqlParam.__table__.insert(), params)
                s.execute(m.SqlTag.__table__.insert(), tags)
                s.execute(m.SqlMetric.__table__.insert(), metrics)
                s.execute(m.SqlLatestMetric.__table__.insert(), metrics)
            sid = "s" * 32
            s.execute(m.SqlRun.__table__.insert(), [dict(
                run_uuid=sid, name="series", source_type="LOCAL", source_name="",
                entry_point_name="", user_id="bench", status="FINISHED", start_time=base,
                end_time=base + 1, source_version="", lifecycle_stage="active",
                artifact_uri=os.path.join(tmp, "artifacts", sid), experiment_id=int(exp_id))])
            import math
            for at in range(0, n_points, 100000):
                pts = []
                for i in range(at, min(n_points, at + 100000)):
                    v = math.sin(i / 1000.0)
                    pts.append(dict(key="s0", value=v, timestamp=base + i, step=i, is_nan=False,
                                    run_uuid=sid))
                s.execute(m.SqlMetric.__table__.insert(), pts)
            if n_points:
                s.execute(m.SqlLatestMetric.__table__.insert(), [pts[-1]])
        print("[mlflow] populated in %.1f s" % (time.time() - t0))
        client = MlflowClient(tracking_uri=uri)
        if only_create:
            res["ml_create"] = mlflow_create_rate(client)
            return
        t0 = time.perf_counter()
        hist = client.get_metric_history(sid, "s0")
        res["ml_full_read"] = time.perf_counter() - t0
        assert len(hist) == n_points
        res["ml_first_page"] = timed(lambda: client.search_runs([exp_id], max_results=100), 5)
        res["ml_first_item"] = timed(lambda: client.search_runs([exp_id], max_results=100)[0],
                                     5)

        def top():
            got = client.search_runs([exp_id], "metrics.acc > %g" % threshold(n_runs),
                                     order_by=["metrics.acc DESC"], max_results=100)
            assert len(got) == 100

        res["ml_top100"] = timed(top, 3)
        res["ml_create"] = mlflow_create_rate(client)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mlflow_create_rate(client):
    fresh = client.create_experiment("fresh")
    for _ in range(10):
        client.create_run(fresh)
    t0 = time.perf_counter()
    for _ in range(300):
        client.create_run(fresh)
    return 300 / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--points", type=int, default=1000000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only-create", action="store_true",
                    help="P4c only (MLflow's create_run rate on an empty store, no populating)")
    ap.add_argument("--only-trainyard", action="store_true",
                    help="Trainyard's side alone (no MLflow, no ratios): P4a-d figures for quick "
                    "iteration; the recorded ratios come from a full run")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.points = 3000, 30000
    res = {}
    trainyard_side(args.runs, args.points, res, args.only_create)
    if args.only_trainyard:
        print(json.dumps(res, indent=2))
        return
    mlflow_side(0 if args.only_create else args.runs, 0 if args.only_create else args.points,
                res, args.only_create)
    print(json.dumps(res, indent=2))
    r = res
    if args.only_create:
        print("RESULT P4c create %.0f runs/s at %d runs vs %.0f at 0 = %.2f (goal >= 0.9); vs "
              "MLflow %.0f runs/s = %.1fx (goal >= 5)"
              % (r["ty_create_at_n"], args.runs, r["ty_create_at_0"],
                 r["ty_create_at_n"] / r["ty_create_at_0"], r["ml_create"],
                 r["ty_create_at_n"] / r["ml_create"]))
        return
    print("RESULT P4a full read %.2f s vs %.2f s = 1/%.1f (goal <= 1/50); downsampled 1000 "
          "points %.1f ms (LTTB %.1f ms) (goal <= 50); RSS rise %.0f MB (goal <= 100)"
          % (r["ty_full_read"], r["ml_full_read"], r["ml_full_read"] / r["ty_full_read"],
             r["ty_downsampled"] * 1000, r["ty_downsampled_lttb"] * 1000, r["ty_rss_rise_mb"]))
    print("RESULT P4b first page %.1f ms vs %.1f ms = 1/%.1f (goal <= 1/10); first item %.1f "
          "ms vs %.1f ms = 1/%.1f (<= 1/10); acc>0.99 top 100 %.1f ms vs %.1f ms = 1/%.1f "
          "(<= 1/20)"
          % (r["ty_first_page"] * 1e3, r["ml_first_page"] * 1e3,
             r["ml_first_page"] / r["ty_first_page"], r["ty_first_item"] * 1e3,
             r["ml_first_item"] * 1e3, r["ml_first_item"] / r["ty_first_item"],
             r["ty_top100"] * 1e3, r["ml_top100"] * 1e3, r["ml_top100"] / r["ty_top100"]))
    print("RESULT P4c create %.0f runs/s at %d runs vs %.0f at 0 = %.2f (goal >= 0.9); vs "
          "MLflow %.0f runs/s = %.1fx (goal >= 5)"
          % (r["ty_create_at_n"], args.runs, r["ty_create_at_0"],
             r["ty_create_at_n"] / r["ty_create_at_0"], r["ml_create"],
             r["ty_create_at_n"] / r["ml_create"]))
    for suffix, label in (("", "view=full"), ("_summary", "view=summary")):
        print("RESULT P4d (%s) %.0f req/s, p99 %.1f ms, %d non-2xx, writer %.0f points/s "
              "(goal >= 1000 req/s, p99 <= 50 ms, 10,000 points/s)"
              % (label, r["wrk_req_s" + suffix], r["wrk_p99_ms" + suffix],
                 r["wrk_non2xx" + suffix], r["writer_points_s" + suffix]))


if __name__ == "__main__":
    main()
