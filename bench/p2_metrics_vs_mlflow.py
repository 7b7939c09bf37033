"""P2: 100,000 metric points logged with run.log inside a submitted Trainyard run, timed from the
script's first log call until all are visible via get_metrics, divided by the same 100,000
points through MLflow's fastest client path (MlflowClient.log_batch in chunks of 1000) against a
real `mlflow server` with a SQLite backend, timed until get_metric_history returns them all.
Both sides run in this one process, side by side. Goal: <= 1/30.

    bash bench/setup.sh                      # once: MLflow in bench/.venv
    bench/.venv/bin/python bench/p2_metrics_vs_mlflow.py [--points 100000] [--quick]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

SCRIPT = """
import sys, time
from azureml.core.run import Run
run = Run.get_context()
n = int(sys.argv[2])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(repr(time.time()))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
for i in range(n):
    run.log("m", float(i))
"""


def bench_trainyard(n):
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        Path(src, "logger.py").write_text(SCRIPT)
        t0_file = Path(tmp, "t0")
        env = Environment("bench-p2")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
        run = Experiment(srv.workspace(), "bench-p2").submit(ScriptRunConfig(
            source_directory=str(src), script="logger.py", arguments=[str(t0_file), str(n)],
            environment=env))
        count = 0
        deadline = time.time() + 1800
        while time.time() < deadline:
            if t0_file.exists():
                got = run.get_metrics(name="m").get("m")
                count = len(got) if isinstance(got, list) else (1 if got is not None else 0)
                if count >= n:
                    break
            time.sleep(0.1)
        t_end = time.time()
        t0 = float(t0_file.read_text())
        run.wait_for_completion(show_output=False)
        assert count == n, "only %d of %d points visible" % (count, n)
        return t_end - t0


def bench_mlflow(n, chunk=1000):
    import mlflow  # noqa: F401  (from bench/.venv)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    tmp = tempfile.TemporaryDirectory(prefix="mlflow-bench-")
    port = benchlib.free_port()
    url = "http://127.0.0.1:%d" % port
    log = Path(tmp.name, "mlflow.log")
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    with open(log, "wb") as lf:
        proc = subprocess.Popen(
            [mlflow_bin, "server", "--backend-store-uri", "sqlite:///%s/mlflow.db" % tmp.name,
             "--default-artifact-root", os.path.join(tmp.name, "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        benchlib.wait_http(url + "/health", timeout=120, proc=proc, log=log)
        client = MlflowClient(tracking_uri=url)
        exp_id = client.create_experiment("bench-p2")
        run_id = client.create_run(exp_id).info.run_id
        base_ms = int(time.time() * 1000)
        t0 = time.time()
        for start in range(0, n, chunk):
            client.log_batch(run_id, metrics=[Metric("m", float(i), base_ms + i, i)
                                              for i in range(start, min(n, start + chunk))])
        hist = client.get_metric_history(run_id, "m")
        t_end = time.time()
        assert len(hist) == n, "mlflow returned %d of %d points" % (len(hist), n)
        client.set_terminated(run_id)
        return t_end - t0
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        tmp.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100000)
    ap.add_argument("--quick", action="store_true", help="10,000 points (smoke test)")
    args = ap.parse_args()
    n = 10000 if args.quick else args.points
    try:
        import mlflow
    except ImportError:
        sys.exit("mlflow is not importable: run `bash bench/setup.sh` and use bench/.venv/bin/python")
    print("points: %d; mlflow %s" % (n, mlflow.__version__), flush=True)
    ty = bench_trainyard(n)
    print("trainyard: %.3f s (run.log in a submitted run -> visible via get_metrics)" % ty,
          flush=True)
    ml = bench_mlflow(n)
    print("mlflow:    %.3f s (log_batch x%d of 1000 -> get_metric_history)" % (ml, n // 1000),
          flush=True)
    ratio = ty / ml
    benchlib.result_line("P2", "%d points: trainyard %.2f s vs mlflow %.2f s" % (n, ty, ml),
                         "1/%.1f (%.4f)" % (1 / ratio if ratio else float("inf"), ratio),
                         "<= 1/30", ratio <= 1 / 30)


if __name__ == "__main__":
    main()
