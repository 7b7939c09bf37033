"""P17: compute to reach the target on a fixed tuning task.

Task: a one-hidden-layer MLP (numpy, minibatch SGD) on digits (70% train, shifted copies x5;
30% validation), logging validation accuracy ('Accuracy') after each of E epochs. Space:
learning rate 10^u (u ~ uniform(-5, 0)), L2 alpha 10^v (v ~ uniform(-6, -1)), batch size
choice(16, 32, 64, 128), hidden units choice(16, 64, 128). numpy rather than scikit-learn so
that the child's fixed start-up (interpreter, imports) is small next to its training, as in
the tuning jobs early termination is for; both sides pay the same start-up. The same script is the child of every
sweep and the subprocess of every Optuna trial, with the same interpreter.

1. HyperDrive random, no policy, N children (seed 1): best accuracy B, child-seconds S.
2. HyperDrive random + BanditPolicy(slack_factor=0.05, evaluation_interval=1, delay_evaluation=2),
   the same N configurations (same seed): goal best >= B - 0.5% and child-seconds <= 40% of S.
3. HyperDrive Bayesian, N/2 children: the child index at which it first reaches B
   (goal: within N/2 children).
4. Optuna TPESampler + MedianPruner (n_startup_trials=5, n_warmup_steps=3), trials run as
   subprocesses reporting each epoch, until its child-seconds reach those of (2): its best.
Child-seconds: a HyperDrive child's Running -> terminal span (start_time_utc..end_time_utc);
an Optuna trial's subprocess wall time.

    bench/.venv/bin/python bench/p17_hyperdrive_vs_optuna.py [--children 50] [--epochs 60]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import benchlib

SCRIPT = """
import argparse
import numpy as np
from azureml.core.run import Run

p = argparse.ArgumentParser()
p.add_argument('--log-lr', type=float)
p.add_argument('--log-alpha', type=float)
p.add_argument('--batch-size', type=int)
p.add_argument('--units', type=int)
p.add_argument('--epochs', type=int, default=%d)
a = p.parse_args()
run = Run.get_context()
offline = run.id.startswith('OfflineRun')
d = np.load('digits.npz')
X, y = d['X'] / 16.0, d['y']
rng = np.random.RandomState(0)
idx = rng.permutation(len(X))
cut = int(0.7 * len(X))
Xt, yt, Xv, yv = X[idx[:cut]], y[idx[:cut]], X[idx[cut:]], y[idx[cut:]]
# Training set x4: the images shifted by one pixel left/right/up/down.
imgs = Xt.reshape(-1, 8, 8)
shifted = [np.roll(imgs, s, axis=ax) for ax in (1, 2) for s in (-1, 1)]
Xt = np.concatenate([Xt] + [s.reshape(-1, 64) for s in shifted]).astype(np.float32)
yt = np.concatenate([yt] * 5)
Y = np.eye(10, dtype=np.float32)[yt]
lr, alpha, B, H = 10 ** a.log_lr, 10 ** a.log_alpha, a.batch_size, a.units
W1 = (rng.randn(64, H) * np.sqrt(2 / 64)).astype(np.float32)
b1 = np.zeros(H, np.float32)
W2 = (rng.randn(H, 10) * np.sqrt(1 / H)).astype(np.float32)
b2 = np.zeros(10, np.float32)
np.seterr(all='ignore')
for epoch in range(a.epochs):
    order = rng.permutation(len(Xt))
    for i in range(0, len(order), B):
        o = order[i:i + B]
        xb, yb = Xt[o], Y[o]
        h = np.maximum(0, xb @ W1 + b1)
        z = h @ W2 + b2
        z -= z.max(1, keepdims=True)
        pr = np.exp(z)
        pr /= pr.sum(1, keepdims=True)
        g = (pr - yb) / len(o)
        gh = g @ W2.T
        gh[h <= 0] = 0
        W2 -= lr * (h.T @ g + alpha * W2)
        b2 -= lr * g.sum(0)
        W1 -= lr * (xb.T @ gh + alpha * W1)
        b1 -= lr * gh.sum(0)
    acc = float((np.argmax(np.maximum(0, Xv @ W1 + b1) @ W2 + b2, 1) == yv).mean())
    if offline:
        print('EPOCH %%d %%r' %% (epoch, acc), flush=True)
    else:
        run.log('Accuracy', acc)
"""


def iso(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def space(hd):
    return {"--log-lr": hd.uniform(-5, 0), "--log-alpha": hd.uniform(-6, -1),
            "--batch-size": hd.choice(16, 32, 64, 128), "--units": hd.choice(16, 64, 128)}


def sweep(ws, cfg, name, sampling, n, concurrency, policy=None):
    import trainyard.train.hyperdrive as hd
    from trainyard.core import Experiment
    hdc = hd.HyperDriveConfig(run_config=cfg, hyperparameter_sampling=sampling, policy=policy,
                              primary_metric_name="Accuracy",
                              primary_metric_goal=hd.PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=n, max_concurrent_runs=concurrency)
    t0 = time.perf_counter()
    run = Experiment(ws, name).submit(hdc)
    run.wait_for_completion()
    wall = time.perf_counter() - t0
    metrics = run.get_metrics()
    kids = sorted(run.get_children(), key=lambda c: int(c.id.rsplit("_", 1)[1]))
    child_seconds = 0.0
    bests = []
    stopped = 0
    for k in kids:
        d = k._run_dto
        if d.get("start_time_utc") and d.get("end_time_utc"):
            child_seconds += iso(d["end_time_utc"]) - iso(d["start_time_utc"])
        acc = metrics.get(k.id, {}).get("Accuracy")
        vals = acc if isinstance(acc, list) else ([acc] if acc is not None else [])
        bests.append(max(vals) if vals else None)
        stopped += k.status == "Canceled"
    best = max(b for b in bests if b is not None)
    return {"best": best, "child_seconds": child_seconds, "wall": wall, "bests": bests,
            "stopped": stopped}


def optuna_side(python, src, budget_seconds, epochs, max_trials):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    used = [0.0]
    script = str(src / "train.py")
    import os
    env = dict(os.environ, PYTHONPATH=str(benchlib.PYTHON_DIR))
    for k in list(env):
        if k.startswith(("TRAINYARD_RUN", "AZUREML_")):
            del env[k]

    def objective(trial):
        args = [python, script, "--log-lr", repr(trial.suggest_float("log_lr", -5, 0)),
                "--log-alpha", repr(trial.suggest_float("log_alpha", -6, -1)),
                "--batch-size", str(trial.suggest_categorical("batch_size", [16, 32, 64, 128])),
                "--units", str(trial.suggest_categorical("units", [16, 64, 128])),
                "--epochs", str(epochs)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=str(src), env=env)
        best = 0.0
        try:
            for line in proc.stdout:
                if not line.startswith("EPOCH "):
                    continue
                _, step, acc = line.split()
                acc = float(acc)
                best = max(best, acc)
                trial.report(acc, int(step))
                if trial.should_prune():
                    proc.kill()
                    raise optuna.TrialPruned()
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            used[0] += time.perf_counter() - t0
        return best

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=1),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                   n_warmup_steps=3))
    trials = 0
    while used[0] < budget_seconds and trials < max_trials:
        study.optimize(objective, n_trials=1)
        trials += 1
    completed = [t.value for t in study.trials if t.value is not None]
    best_pruned = max((max(t.intermediate_values.values()) for t in study.trials
                       if t.intermediate_values), default=0.0)
    return {"best": max(completed + [best_pruned]), "child_seconds": used[0], "trials": trials}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--slack-factor", type=float, default=0.05)
    ap.add_argument("--delay-evaluation", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 8 if a.quick else a.children
    python = shutil.which("python3") or sys.executable
    import trainyard.train.hyperdrive as hd
    from trainyard.core import Environment, ScriptRunConfig
    with tempfile.TemporaryDirectory() as d, benchlib.TrainyardServer(
            "--max-concurrent-runs", str(a.concurrency)) as srv:
        src = Path(d)
        (src / "train.py").write_text(SCRIPT % a.epochs)
        subprocess.run([python, "-c", "from sklearn.datasets import load_digits; import numpy as np;"
                        " X, y = load_digits(return_X_y=True);"
                        " np.savez_compressed('digits.npz', X=X.astype(np.float32), y=y)"],
                       cwd=str(src), check=True)
        ws = srv.workspace()
        env = Environment("bench-p17")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = python
        cfg = ScriptRunConfig(source_directory=str(src), script="train.py", environment=env)
        base = sweep(ws, cfg, "p17-random", hd.RandomParameterSampling(
            space(hd), properties={"rng_seed": 1}), n, a.concurrency)
        bandit = sweep(ws, cfg, "p17-bandit", hd.RandomParameterSampling(
            space(hd), properties={"rng_seed": 1}), n, a.concurrency,
            policy=hd.BanditPolicy(slack_factor=a.slack_factor, evaluation_interval=1,
                                   delay_evaluation=a.delay_evaluation))
        bayes = sweep(ws, cfg, "p17-bayes", hd.BayesianParameterSampling(space(hd)),
                      max(2, n // 2), a.concurrency)
        opt = optuna_side(python, src, bandit["child_seconds"], a.epochs, 4 * n)
    reached = next((i + 1 for i, b in enumerate(bayes["bests"])
                    if b is not None and b >= base["best"]), None)
    print("machine: %s" % benchlib.machine())
    for name, r in (("random", base), ("bandit", bandit), ("bayesian", bayes)):
        print("%-9s best %.4f  child-seconds %7.1f  wall %6.1f s  stopped %d" % (
            name, r["best"], r["child_seconds"], r["wall"], r["stopped"]))
    print("optuna TPE+MedianPruner: best %.4f in %d trials, child-seconds %.1f" % (
        opt["best"], opt["trials"], opt["child_seconds"]))
    share = bandit["child_seconds"] / base["child_seconds"]
    gap = base["best"] - bandit["best"]
    benchlib.result_line(
        "P17-bandit", "best %.4f vs %.4f (gap %.4f) using %.0f%% of the child-seconds" % (
            bandit["best"], base["best"], gap, 100 * share),
        "%.2f" % share, "gap <= 0.005 and <= 0.40", gap <= 0.005 and share <= 0.40)
    benchlib.result_line(
        "P17-bayesian", "reached random's best-of-%d (%.4f) at child %s of %d (its best %.4f)" % (
            n, base["best"], reached, len(bayes["bests"]), bayes["best"]),
        str(reached), "<= %d" % (n // 2), reached is not None)
    print("P17-optuna (beside it): TPE+MedianPruner best %.4f at the Bandit sweep's "
          "child-seconds (%.0f s) vs HyperDrive Bandit %.4f" % (
              opt["best"], bandit["child_seconds"], bandit["best"]))


if __name__ == "__main__":
    main()
