"""P12: 200 queued no-op runs through the Slurm target: runs per minute, divided by 200 bare
`sbatch --exclusive` jobs of the same no-op on the same cluster. Goal: >= 0.8. And: a
`kill -9` of the server in the middle (restarted at once) loses no run and leaves none stuck.

    python3 bench/p12_slurm_queue.py [--runs 200] [--quick]

Cluster: the tests' private one (two slurmd nodes on this host). The AmlCompute target has
max_nodes=2 and its runs own their nodes (sbatch --exclusive, as AmlCompute runs one job per
node), so at most 2 run at once; the bare jobs are `sbatch --exclusive -N1` too, submitted all
at once, so Slurm also runs 2 at a time. Trainyard's side is timed from the first submit() to
the last run Completed; Slurm's from the first sbatch to an empty squeue.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests" / "e2e"))
from slurm_cluster import SlurmCluster  # noqa: E402

PY = "/usr/bin/python3"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20 runs (smoke test)")
    args = ap.parse_args()
    n = 20 if args.quick else args.runs

    from trainyard.core import Environment, Experiment, ScriptRunConfig
    from trainyard.core.compute import AmlCompute, ComputeTarget

    with tempfile.TemporaryDirectory(prefix="p12-") as tmp:
        cluster = SlurmCluster(Path(tmp) / "slurm").start()
        try:
            src = Path(tmp) / "src"
            src.mkdir()
            (src / "noop.py").write_text("pass\n")

            # --- bare Slurm
            t0 = time.perf_counter()
            for _ in range(n):
                cluster.run("sbatch", "--exclusive", "-N1", "-o", "/dev/null", "--chdir",
                            str(src), "--wrap", "%s noop.py" % PY)
            while cluster.run("squeue", "-h", "-o", "%i").stdout.strip():
                time.sleep(0.1)
            slurm_s = time.perf_counter() - t0

            # --- Trainyard, with a kill -9 of the server half way
            sizes = Path(tmp) / "sizes.json"
            sizes.write_text(json.dumps({"*": {"partition": "main"}}))
            with benchlib.TrainyardServer("--slurm-conf", str(cluster.conf),
                                          "--slurm-vm-sizes", str(sizes)) as srv:
                ws = srv.workspace()
                target = ComputeTarget.create(ws, "bench-cluster",
                                              AmlCompute.provisioning_configuration(
                                                  vm_size="STANDARD_D2_V2", max_nodes=2))
                target.wait_for_completion(show_output=False)
                env = Environment("bench-p12")
                env.python.user_managed_dependencies = True
                env.python.interpreter_path = PY
                exp = Experiment(ws, "bench-p12")
                t0 = time.perf_counter()
                runs = [exp.submit(ScriptRunConfig(str(src), "noop.py", compute_target=target,
                                                   environment=env)) for _ in range(n)]
                submitted_s = time.perf_counter() - t0
                # kill -9 once about half the runs are done, restart at once
                while sum(r.get_status() == "Completed" for r in runs[: n // 2]) < n // 2 - 2:
                    time.sleep(0.2)
                srv.proc.send_signal(signal.SIGKILL)
                srv.proc.wait()
                killed_at = time.perf_counter() - t0
                log = open(srv.log, "ab")
                srv.proc = subprocess.Popen(
                    [benchlib.trainyard_bin(), "server", "--data", str(srv.data_dir), "--host",
                     "127.0.0.1", "--port", str(srv.port)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
                benchlib.wait_http(srv.url + "/healthz", proc=srv.proc, log=srv.log)
                deadline = time.time() + 1800
                pending = list(runs)
                while pending and time.time() < deadline:
                    pending = [r for r in pending
                               if r.get_status() not in ("Completed", "Failed", "Canceled")]
                    time.sleep(0.5)
                ours_s = time.perf_counter() - t0
                statuses = {}
                for r in runs:
                    s = r.get_status()
                    statuses[s] = statuses.get(s, 0) + 1
        finally:
            cluster.stop()
    ours_rpm = n / ours_s * 60
    slurm_rpm = n / slurm_s * 60
    print("bare sbatch --exclusive: %d jobs in %.1f s = %.1f jobs/min" % (n, slurm_s, slurm_rpm))
    print("trainyard: %d runs in %.1f s = %.1f runs/min (submits took %.1f s; server killed "
          "with -9 at %.1f s and restarted)" % (n, ours_s, ours_rpm, submitted_s, killed_at))
    print("final states: %s" % statuses)
    ratio = ours_rpm / slurm_rpm
    lost = n - statuses.get("Completed", 0)
    benchlib.result_line(
        "P12", "%d Slurm runs %.1f runs/min vs bare sbatch %.1f jobs/min; after kill -9: "
        "%d of %d not Completed %s" % (n, ours_rpm, slurm_rpm, lost, n, statuses),
        "%.2f" % ratio, ">= 0.8 and none lost", ratio >= 0.8 and lost == 0)


if __name__ == "__main__":
    main()
