"""P16: per-child overhead of a HyperDrive sweep of no-op children, against Optuna's
study.optimize running the same no-op script as a subprocess per trial.

Trainyard: `Experiment.submit(HyperDriveConfig(...))` of N children of `noop.py --x <value>`
(random sampling, max_concurrent_runs=C, a user-managed interpreter: nothing to build), timed
from submit until the parent run is Completed; the server samples, submits, schedules and
finishes every child. Optuna: `study.optimize(objective, n_trials=N, n_jobs=C)` whose
objective runs `subprocess.run([python, noop.py, --x, value])`, the same interpreter.
Per-child overhead = wall time / N on each side; ratio = Trainyard / Optuna.

    bench/.venv/bin/python bench/p16_hyperdrive_overhead.py [--children 100] [--concurrency 2]
"""
import argparse
import shutil
import subprocess
import sys
import time

import benchlib

NOOP = "import argparse\np = argparse.ArgumentParser(); p.add_argument('--x', type=float)\n" \
       "p.parse_args()\n"


def trainyard_side(n, concurrency, python, src):
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    from trainyard.train.hyperdrive import (HyperDriveConfig, PrimaryMetricGoal,
                                            RandomParameterSampling, uniform)
    with benchlib.TrainyardServer("--max-concurrent-runs", str(concurrency)) as srv:
        ws = srv.workspace()
        env = Environment("bench-noop-user")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = python
        cfg = ScriptRunConfig(source_directory=str(src), script="noop.py", environment=env)
        # Warm-up: one plain run (agent binary and interpreter in the page cache).
        Experiment(ws, "p16-warmup").submit(cfg).wait_for_completion()
        hdc = HyperDriveConfig(run_config=cfg, hyperparameter_sampling=RandomParameterSampling(
            {"--x": uniform(0, 1)}, properties={"rng_seed": 1}), primary_metric_name="m",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=n,
            max_concurrent_runs=concurrency)
        t0 = time.perf_counter()
        run = Experiment(ws, "p16").submit(hdc)
        run.wait_for_completion()
        wall = time.perf_counter() - t0
        kids = list(run.get_children())
        assert run.get_status() == "Completed", run.get_details()
        assert len(kids) == n and all(k.status == "Completed" for k in kids)
        return wall


def optuna_side(n, concurrency, python, src):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    script = str(src / "noop.py")

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        subprocess.run([python, script, "--x", repr(x)], check=True, cwd=str(src))
        return x

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: objective(t), n_trials=1)  # warm-up
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, n_jobs=concurrency)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 10 if a.quick else a.children
    python = shutil.which("python3") or sys.executable
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        src = Path(d)
        (src / "noop.py").write_text(NOOP)
        opt = optuna_side(n, a.concurrency, python, src)
        ty = trainyard_side(n, a.concurrency, python, src)
        opt2 = optuna_side(n, a.concurrency, python, src)
    opt = min(opt, opt2)
    ratio = ty / opt
    print("machine: %s" % benchlib.machine())
    print("children %d, concurrency %d: HyperDrive %.3f s (%.1f ms/child), Optuna %.3f s "
          "(%.1f ms/child; best of two runs around it)" % (
              n, a.concurrency, ty, 1000 * ty / n, opt, 1000 * opt / n))
    benchlib.result_line("P16", "per-child %.1f ms vs %.1f ms" % (1000 * ty / n, 1000 * opt / n),
                         "%.2fx" % ratio, "<= 1.2x", ratio <= 1.2)


if __name__ == "__main__":
    main()
