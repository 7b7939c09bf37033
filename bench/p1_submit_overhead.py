"""P1: submit() + wait_for_completion() of a no-op script on local compute with a cached
environment, inside one driver process, divided by subprocess.run([python, script]) of the same
script. Goal: <= 2.0x.

    python3 bench/p1_submit_overhead.py [--reps 20] [--quick]

The environment is a Trainyard-managed one with no packages (a venv cached by spec hash); one
warm-up run builds it before timing starts. The baseline runs the same no-op script with the
interpreter that environment uses, so both sides pay the same interpreter start-up.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 repetitions (smoke test)")
    args = ap.parse_args()
    reps = 3 if args.quick else args.reps

    from trainyard.core import Environment, Experiment, ScriptRunConfig

    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as src:
        Path(src, "noop.py").write_text("pass\n")
        ws = srv.workspace()
        env = Environment("bench-noop")          # managed venv, no packages: built once, cached
        exp = Experiment(ws, "bench-p1")

        def submit_once():
            cfg = ScriptRunConfig(source_directory=src, script="noop.py", environment=env)
            t0 = time.perf_counter()
            run = exp.submit(cfg)
            run.wait_for_completion(show_output=False)
            dt = time.perf_counter() - t0
            # untimed: the run really finished (wait_for_completion returns once the run has
            # left the running states, as in Azure ML)
            run.wait_for_completion(wait_post_processing=True)
            assert run.get_status() == "Completed", run.get_details()
            return dt, run

        warm, run = submit_once()                # builds the environment
        print("warm-up (environment build): %.3f s" % warm, flush=True)
        # The interpreter the run used, for the baseline (falls back to this one).
        interp = sys.executable
        venvs = sorted((srv.data_dir / "envs").glob("*/bin/python")) if (
            srv.data_dir / "envs").exists() else []
        if venvs:
            interp = str(venvs[0])

        submit_times = [submit_once()[0] for _ in range(reps)]
        base_times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run([interp, str(Path(src, "noop.py"))], check=True)
            base_times.append(time.perf_counter() - t0)

    ms, mb = benchlib.median(submit_times), benchlib.median(base_times)
    ratio = ms / mb
    print("submit+wait   median %.1f ms  (min %.1f, max %.1f, n=%d)"
          % (ms * 1e3, min(submit_times) * 1e3, max(submit_times) * 1e3, reps))
    print("subprocess.run median %.1f ms  (min %.1f, max %.1f, n=%d, %s)"
          % (mb * 1e3, min(base_times) * 1e3, max(base_times) * 1e3, reps, interp))
    benchlib.result_line("P1", "submit+wait %.1f ms vs subprocess.run %.1f ms" % (ms * 1e3, mb * 1e3),
                         "%.2fx" % ratio, "<= 2.0x", ratio <= 2.0)


if __name__ == "__main__":
    main()
