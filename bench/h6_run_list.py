"""H6 (issue 15, part 6): 200 concurrent clients on an experiment's run list.

A fresh workspace server gets one experiment with 1,000 runs (interactive, Completed, a tag and
a property each). wrk then sends `GET /api/v1/experiments/e/runs?limit=N` with the workspace
token from 200 connections for D seconds. Goal: >= 2,000 req/s with p99 <= 100 ms.

Peer / ceiling, measured in the same run with the same wrk settings: nginx-light serving, as a
static file, the exact bytes of that run-list answer (no auth, no database, no JSON building).
The ratio is Trainyard's req/s over nginx's.

    python3 bench/h6_run_list.py [--runs 1000] [--limit 25] [--connections 200] [--duration 10]

TRAINYARD_BIN picks the binary (default build/trainyard), so a build from before a change can
be measured the same way.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib


def wrk(url, seconds, connections, threads, headers=None, warmup=1):
    """Runs wrk GET with `headers`; returns (req/s, p50 ms, p99 ms, raw output)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        for k, v in (headers or {}).items():
            f.write('wrk.headers[%s] = %s\n' % (json.dumps(k), json.dumps(v)))
        script = f.name
    try:
        base = ["wrk", "-t%d" % threads, "-c%d" % connections, "--latency", "-s", script,
                "--timeout", "10s"]
        if warmup:
            subprocess.run(base + ["-d%ds" % warmup, url], stdout=subprocess.DEVNULL, check=True)
        out = subprocess.run(base + ["-d%ds" % seconds, url], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
    finally:
        os.unlink(script)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError("wrk saw errors:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale
    return rps, pct(50), pct(99), out


def cpu_seconds(pid):
    """User + system CPU time of a process and its threads so far."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(url, token, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def start_nginx(tmp, static_file):
    port = benchlib.free_port()
    conf = Path(tmp, "nginx.conf")
    conf.write_text("""
worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:%d;
    location = /runs.json { default_type application/json; alias %s; }
  }
}
""" % (os.cpu_count() or 1, tmp, port, static_file))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = "http://127.0.0.1:%d/runs.json" % port
    benchlib.wait_http(url, proc=proc)
    return proc, url


def stop(proc):
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--profile", help="perf record the server during the Trainyard wrk run "
                    "into this file (perf report -i FILE)")
    ap.add_argument("--keep", action="store_true", help="wait for Enter before the run-list wrk")
    ap.add_argument("--view", choices=["full", "summary"], default="full",
                    help="run objects (default, as GET /runs/{id}) or table rows")
    ap.add_argument("--quick", action="store_true", help="smoke test: 100 runs, 2 s")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.duration = 100, 2
    print("machine: %s; load average %s; binary %s" % (
        benchlib.machine(), " ".join("%.2f" % x for x in os.getloadavg()),
        benchlib.trainyard_bin()), flush=True)
    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as tmp:
        base = srv.url + "/api/v1/experiments/e/runs"
        t0 = time.time()

        def make(i):
            call(base, srv.token, "POST", {"kind": "interactive", "status": "Completed",
                                           "display_name": "run %d" % i,
                                           "tags": {"i": str(i)}, "properties": {"p": "v"}})
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(make, range(a.runs)))
        print("created %d runs in %.1f s" % (a.runs, time.time() - t0), flush=True)
        url = "%s?limit=%d" % (base, a.limit) + ("&view=summary" if a.view == "summary" else "")
        sample = call(url, srv.token)
        n = len(json.loads(sample)["runs"])
        static = Path(tmp, "runs.json")
        static.write_bytes(sample)
        os.chmod(tmp, 0o755)  # nginx's workers run as an unprivileged user
        os.chmod(static, 0o644)
        print("answer: %d runs, %d bytes" % (n, len(sample)), flush=True)
        # First (the run list leaves queued requests behind when wrk stops): the same
        # server's HTTP layer and worker pool without the store, GET /healthz.
        hz = wrk(srv.url + "/healthz", a.duration, a.connections, a.threads)
        print("trainyard /healthz (no store): %.0f req/s, p50 %.2f ms, p99 %.2f ms" % hz[:3],
              flush=True)
        print("server pid %d, url %s, token %s" % (srv.proc.pid, url, srv.token), flush=True)
        if a.keep:
            input("press Enter to continue")
        perf = None
        if a.profile:
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", a.profile, "-p",
                                     str(srv.proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        cpu0 = cpu_seconds(srv.proc.pid)
        ty = wrk(url, a.duration, a.connections, a.threads,
                 {"Authorization": "Bearer " + srv.token})
        cpu = cpu_seconds(srv.proc.pid) - cpu0
        served = ty[0] * (a.duration + 1)  # the warm-up second at about the same rate
        print("server CPU during the run-list wrk: %.1f s, %.2f ms per request" % (
            cpu, 1000.0 * cpu / max(1.0, served)), flush=True)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(30)
        print("trainyard run list: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % ty[:3], flush=True)
        nproc, nurl = start_nginx(tmp, static)
        try:
            ng = wrk(nurl, a.duration, a.connections, a.threads)
        finally:
            stop(nproc)
        print("nginx static file:  %.0f req/s, p50 %.2f ms, p99 %.2f ms" % ng[:3], flush=True)
        met = ty[0] >= 2000 and ty[2] <= 100
        benchlib.result_line(
            "H6", "run list of a %d-run experiment (limit=%d, view=%s, %d bytes), wrk -t%d -c%d %d s: "
            "Trainyard %.0f req/s p99 %.1f ms; nginx static copy %.0f req/s p99 %.1f ms; "
            "Trainyard /healthz (no store) %.0f req/s p99 %.1f ms"
            % (a.runs, a.limit, a.view, len(sample), a.threads, a.connections, a.duration, ty[0], ty[2],
               ng[0], ng[2], hz[0], hz[2]),
            "%.2f of nginx" % (ty[0] / ng[0]), ">= 2,000 req/s and p99 <= 100 ms", met)
    return 0


if __name__ == "__main__":
    sys.exit(main())
