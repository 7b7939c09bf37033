"""P11: a no-op run on the Slurm compute target, submit -> Completed (SDK submit() +
wait_for_completion()), divided by `sbatch --wait` of the same no-op script on the same cluster
in the same run. Goal: <= 1.3x. Also reported: `srun -N1` of the same no-op (Slurm's floor).

    python3 bench/p11_slurm_noop.py [--reps 10] [--quick]

The cluster is the tests' private one (tests/e2e/slurm_cluster.py: slurmctld + two slurmd
nodes on this host, MinJobAge=4). The run uses a user-managed interpreter (nothing to build), so
both sides run `python3 noop.py` in a one-node job. `sbatch --wait` polls the controller (its
poll interval grows: 2 s, 4 s, ...), so it is a weak yardstick; srun shows the floor.
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
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests" / "e2e"))
from slurm_cluster import SlurmCluster  # noqa: E402

PY = "/usr/bin/python3"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="2 repetitions (smoke test)")
    args = ap.parse_args()
    reps = 2 if args.quick else args.reps

    from trainyard.core import Environment, Experiment, ScriptRunConfig
    from trainyard.core.compute import AmlCompute, ComputeTarget

    with tempfile.TemporaryDirectory(prefix="p11-") as tmp:
        cluster = SlurmCluster(Path(tmp) / "slurm").start()
        try:
            sizes = Path(tmp) / "sizes.json"
            sizes.write_text(json.dumps({"*": {"partition": "main"}}))
            with benchlib.TrainyardServer("--slurm-conf", str(cluster.conf),
                                          "--slurm-vm-sizes", str(sizes)) as srv:
                src = Path(tmp) / "src"
                src.mkdir()
                (src / "noop.py").write_text("pass\n")
                ws = srv.workspace()
                target = ComputeTarget.create(ws, "bench-cluster",
                                              AmlCompute.provisioning_configuration(
                                                  vm_size="STANDARD_D2_V2", max_nodes=2))
                target.wait_for_completion(show_output=False)
                env = Environment("bench-p11")
                env.python.user_managed_dependencies = True
                env.python.interpreter_path = PY
                exp = Experiment(ws, "bench-p11")

                def submit_once():
                    cfg = ScriptRunConfig(str(src), "noop.py", compute_target=target,
                                          environment=env)
                    t0 = time.perf_counter()
                    run = exp.submit(cfg)
                    run.wait_for_completion(show_output=False)
                    dt = time.perf_counter() - t0
                    assert run.get_status() == "Completed", run.get_details()
                    return dt

                def sbatch_once():
                    t0 = time.perf_counter()
                    cluster.run("sbatch", "--wait", "-N1", "-o", "/dev/null", "--chdir", str(src),
                                "--wrap", "%s noop.py" % PY, timeout=120)
                    return time.perf_counter() - t0

                def srun_once():
                    t0 = time.perf_counter()
                    cluster.run("srun", "-N1", "--chdir", str(src), PY, "noop.py", timeout=120)
                    return time.perf_counter() - t0

                submit_once()  # warm-up
                sbatch_once()
                ours, sb, sr = [], [], []
                for _ in range(reps):  # interleaved, so load changes hit both sides
                    ours.append(submit_once())
                    sb.append(sbatch_once())
                    sr.append(srun_once())
        finally:
            cluster.stop()
    m_ours, m_sb, m_sr = (statistics.median(x) for x in (ours, sb, sr))
    print("trainyard submit->Completed: median %.3f s  (min %.3f, max %.3f)" % (
        m_ours, min(ours), max(ours)))
    print("sbatch --wait:               median %.3f s  (min %.3f, max %.3f)" % (
        m_sb, min(sb), max(sb)))
    print("srun -N1:                    median %.3f s  (min %.3f, max %.3f)" % (
        m_sr, min(sr), max(sr)))
    ratio = m_ours / m_sb
    benchlib.result_line(
        "P11", "Slurm no-op run submit->Completed %.3f s vs sbatch --wait %.3f s (srun -N1 %.3f s, "
        "trainyard/srun %.2fx)" % (m_ours, m_sb, m_sr, m_ours / m_sr),
        "%.2fx" % ratio, "<= 1.3x", ratio <= 1.3)

if __name__ == "__main__":
    main()
