"""HyperDrive end to end: sweeps driven by the server, with real scripts on a real server.

Scripted metric curves make the policies' decisions exact: with max_concurrent_runs=1 and grid
sampling the children run in a known order, so each policy must stop exactly the children its
rule names (the expected sets are worked out in the test's comments).
"""
import json
import os
import subprocess
import sys
import time

import pytest

import e2e_util
from e2e_util import wait_for

TERMINAL = ("Completed", "Failed", "Canceled")

# Accuracy per interval for curve i (the script logs one value every STEP seconds).
CURVES = [
    [0.5, 0.6, 0.7, 0.8, 0.9, 0.9],     # c0: the best
    [0.5, 0.6, 0.7, 0.8, 0.85, 0.88],   # c1: close behind
    [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],     # c2: far behind from the start
    [0.5, 0.6, 0.5, 0.5, 0.5, 0.5],     # c3: stalls after interval 2
]
STEP = 0.4

CURVE_SCRIPT = """
import argparse, time
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--curve", type=int)
p.add_argument("--fail", type=int, default=0)
a = p.parse_args()
run = Run.get_context()
curves = %r
for v in curves[a.curve]:
    run.log("Accuracy", v)
    time.sleep(%r)
if a.fail:
    raise ValueError("boom")
""" % (CURVES, STEP)


def hd():
    import trainyard.train.hyperdrive as hd_module
    return hd_module


def src_config(tmp_path, plain_env, body, name="train.py", arguments=None):
    from trainyard.core import ScriptRunConfig
    src = tmp_path / "src"
    e2e_util.write_script(src, name, body)
    return ScriptRunConfig(source_directory=str(src), script=name, arguments=arguments,
                           environment=plain_env)


def children_by_index(run):
    kids = list(run.get_children())
    return {int(c.id.rsplit("_", 1)[1]): c for c in kids}


def iso_ms(s):
    from datetime import datetime, timezone
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp() * 1000.0


@pytest.mark.parametrize("policy_name, expected_stopped, stop_interval", [
    # Bandit(slack_factor=0.1): limit = best / 1.1 of the best value any run had by interval n.
    # c2 at n=1: 0.3 < 0.5/1.1; c3 at n=3: best 0.6 < 0.7/1.1 = 0.636. c1 stays within 0.1.
    ("bandit", {2: 1, 3: 3}, None),
    # Median: c2 at n=1 (0.3 < median 0.5); c3 at n=4 (best 0.6 < median of averages 0.65).
    ("median", {2: 1, 3: 4}, None),
    # Truncation 50%: c1 at n=5 (0.85 below c0's 0.9, 1 of 2 cut), c2 at n=1, c3 at n=3.
    ("truncation", {1: 5, 2: 1, 3: 3}, None),
])
def test_policy_stops_exactly_the_expected_children(ws, plain_env, tmp_path, policy_name,
                                                    expected_stopped, stop_interval):
    from trainyard.core import Experiment
    h = hd()
    policy = {"bandit": lambda: h.BanditPolicy(evaluation_interval=1, slack_factor=0.1),
              "median": lambda: h.MedianStoppingPolicy(evaluation_interval=1),
              "truncation": lambda: h.TruncationSelectionPolicy(truncation_percentage=50)
              }[policy_name]()
    src = src_config(tmp_path, plain_env, CURVE_SCRIPT)
    hdc = h.HyperDriveConfig(run_config=src,
                             hyperparameter_sampling=h.GridParameterSampling(
                                 {"--curve": h.choice(0, 1, 2, 3)}),
                             policy=policy, primary_metric_name="Accuracy",
                             primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE,
                             max_total_runs=10, max_concurrent_runs=1)
    run = Experiment(ws, "hd-policy-" + policy_name).submit(hdc)
    assert isinstance(run, h.HyperDriveRun)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    kids = children_by_index(run)
    assert sorted(kids) == [0, 1, 2, 3]  # the grid is exhausted without repeats
    for i, child in kids.items():
        child._refresh()
        assert json.loads(child.tags["hyperparameters"]) == {"--curve": i}
        assert child.get_details()["runDefinition"]["arguments"][-2:] == ["--curve", str(i)]
        if i in expected_stopped:
            assert child.status == "Canceled", (i, child.status, child.properties)
            reason = child.properties.get("early_termination_reason", "")
            assert "interval %d " % expected_stopped[i] in reason, reason
            # Canceled within 1 s of the value that decided it.
            points = ws._client.get("/api/v1/runs/%s/metrics/raw" % child.id,
                                    params={"name": "Accuracy"})["points"]
            decided = points[expected_stopped[i] - 1]["time"]
            end = iso_ms(child._run_dto["end_time_utc"])
            assert end - decided < 1000, (i, end - decided)
            assert len(points) < len(CURVES[i])
        else:
            assert child.status == "Completed", (i, child.status, child.properties)
            assert "early_termination_reason" not in child.properties


def test_random_sweep_limits_results_and_seed(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    h = hd()
    script = """
import argparse, time
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--units", type=int)
p.add_argument("--act")
a = p.parse_args()
time.sleep(0.3)
Run.get_context().log("loss", (a.lr - 0.01) ** 2 + a.units / 1000.0)
"""
    src = src_config(tmp_path, plain_env, script)
    space = {"--lr": h.loguniform(-6, -1), "--units": h.choice(10, 50, 200),
             "act": h.choice("relu", "tanh")}

    def submit(name):
        hdc = h.HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=h.RandomParameterSampling(space, properties={"rng_seed": 7}),
            primary_metric_name="loss", primary_metric_goal=h.PrimaryMetricGoal.MINIMIZE,
            max_total_runs=7, max_concurrent_runs=3)
        return Experiment(ws, name).submit(hdc)

    run = submit("hd-random")
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    kids = children_by_index(run)
    assert sorted(kids) == list(range(7))  # max_total_runs exactly
    # max_concurrent_runs: never more than 3 children between creation and end.
    spans = [(iso_ms(c._run_dto["created_utc"]), iso_ms(c._run_dto["end_time_utc"]))
             for c in kids.values()]
    for t, _ in spans:
        assert sum(1 for a, b in spans if a <= t < b) <= 3
    hps = run.get_hyperparameters()
    assert set(hps) == {c.id for c in kids.values()}
    for child in kids.values():
        params = json.loads(hps[child.id])
        assert list(params) == ["--lr", "--units", "act"]
        assert 1e-6 * 0.99 < params["--lr"] < 0.3679
        assert params["--units"] in (10, 50, 200) and params["act"] in ("relu", "tanh")
        args = child.get_details()["runDefinition"]["arguments"]
        assert args[0] == "--lr" and float(args[1]) == params["--lr"]
        assert args[4:] == ["--act", params["act"]]
    rows = run.get_children_sorted_by_primary_metric()
    values = [r["best_primary_metric"] for r in rows]
    assert values == sorted(values) and len(rows) == 7
    assert set(rows[0]) == {"run_id", "hyperparameters", "best_primary_metric", "status"}
    best = run.get_best_run_by_primary_metric()
    assert best.id == rows[0]["run_id"]
    assert run.get_metrics()[best.id]["loss"] == values[0]
    assert run.tags["best_child_run_id"] == best.id or \
        run._refresh()["tags"]["best_child_run_id"] == best.id
    # Same seed, same draws.
    again = submit("hd-random-again")
    again.wait_for_completion()
    assert sorted(again.get_hyperparameters().values()) == sorted(hps.values())


def test_failing_child_and_all_failing(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    h = hd()
    src = src_config(tmp_path, plain_env, CURVE_SCRIPT.replace("time.sleep(%r)" % STEP, ""))
    hdc = h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.GridParameterSampling(
        {"--curve": h.choice(0, 1), "--fail": h.choice(0, 1)}),
        primary_metric_name="Accuracy", primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4, max_concurrent_runs=2)
    run = Experiment(ws, "hd-fail").submit(hdc)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    status = {json.dumps(json.loads(c.tags["hyperparameters"]), sort_keys=True): c.status
              for c in run.get_children()}
    assert sorted(status.values()) == ["Completed", "Completed", "Failed", "Failed"]
    for k, v in status.items():
        assert (v == "Failed") == ('"--fail": 1' in k)
    # Every child failing fails the parent, with the children's error.
    hdc = h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.GridParameterSampling(
        {"--curve": h.choice(0, 1), "--fail": h.choice(1)}),
        primary_metric_name="Accuracy", primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4, max_concurrent_runs=2)
    run = Experiment(ws, "hd-fail-all").submit(hdc)
    from trainyard.exceptions import ActivityFailedException
    with pytest.raises(ActivityFailedException) as info:
        run.wait_for_completion()
    assert "all 2 child runs failed" in str(info.value) and "boom" in str(info.value)


def test_cancel_parent_cancels_children_and_starts_no_more(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    h = hd()
    src = src_config(tmp_path, plain_env, "import time\ntime.sleep(60)\n")
    hdc = h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.RandomParameterSampling(
        {"--x": h.uniform(0, 1)}), primary_metric_name="m",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=10,
        max_concurrent_runs=2)
    run = Experiment(ws, "hd-cancel").submit(hdc)
    wait_for(lambda: sum(c.status == "Running" for c in run.get_children()) == 2, 60,
             what="two running children")
    assert run.cancel() is True
    wait_for(lambda: all(c.status in TERMINAL for c in run.get_children()), 15,
             what="children canceled")
    time.sleep(1)
    kids = list(run.get_children())
    assert len(kids) == 2 and {c.status for c in kids} == {"Canceled"}
    assert run.get_status() == "Canceled"


def test_max_duration_cancels_running_children(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    h = hd()
    src = src_config(tmp_path, plain_env, "import time\ntime.sleep(60)\n")
    hdc = h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.RandomParameterSampling(
        {"--x": h.uniform(0, 1)}), primary_metric_name="m",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=10,
        max_concurrent_runs=2, max_duration_minutes=0.05)  # 3 s
    t0 = time.time()
    run = Experiment(ws, "hd-duration").submit(hdc)
    run.wait_for_completion()
    assert time.time() - t0 < 20
    assert run.get_status() == "Completed"
    kids = list(run.get_children())
    assert len(kids) == 2 and {c.status for c in kids} == {"Canceled"}


def test_invalid_space_fails_before_submit(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    from trainyard.exceptions import UserErrorException
    h = hd()
    with pytest.raises(h.HyperDriveConfigException, match="q must be > 0"):
        h.quniform(0, 10, 0)
    with pytest.raises(h.HyperDriveConfigException, match="q must be > 0"):
        h.RandomParameterSampling({"--b": ["quniform", [0, 10, -1]]})
    with pytest.raises(h.HyperDriveConfigException, match="only choice"):
        h.GridParameterSampling({"--b": h.uniform(0, 1)})
    src = src_config(tmp_path, plain_env, "print(1)\n")
    with pytest.raises(h.HyperDriveConfigException, match="does not support early termination"):
        h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.BayesianParameterSampling(
            {"--b": h.uniform(0, 1)}), policy=h.BanditPolicy(slack_factor=0.1),
            primary_metric_name="m", primary_metric_goal="MAXIMIZE", max_total_runs=5)
    with pytest.raises(h.HyperDriveConfigException, match="max_total_runs"):
        h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.RandomParameterSampling(
            {"--b": h.uniform(0, 1)}), primary_metric_name="m",
            primary_metric_goal="MAXIMIZE", max_total_runs=0)
    # The server refuses the same space on its own, before creating anything.
    exp = Experiment(ws, "hd-invalid")
    body = {"hyperdrive": {"sampling": {"name": "RANDOM", "parameter_space": [
        {"name": "--b", "expression": ["quniform", [0, 10, 0]]}]},
        "primary_metric_name": "m", "primary_metric_goal": "maximize", "max_total_runs": 3},
        "config": {"source_directory": str(tmp_path / "src"), "script": "train.py"}}
    with pytest.raises(UserErrorException, match="quniform's q must be > 0"):
        ws._client.post("/api/v1/experiments/hd-invalid/hyperdrive", body)
    body["hyperdrive"]["sampling"]["parameter_space"][0]["expression"] = ["uniform", [0, 1]]
    body["config"]["script"] = "missing.py"
    with pytest.raises(UserErrorException, match="missing.py"):
        ws._client.post("/api/v1/experiments/hd-invalid/hyperdrive", body)
    assert list(exp.get_runs()) == []


def test_sweep_survives_driver_exit_and_server_kill9(make_server, plain_env, tmp_path):
    srv = make_server()
    src = tmp_path / "src"
    e2e_util.write_script(src, "train.py", """
        import argparse, time
        from azureml.core.run import Run
        p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
        time.sleep(1.5)
        Run.get_context().log("score", a.x)
    """)
    driver = tmp_path / "driver.py"
    driver.write_text("""
import sys
from trainyard.core import Workspace, Experiment, ScriptRunConfig, Environment
from trainyard.train.hyperdrive import *
env = Environment("plain"); env.python.user_managed_dependencies = True
env.python.interpreter_path = sys.executable
src = ScriptRunConfig(source_directory=%r, script="train.py", environment=env)
hdc = HyperDriveConfig(run_config=src, hyperparameter_sampling=RandomParameterSampling(
    {"--x": uniform(0, 1)}), primary_metric_name="score",
    primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=6, max_concurrent_runs=2)
run = Experiment(Workspace.from_config(), "hd-resume").submit(hdc)
print(run.id)
""" % str(src))
    out = subprocess.run([sys.executable, str(driver)], env=srv.env(), check=True,
                         capture_output=True, text=True, timeout=60)
    parent_id = out.stdout.strip().splitlines()[-1]  # the driver has exited
    ws = srv.workspace()
    from trainyard.core.run import Run
    run = Run.get(ws, parent_id)
    wait_for(lambda: len(list(run.get_children())) >= 2, 60, what="children")
    srv.kill()  # kill -9: running agents live on
    time.sleep(2)
    srv.start()
    ws = srv.workspace()
    run = Run.get(ws, parent_id)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    kids = list(run.get_children())
    assert len(kids) == 6 and all(c.status == "Completed" for c in kids), \
        [(c.id, c.status, c._run_dto.get("error")) for c in kids]
    assert sorted(int(c.id.rsplit("_", 1)[1]) for c in kids) == list(range(6))


def test_show_output_prints_live_table(ws, plain_env, tmp_path, capsys):
    from trainyard.core import Experiment
    h = hd()
    src = src_config(tmp_path, plain_env, CURVE_SCRIPT.replace("time.sleep(%r)" % STEP, ""))
    hdc = h.HyperDriveConfig(run_config=src, hyperparameter_sampling=h.GridParameterSampling(
        {"--curve": h.choice(0, 2)}), primary_metric_name="Accuracy",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=2)
    run = Experiment(ws, "hd-show").submit(hdc)
    run.wait_for_completion(show_output=True)
    text = capsys.readouterr().out
    assert "CHILD RUN" in text and "HYPERPARAMETERS" in text
    assert run.id + "_0" in text and "Completed" in text and "0.9" in text
    assert "Submitted " + run.id + "_1" in text  # the sweep's log
    assert "Best child run: " + run.id + "_0" in text


NOTEBOOK_SVM_SCRIPT = """
import argparse, os
import joblib
import numpy as np
from sklearn import datasets
from sklearn.svm import SVC
from sklearn.model_selection import train_test_split
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument('--kernel', type=str, default='linear')
parser.add_argument('--penalty', type=float, default=1.0)
args = parser.parse_args()
run = Run.get_context()
run.log('Kernel type', str(args.kernel))
run.log('Penalty', float(args.penalty))
X, y = datasets.load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
svm_model = SVC(kernel=args.kernel, C=args.penalty, gamma='scale').fit(X_train, y_train)
accuracy = svm_model.score(X_test, y_test)
print('Accuracy of SVM classifier on test set: {:.2f}'.format(accuracy))
run.log('Accuracy', float(accuracy))
os.makedirs('outputs', exist_ok=True)
joblib.dump(svm_model, 'outputs/model.joblib')
"""

NOTEBOOK_SGD_SCRIPT = """
import argparse
import numpy as np
from sklearn import datasets
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument('--batch-size', type=int, dest='batch_size', default=50)
parser.add_argument('--learning-rate', type=float, dest='learning_rate', default=0.01)
args = parser.parse_args()
run = Run.get_context()
X, y = datasets.load_digits(return_X_y=True)
X = X / 16.0
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)
clf = SGDClassifier(learning_rate='constant', eta0=args.learning_rate, random_state=0)
rng = np.random.RandomState(0)
for epoch in range(6):
    order = rng.permutation(len(X_train))
    for i in range(0, len(order), args.batch_size):
        idx = order[i:i + args.batch_size]
        clf.partial_fit(X_train[idx], y_train[idx], classes=np.arange(10))
    run.log('Accuracy', float(clf.score(X_val, y_val)))
"""


def test_notebook_tuning_code_runs_with_trainyard_imports(ws, plain_env, tmp_path):
    """The scikit-learn and Keras notebooks' HyperDrive cells, azureml -> trainyard (the Keras
    model is an SGD classifier on digits logging Accuracy per epoch, to stay fast)."""
    from trainyard.core import Experiment, ScriptRunConfig
    from trainyard.train.hyperdrive.runconfig import HyperDriveConfig
    from trainyard.train.hyperdrive.sampling import RandomParameterSampling
    from trainyard.train.hyperdrive.run import PrimaryMetricGoal
    from trainyard.train.hyperdrive.parameter_expressions import choice
    from trainyard.train.estimator import Estimator

    # --- the scikit-learn notebook (train-hyperparameter-tune-deploy-with-sklearn) ---
    e2e_util.write_script(tmp_path / "sk", "train_iris.py", NOTEBOOK_SVM_SCRIPT)
    src = ScriptRunConfig(source_directory=str(tmp_path / "sk"), script='train_iris.py',
                          arguments=['--kernel', 'linear', '--penalty', 1.0],
                          environment=plain_env)
    param_sampling = RandomParameterSampling({
        "--kernel": choice('linear', 'rbf', 'poly', 'sigmoid'),
        "--penalty": choice(0.5, 1, 1.5)
    })
    hyperdrive_config = HyperDriveConfig(run_config=src,
                                         hyperparameter_sampling=param_sampling,
                                         primary_metric_name='Accuracy',
                                         primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                                         max_total_runs=6,
                                         max_concurrent_runs=3)
    experiment = Experiment(ws, 'train-hyperdrive-sklearn')
    hyperdrive_run = experiment.submit(hyperdrive_config)
    hyperdrive_run.wait_for_completion(show_output=True)
    assert hyperdrive_run.get_status() == "Completed"
    best_run = hyperdrive_run.get_best_run_by_primary_metric()
    print(best_run.get_details()['runDefinition']['arguments'])
    best_args = best_run.get_details()['runDefinition']['arguments']
    assert best_args[:4] == ['--kernel', 'linear', '--penalty', '1.0']  # the config's own
    assert best_args[4] == '--kernel' and best_args[6] == '--penalty'
    assert best_run.get_metrics()['Accuracy'] > 0.9
    model = best_run.register_model(model_name='sklearn-digits-hd',
                                    model_path='outputs/model.joblib')
    assert model.version >= 1 and model.run_id == best_run.id

    # --- the Keras notebook's tuning cell (estimator, loguniform, BanditPolicy) ---
    from trainyard.train.hyperdrive import (BanditPolicy, HyperDriveConfig as HDC,
                                            PrimaryMetricGoal as Goal,
                                            RandomParameterSampling as Random, loguniform)
    from trainyard.train.hyperdrive import choice as hd_choice
    e2e_util.write_script(tmp_path / "keras", "keras_mnist.py", NOTEBOOK_SGD_SCRIPT)
    est = Estimator(source_directory=str(tmp_path / "keras"), entry_script='keras_mnist.py',
                    environment_definition=plain_env)
    ps = Random({'--batch-size': hd_choice(25, 50, 100),
                 '--learning-rate': loguniform(-6, -1)})
    policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1)
    hdc = HDC(estimator=est, hyperparameter_sampling=ps, policy=policy,
              primary_metric_name='Accuracy', primary_metric_goal=Goal.MAXIMIZE,
              max_total_runs=6, max_concurrent_runs=3)
    run = Experiment(ws, 'keras-mnist').submit(hdc)
    run.wait_for_completion(show_output=True)
    assert run.get_status() == "Completed"
    children = run.get_children_sorted_by_primary_metric(top=6)
    assert len(children) == 6 and children[0]["best_primary_metric"] > 0.8
    metrics = run.get_metrics()
    assert len(metrics) == 6
    for child_id, m in metrics.items():
        acc = m["Accuracy"]
        n = len(acc) if isinstance(acc, list) else 1
        status = [c["status"] for c in children if c["run_id"] == child_id][0]
        assert n == 6 or status == "Canceled"


def test_resume_from_warm_starts_and_is_searched(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    h = hd()
    script = """
import argparse
from azureml.core.run import Run
p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
Run.get_context().log("score", -(a.x - 0.9) ** 2)
"""
    src = src_config(tmp_path, plain_env, script)
    first = Experiment(ws, "hd-warm").submit(h.HyperDriveConfig(
        run_config=src, hyperparameter_sampling=h.GridParameterSampling(
            {"--x": h.choice(0.1, 0.3, 0.5, 0.7, 0.9, 1.0)}), primary_metric_name="score",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=6))
    first.wait_for_completion()
    second = Experiment(ws, "hd-warm").submit(h.HyperDriveConfig(
        run_config=src, hyperparameter_sampling=h.BayesianParameterSampling(
            {"--x": h.uniform(0, 1)}), primary_metric_name="score",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=1,
        resume_from=first))
    second.wait_for_completion()
    assert json.loads(second.properties["resume_from"]) == [first.id]
    # Six earlier results are past the random phase: the one child is the GP's pick near 0.9.
    (child,) = list(second.get_children())
    assert abs(json.loads(child.tags["hyperparameters"])["--x"] - 0.9) < 0.2
    best_all = second.get_best_run_by_primary_metric(include_resume_from_runs=True)
    best_own = second.get_best_run_by_primary_metric()
    assert best_own.id == child.id
    assert best_all.id in (child.id, first.id + "_4")
    with pytest.raises(Exception, match="not a HyperDrive run"):
        Experiment(ws, "hd-warm").submit(h.HyperDriveConfig(
            run_config=src, hyperparameter_sampling=h.RandomParameterSampling(
                {"--x": h.uniform(0, 1)}), primary_metric_name="score",
            primary_metric_goal="MAXIMIZE", max_total_runs=1, resume_from=["nope_1"]))


CHECKPOINT_SCRIPT = """
import argparse, os
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--resume-from", default=None)
a = p.parse_args()
run = Run.get_context()
start = 0
if a.resume_from:
    # Azure's contract: the folder is also AZUREML_DATAREFERENCE_MODEL_LOCATION.
    assert os.path.realpath(os.environ["AZUREML_DATAREFERENCE_MODEL_LOCATION"]) == \\
        os.path.realpath(a.resume_from), (os.environ, a.resume_from)
    with open(os.path.join(a.resume_from, "ckpt", "epoch.txt")) as f:
        start = int(f.read())
os.makedirs("outputs/ckpt", exist_ok=True)
for epoch in range(start, start + 2):
    with open("outputs/ckpt/epoch.txt", "w") as f:
        f.write(str(epoch + 1))
run.log("started_at", start)
run.log("acc", a.lr)
"""


def test_resume_child_runs_restarts_children_from_their_checkpoints(ws, plain_env, tmp_path):
    """resume_child_runs: the given children of an earlier sweep run again first, with their
    hyperparameters, each script getting the earlier child's outputs/ as --resume-from; the
    sampler fills the rest of max_total_runs."""
    from trainyard.core import Experiment
    h = hd()
    src = src_config(tmp_path, plain_env, CHECKPOINT_SCRIPT)
    exp = Experiment(ws, "hd-resume-children")
    first = exp.submit(h.HyperDriveConfig(
        run_config=src, hyperparameter_sampling=h.GridParameterSampling(
            {"--lr": h.choice(0.1, 0.2)}), primary_metric_name="acc",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=2))
    first.wait_for_completion()
    earlier = children_by_index(first)
    assert {c.get_status() for c in earlier.values()} == {"Completed"}
    assert "outputs/ckpt/epoch.txt" in earlier[1].get_file_names()

    second = exp.submit(h.HyperDriveConfig(
        run_config=src, hyperparameter_sampling=h.GridParameterSampling(
            {"--lr": h.choice(0.3, 0.4)}), primary_metric_name="acc",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=2,
        resume_child_runs=[earlier[1]]))
    second.wait_for_completion()
    assert second.get_status() == "Completed"
    kids = children_by_index(second)
    assert sorted(kids) == [0, 1]
    resumed, fresh = kids[0], kids[1]
    assert resumed.properties["resumed_from_run"] == earlier[1].id
    assert json.loads(resumed.properties["hyperparameters"]) == {"--lr": 0.2}
    assert resumed.get_metrics()["started_at"] == 2     # read the earlier child's checkpoint
    assert "resumed_from_run" not in fresh.properties
    assert fresh.get_metrics()["started_at"] == 0
    assert json.loads(fresh.properties["hyperparameters"])["--lr"] in (0.3, 0.4)
    out = tmp_path / "resumed"
    resumed.download_file("outputs/ckpt/epoch.txt", str(out))
    assert out.read_text() == "4"

    # Refused before anything is created: a parent is not a child, the space must have the
    # same names, more resumed children than max_total_runs.
    for kwargs, message in [
            (dict(resume_child_runs=[first.id]), "not a child run of a HyperDrive run"),
            (dict(resume_child_runs=["no-such-run_0"]), "not a child run of a HyperDrive run"),
            (dict(resume_child_runs=[earlier[0]], hyperparameter_sampling=h.GridParameterSampling(
                {"--x": h.choice(1, 2)})), "same names"),
            (dict(resume_child_runs=[earlier[0], earlier[1]], max_total_runs=1),
             "max_total_runs")]:
        cfg = dict(run_config=src, hyperparameter_sampling=h.GridParameterSampling(
            {"--lr": h.choice(0.3)}), primary_metric_name="acc",
            primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=2)
        cfg.update(kwargs)
        before = len(list(exp.get_runs()))
        with pytest.raises(Exception, match=message):
            exp.submit(h.HyperDriveConfig(**cfg))
        assert len(list(exp.get_runs())) == before


def test_script_run_resume_from_datapath(ws, plain_env, tmp_path):
    """ScriptRunConfig(resume_from=DataPath): the datastore folder is downloaded for the run
    and named by --resume-from and AZUREML_DATAREFERENCE_MODEL_LOCATION."""
    from trainyard.core import Datastore, Experiment, ScriptRunConfig
    ckpt = tmp_path / "ckpt-upload" / "ckpt"
    ckpt.mkdir(parents=True)
    (ckpt / "epoch.txt").write_text("7")
    store = Datastore.get_default(ws)
    store.upload(str(tmp_path / "ckpt-upload"), target_path="resume-test", overwrite=True,
                 show_progress=False)
    src = tmp_path / "src-resume"
    e2e_util.write_script(src, "train.py", CHECKPOINT_SCRIPT)
    cfg = ScriptRunConfig(str(src), "train.py", arguments=["--lr", "0.5"],
                          environment=plain_env, resume_from=store.path("resume-test"))
    run = Experiment(ws, "resume-datapath").submit(cfg)
    run.wait_for_completion()
    assert run.get_status() == "Completed", run.get_details().get("error")
    assert run.get_metrics()["started_at"] == 7
    with pytest.raises(Exception, match="DataPath"):
        ScriptRunConfig(str(src), "train.py", environment=plain_env, resume_from="/tmp/x")
    bad = ScriptRunConfig(str(src), "train.py", environment=plain_env,
                          resume_from=store.path("no-such-folder"))
    with pytest.raises(Exception, match="matches no files"):
        Experiment(ws, "resume-datapath").submit(bad)
