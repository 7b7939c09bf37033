"""P6: model serving throughput and latency, measured with wrk on this machine.

(a) The same scikit-learn iris model (SVC, joblib) served two ways, one-row JSON requests:
    - Trainyard: no-code `Model.deploy` (a `trainyard serve` front + Python workers);
    - MLflow: `mlflow models serve --env-manager local` (FastAPI/uvicorn) of the same model.
    Both get the same number of worker processes. Goal: Trainyard >= 5x MLflow's requests/s and
    p99 <= 1/5 of MLflow's.
(b) The native XGBoost scorer (no-code deployment of an XGBoost JSON model, scored in-process
    through libxgboost) with one-row requests, divided by the loopback ceiling of a trivial
    nginx response (`return 200`) measured with the same wrk settings. Goal: >= 0.5.

    bash bench/setup.sh                           # once: MLflow in bench/.venv
    bench/.venv/bin/python bench/p6_serving.py [--duration 10] [--connections 16] [--quick]
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
from pathlib import Path

import benchlib
from xgb_ctypes import sample_rows, train_xgboost_model

IRIS_ROW = [[5.1, 3.5, 1.4, 0.2]]


def wrk(url, seconds, connections, threads, body=None, warmup=1):
    """Runs wrk (POST of `body` as JSON when given); returns (req/s, p50 ms, p99 ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if body is not None:
            f.write('wrk.method = "POST"\nwrk.body = %s\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' % json.dumps(json.dumps(body)))
        script = f.name
    try:
        base = ["wrk", "-t%d" % threads, "-c%d" % connections, "--latency", "-s", script]
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
    return rps, pct(50), pct(99)


def post(url, body):
    import urllib.request
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def start_mlflow(model_dir, workers, log):
    mlflow = Path(sys.executable).parent / "mlflow"
    port = benchlib.free_port()
    env = dict(os.environ)
    env["PATH"] = str(mlflow.parent) + os.pathsep + env.get("PATH", "")  # uvicorn
    proc = subprocess.Popen([str(mlflow), "models", "serve", "-m", str(model_dir),
                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
                             "-w", str(workers)], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    benchlib.wait_http("http://127.0.0.1:%d/ping" % port, timeout=120, proc=proc, log=log)
    return proc, "http://127.0.0.1:%d/invocations" % port


def start_nginx(tmp):
    port = benchlib.free_port()
    conf = Path(tmp, "nginx.conf")
    conf.write_text("""
worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:%d;
    location / { return 200 "Healthy"; }
  }
}
""" % (os.cpu_count() or 1, tmp, port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    benchlib.wait_http("http://127.0.0.1:%d/" % port, proc=proc)
    return proc, "http://127.0.0.1:%d/" % port


def stop(proc):
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.duration = 2
    threads = min(2, os.cpu_count() or 1)
    import joblib
    import mlflow.sklearn
    from sklearn import datasets, svm

    from trainyard.core import Model
    from trainyard.core.webservice import AciWebservice
    print("P6 on", benchlib.machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp, benchlib.TrainyardServer() as srv:
        X, y = datasets.load_iris(return_X_y=True)
        clf = svm.SVC(kernel="linear", C=1.0).fit(X, y)
        joblib.dump(clf, Path(tmp, "model.joblib"))
        mlflow.sklearn.save_model(clf, str(Path(tmp, "mlflow-model")))
        ws = srv.workspace()
        model = Model.register(ws, model_path=str(Path(tmp, "model.joblib")),
                               model_name="iris-bench", model_framework=Model.Framework.SCIKITLEARN)
        t0 = time.time()
        service = Model.deploy(ws, "iris-bench", [model], deployment_config=AciWebservice
                               .deploy_configuration(workers=a.workers))
        service.wait_for_deployment()
        print("trainyard no-code service ready in %.1f s (environment build included)"
              % (time.time() - t0), flush=True)
        expected = clf.predict(IRIS_ROW).tolist()
        assert post(service.scoring_uri, {"data": IRIS_ROW}) == expected

        ty = wrk(service.scoring_uri, a.duration, a.connections, threads, {"data": IRIS_ROW})
        print("trainyard sklearn: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % ty, flush=True)

        mlflow_log = Path(tmp, "mlflow.log")
        proc, ml_url = start_mlflow(Path(tmp, "mlflow-model"), a.workers, mlflow_log)
        try:
            answer = post(ml_url, {"inputs": IRIS_ROW})
            assert answer["predictions"] == expected, answer
            ml = wrk(ml_url, a.duration, a.connections, threads, {"inputs": IRIS_ROW})
        finally:
            stop(proc)
        print("mlflow sklearn:    %.0f req/s, p50 %.2f ms, p99 %.2f ms" % ml, flush=True)
        thr_ratio, p99_ratio = ty[0] / ml[0], ty[2] / ml[2]
        benchlib.result_line(
            "P6a", "sklearn iris, 1-row requests, %d workers each, wrk -c%d: Trainyard %.0f req/s "
            "p50 %.2f ms p99 %.2f ms vs mlflow models serve %.0f req/s p50 %.2f ms p99 %.2f ms"
            % ((a.workers, a.connections) + ty + ml),
            "%.1fx throughput, p99 1/%.1f" % (thr_ratio, 1 / p99_ratio),
            ">= 5x and <= 1/5", thr_ratio >= 5 and p99_ratio <= 0.2)
        service.delete()

        # (b) native XGBoost vs trivial nginx.
        path = train_xgboost_model(Path(tmp, "model.json"))
        xmodel = Model.register(ws, model_path=path, model_name="xgb-bench",
                                model_framework=Model.Framework.XGBOOST)
        xsvc = Model.deploy(ws, "xgb-bench", [xmodel])
        xsvc.wait_for_deployment()
        row = sample_rows(1, 4, seed=3)
        assert len(post(xsvc.scoring_uri, {"data": row})) == 1
        xg = wrk(xsvc.scoring_uri, a.duration, a.connections, threads, {"data": row})
        print("trainyard xgboost: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % xg, flush=True)
        nproc, nurl = start_nginx(tmp)
        try:
            ng = wrk(nurl, a.duration, a.connections, threads)
        finally:
            stop(nproc)
        print("nginx return 200:  %.0f req/s, p50 %.2f ms, p99 %.2f ms" % ng, flush=True)
        ratio = xg[0] / ng[0]
        benchlib.result_line(
            "P6b", "native XGBoost 1-row requests %.0f req/s vs trivial nginx %.0f req/s "
            "(wrk -c%d)" % (xg[0], ng[0], a.connections),
            "%.2f" % ratio, ">= 0.5", ratio >= 0.5)


if __name__ == "__main__":
    main()
