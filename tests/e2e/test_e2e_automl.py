"""AutoML end to end (issue 3): AutoMLConfig -> a run of kind automl executed by the agent's
driver -> child runs per iteration, ensembles, the best model, explanations; budgets, cancel,
bad input. A real server, real processes, the native engine through its binding."""
import contextlib
import io
import json
import math
import os
import time

import pytest

import e2e_util

np = pytest.importorskip("numpy")
datasets = pytest.importorskip("sklearn.datasets")

TERMINAL = ("Completed", "Failed", "Canceled")


def _digits_project(tmp_path):
    e2e_util.write_script(tmp_path, "get_data.py", """
        from sklearn import datasets

        def get_data():
            digits = datasets.load_digits()
            return {"X": digits.data[10:, :], "y": digits.target[10:]}
        """)
    return tmp_path


@pytest.fixture(scope="module")
def digits_run(server, tmp_path_factory):
    """One small seed-shaped AutoML run (6 iterations, 3 folds), shared by the read-only tests."""
    from trainyard.core import Experiment, Workspace
    from trainyard.train.automl import AutoMLConfig
    ws = Workspace.from_config()
    project = _digits_project(tmp_path_factory.mktemp("automl-digits"))
    X_test = datasets.load_digits().data[:10, :]
    cfg = AutoMLConfig(task="classification", debug_log="automl_errors.log", path=str(project),
                       compute_target="local", data_script=str(project / "get_data.py"),
                       iteration_timeout_minutes=5, iterations=6, n_cross_validations=3,
                       primary_metric="AUC_weighted", preprocess=False,
                       max_concurrent_iterations=2, model_explainability=True, X_valid=X_test)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run = Experiment(ws, "e2e-automl").submit(cfg, show_output=True)
    return run, out.getvalue()


def test_live_table_has_the_seed_shape(digits_run):
    run, text = digits_run
    assert run.get_status() == "Completed", run.get_details().get("error")
    assert type(run).__name__ == "AutoMLRun" and run.type == "automl"
    lines = text.splitlines()
    assert "Parent Run ID: " + run.id in text
    for legend in ("ITERATION: The iteration being evaluated.",
                   "PIPELINE:  A summary description of the pipeline being evaluated.",
                   "DURATION: Time taken for the current iteration.",
                   "METRIC: The result of computing score on the fitted pipeline.",
                   "BEST: The best observed score thus far."):
        assert legend in lines
    header = " ITERATION     PIPELINE                               DURATION                METRIC" \
             "      BEST"
    assert header in lines
    rows = lines[lines.index(header) + 1:]
    rows = [r for r in rows if r.strip() and r[:10].strip().isdigit()]
    assert sorted(int(r[:10]) for r in rows) == list(range(6))
    best = None
    for r in rows:
        # the seed's columns: iteration right-aligned in 10, pipeline from column 16,
        # duration h:mm:ss at column 54, metric and best with 3 decimals
        assert r[10:16] == " " * 6 and r[54:61].count(":") == 2, r
        metric, running_best = float(r[61:84]), float(r[84:])
        best = metric if best is None else max(best, metric)
        assert running_best == pytest.approx(best, abs=1e-3)
    assert any("VotingEnsemble" in r for r in rows) and any("StackEnsemble" in r for r in rows)


def test_children_have_iterations_metrics_and_models(digits_run):
    run, _ = digits_run
    children = list(run.get_children())
    assert len(children) == 6
    its = sorted(int(c.properties["iteration"]) for c in children)
    assert its == list(range(6))
    for c in children:
        assert c.get_status() == "Completed"
        assert c.properties["primary_metric"] == "AUC_weighted"
        spec = json.loads(c.properties["pipeline_spec"])
        assert spec.get("learner") or spec.get("ensemble")
        assert "outputs/model.tyam" in c.get_file_names()
    # metrics arrive through the agent's spool; all of them are logged for every iteration
    child = children[0]
    metrics = e2e_util.wait_for(lambda: (lambda m: m if "accuracy" in m else None)(
        child.get_metrics()), timeout=60, what="child metrics")
    for name in ("accuracy", "AUC_weighted", "norm_macro_recall",
                 "average_precision_score_weighted", "precision_score_weighted"):
        assert name in metrics
    assert float(child.properties["score"]) == pytest.approx(metrics["AUC_weighted"], abs=1e-9)
    props = run.get_properties()
    assert props["best_run_id"] in [c.id for c in children]
    assert "outputs/model.tyam" in run.get_file_names()


def test_voting_ensemble_is_scored_as_the_mean_over_folds(digits_run):
    # The VotingEnsemble child's score is measured as a single pipeline's: the mean over the 3
    # folds of each fold's AUC_weighted of the weighted blend of its members' out-of-fold
    # predictions (recomputed here from the members' specs on the same folds).
    import numpy as np
    import trainyard._automl as automl
    run, _ = digits_run
    children = {c.properties["iteration"]: c for c in run.get_children()}
    vote = next(c for c in children.values() if c.properties["pipeline"] == "VotingEnsemble")
    spec = json.loads(vote.properties["pipeline_spec"])
    digits = datasets.load_digits()
    X, y = digits.data[10:, :], digits.target[10:]
    blend = 0.0
    for it, w in zip(spec["members"], spec["weights"]):
        m = json.loads(children[str(it)].properties["pipeline_spec"])
        ev = automl.evaluate(X, y, "classification", m["learner"], params=m["params"],
                             scaler=m["scaler"], featurization=m["featurization"], folds=3,
                             seed=0)
        p = np.empty_like(ev["predictions"])
        p[np.asarray(ev["rows"])] = ev["predictions"]
        blend = blend + w * p
    per = [automl.classification_scores(y[va].tolist(), blend[va].tolist())["AUC_weighted"]
           for _, va in automl.engine.splits(y.tolist(), "classification", 3, 0, 0)]
    assert float(vote.properties["score"]) == pytest.approx(float(np.mean(per)), abs=1e-9)


def test_get_output_predicts(digits_run):
    run, _ = digits_run
    best_run, model = run.get_output()
    assert best_run.id == run.get_properties()["best_run_id"]
    scores = [float(c.properties["score"]) for c in run.get_children()]
    assert float(best_run.properties["score"]) == pytest.approx(max(scores))
    d = datasets.load_digits()
    pred = model.predict(d.data)
    assert pred.shape == (len(d.target),)
    assert (pred == d.target).mean() > 0.9
    proba = model.predict_proba(d.data[:50])
    assert proba.shape == (50, 10)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    it0, m0 = run.get_output(iteration=0)
    assert it0.properties["iteration"] == "0" and m0.predict(d.data[:5]).shape == (5,)
    by_acc, _ = run.get_output(metric="accuracy")
    assert by_acc.properties["iteration"].isdigit()
    with pytest.raises(Exception, match="no iteration 99"):
        run.get_output(iteration=99)


def test_register_model_and_cli_predict(digits_run, tmp_path, trainyard_binary):
    run, _ = digits_run
    model = run.register_model(model_name="automl-digits", description="best", tags={"a": "b"})
    assert model.name == "automl-digits" and model.version >= 1
    assert model.properties["iteration"] == run.get_properties()["best_iteration"]
    d = datasets.load_digits()
    csv = tmp_path / "x.csv"
    with open(csv, "w") as f:
        f.write(",".join("feature_%d" % j for j in range(64)) + "\n")
        for row in d.data[:20]:
            f.write(",".join(str(v) for v in row) + "\n")
    import subprocess
    env = dict(os.environ, PYTHONPATH=str(e2e_util.PYTHON_DIR))
    out = subprocess.run([trainyard_binary, "automl", "predict", "automl-digits", str(csv)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    preds = out.stdout.split()
    assert preds[0] == "prediction" and len(preds) == 21
    assert np.mean([int(p) == t for p, t in zip(preds[1:], d.target[:20])]) > 0.9


def test_explanation_shapes_and_additivity(digits_run, tmp_path):
    from trainyard.train.automl.automlexplainer import retrieve_model_explanation
    run, _ = digits_run
    best_run, model = run.get_output()
    shap_values, expected_values, overall_summary, overall_imp, per_class_summary, \
        per_class_imp = retrieve_model_explanation(best_run)
    assert shap_values.shape == (10, 10, 64)  # classes x the 10 X_valid rows x features
    assert len(expected_values) == 10
    assert len(overall_summary) == 64 and len(overall_imp) == 64
    assert list(overall_summary) == sorted(overall_summary, reverse=True)
    assert len(per_class_summary) == 10 and len(per_class_imp[0]) == 64
    best_run.download_file("outputs/explanation.json", str(tmp_path / "e.json"))
    e = json.loads((tmp_path / "e.json").read_text())
    out = np.asarray(e["model_output"])  # outputs x rows
    total = shap_values.sum(axis=2) + np.asarray(expected_values)[:, None]
    assert np.allclose(total, out, atol=1e-6)
    if e["output"] == "probability":
        proba = model.predict_proba(datasets.load_digits().data[:10])
        assert np.allclose(total.T, proba, atol=1e-6)


def test_experiment_timeout_is_kept(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    project = _digits_project(tmp_path)
    timeout_s = 20.0
    cfg = AutoMLConfig(task="classification", path=str(project), data_script="get_data.py",
                       experiment_timeout_minutes=timeout_s / 60, n_cross_validations=3,
                       primary_metric="accuracy", max_concurrent_iterations=2)
    run = Experiment(ws, "e2e-automl-budget").submit(cfg)
    assert e2e_util.wait_status(run, timeout=180) == "Completed", run.get_details()
    children = list(run.get_children())
    assert children and all(c.get_status() in TERMINAL for c in children)
    starts = [c._run_dto["start_time_utc"] for c in children]
    ends = [c._run_dto["end_time_utc"] for c in children]
    from datetime import datetime

    def t(s):
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    # The experiment's clock starts with the run (interpreter start-up and the data script
    # count); every iteration ends within the budget + 5%, the parent after a fixed overhead
    # (uploading the best model, setting properties, the agent finishing the run).
    dto = run._refresh()
    start = t(dto["start_time_utc"])
    assert max(t(e) for e in ends) - start <= timeout_s * 1.05, (start, ends)
    assert t(dto["end_time_utc"]) - start <= timeout_s * 1.05 + 3.0
    assert min(t(s) for s in starts) >= start
    assert run.get_properties()["best_run_id"]


def test_cancel_parent_stops_children(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    project = _digits_project(tmp_path)
    cfg = AutoMLConfig(task="classification", path=str(project), data_script="get_data.py",
                       iterations=200, n_cross_validations=5, primary_metric="accuracy",
                       max_concurrent_iterations=2, allowed_models=["SVM", "RandomForest"])
    run = Experiment(ws, "e2e-automl-cancel").submit(cfg)
    e2e_util.wait_for(lambda: list(run.get_children()), timeout=120, what="a child run")
    run.cancel()
    assert e2e_util.wait_status(run, timeout=60) == "Canceled"
    e2e_util.wait_for(lambda: all(c.get_status() in TERMINAL for c in run.get_children()),
                      timeout=30, what="children to end")
    assert len(list(run.get_children())) < 200

    def workers_left():
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                cwd = os.readlink("/proc/%s/cwd" % pid)
            except OSError:
                continue
            if b"trainyard.train.automl._driver" in cmd and run.id in cwd and \
                    e2e_util.pid_alive(int(pid)):
                left.append(pid)
        return left

    e2e_util.wait_for(lambda: not workers_left(), timeout=30, what="driver processes to end")


def test_cancel_iteration_of_a_pending_iteration(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    project = _digits_project(tmp_path)
    cfg = AutoMLConfig(task="classification", path=str(project), data_script="get_data.py",
                       iterations=4, n_cross_validations=2, primary_metric="accuracy",
                       enable_voting_ensemble=False, enable_stack_ensemble=False)
    run = Experiment(ws, "e2e-automl-cancel-it").submit(cfg)
    run.cancel_iteration(3)  # not started yet: skipped
    assert e2e_util.wait_status(run, timeout=180) == "Completed", run.get_details()
    its = sorted(int(c.properties["iteration"]) for c in run.get_children())
    assert its == [0, 1, 2]


@pytest.mark.parametrize("case,message", [
    ("nan_labels", "label(s) are missing"),
    ("one_class", "at least two classes"),
    ("missing_label_column", "label column 'target' is not in the CSV"),
    ("empty_csv", "is empty"),
    ("csv_nan_labels", "1 label(s) in column 'target'"),
    ("csv_one_class", "at least two classes"),
    ("csv_all_constant", "every feature column is constant"),
    ("csv_text_with_featurization_off", "column 'city' holds string values"),
])
def test_bad_input_fails_with_a_clear_error(ws, tmp_path, case, message):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    X = np.arange(40, dtype=float).reshape(20, 2)
    kwargs = dict(task="classification", iterations=2, n_cross_validations=2)
    if case == "nan_labels":
        y = np.array([0.0, 1.0] * 10)
        y[3] = np.nan
        cfg = AutoMLConfig(X=X, y=y, **kwargs)
    elif case == "one_class":
        cfg = AutoMLConfig(X=X, y=np.zeros(20), **kwargs)
    elif case.startswith("csv_"):
        rows = {"csv_nan_labels": ["1,x,yes", "2,y,", "3,x,no", "4,y,yes"],
                "csv_one_class": ["1,x,yes", "2,y,yes", "3,x,yes"],
                "csv_all_constant": ["1,x,yes", "1,x,no", "1,x,yes", "1,x,no"],
                "csv_text_with_featurization_off": ["1,x,yes", "2,y,no", "3,x,yes", "4,y,no"]}
        csv = tmp_path / "d.csv"
        csv.write_text("a,city,target\n" + "\n".join(rows[case]) + "\n")
        extra = {"featurization": "off"} if case.endswith("_off") else {}
        cfg = AutoMLConfig(training_data=str(csv), label_column_name="target", **kwargs, **extra)
    else:
        csv = tmp_path / "d.csv"
        csv.write_text("" if case == "empty_csv" else "a,b,label\n1,2,0\n3,4,1\n")
        cfg = AutoMLConfig(training_data=str(csv), label_column_name="target", **kwargs)
    run = Experiment(ws, "e2e-automl-bad").submit(cfg)
    assert e2e_util.wait_status(run, timeout=120) == "Failed"
    assert message in json.dumps(run.get_details().get("error"))


def test_config_validation_fails_before_submitting(ws):
    from trainyard.exceptions import UserErrorException
    from trainyard.train.automl import AutoMLConfig
    X, y = [[1.0], [2.0]], [0, 1]
    with pytest.raises(UserErrorException, match="primary_metric 'r2_score'"):
        AutoMLConfig(task="classification", X=X, y=y, primary_metric="r2_score")
    with pytest.raises(UserErrorException, match="unknown classification model"):
        AutoMLConfig(task="classification", X=X, y=y, blocked_models=["NoSuchModel"])
    with pytest.raises(UserErrorException, match="task must be"):
        AutoMLConfig(task="forecast", X=X, y=y)
    with pytest.raises(UserErrorException, match="no training data"):
        AutoMLConfig(task="classification")
    with pytest.raises(UserErrorException, match="n_cross_validations must be >= 2"):
        AutoMLConfig(task="classification", X=X, y=y, n_cross_validations=1)
    with pytest.raises(UserErrorException, match="leave no model"):
        AutoMLConfig(task="classification", X=X, y=y, allowed_models=["KNN"],
                     blocked_models=["KNN"])


def test_cli_submit_csv_with_text_labels(server, tmp_path, trainyard_binary):
    import subprocess
    iris = datasets.load_iris()
    names = ["setosa", "versicolor", "virginica"]
    csv = tmp_path / "iris.csv"
    with open(csv, "w") as f:
        f.write("sl,sw,pl,pw,species\n")
        for row, t in zip(iris.data, iris.target):
            f.write(",".join(str(v) for v in row) + "," + names[t] + "\n")
    env = dict(os.environ, PYTHONPATH=str(e2e_util.PYTHON_DIR))
    out = subprocess.run([trainyard_binary, "automl", "submit", "--csv", str(csv),
                          "--label-column", "species", "--task", "classification",
                          "--iterations", "3", "--n-cross-validations", "3",
                          "--experiment", "e2e-automl-cli", "--register-model", "iris-cli"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert " ITERATION     PIPELINE" in out.stdout and "registered model iris-cli:1" in out.stdout
    out = subprocess.run([trainyard_binary, "automl", "predict", "iris-cli:1", str(csv),
                          "--label-column", "species", "--proba"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "prediction,proba_setosa,proba_versicolor,proba_virginica"
    preds = [line.split(",")[0] for line in lines[1:]]
    assert len(preds) == 150 and np.mean([p == names[t] for p, t in
                                          zip(preds, iris.target)]) > 0.9
    bad = subprocess.run([trainyard_binary, "automl", "submit", "--csv", str(csv), "--task",
                          "classification"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--label-column" in bad.stderr


def _mixed_csv(path, rows, seed, task, label=True, first_id=0):
    """Numeric (with missing values), categorical (with missing values), an ID column and a
    constant column; the label depends on the numeric and categorical columns."""
    rng = np.random.default_rng(seed)
    colors = ["red", "green", "blue"]
    with open(path, "w") as f:
        f.write("row_id,x1,x2,color,size,const" + (",target" if label else "") + "\n")
        for i in range(rows):
            x1, x2 = rng.normal(), rng.uniform(0, 5)
            color = colors[rng.integers(0, 3)]
            size = ["S", "M", "L"][rng.integers(0, 3)]
            signal = 2 * x1 + (2.0 if color == "red" else -1.0) + 0.5 * x2
            cells = ["r%04d" % (first_id + i), "%.5f" % x1, "" if i % 8 == 3 else "%.4f" % x2,
                     "" if i % 13 == 6 else color, size, "k"]
            if label:
                cells.append("%.5f" % (signal + rng.normal(0, 0.1)) if task == "regression"
                             else ("high" if signal > 1 else "low"))
            f.write(",".join(cells) + "\n")
    return path


def test_cli_regression_on_a_mixed_csv_end_to_end(server, tmp_path, trainyard_binary):
    """(a) numeric + categorical + missing values, numeric label: submit from the CLI, children
    Completed with r2 logged, then CLI predict on a CSV without the label column."""
    import subprocess
    from trainyard.core import Run, Workspace
    train = _mixed_csv(tmp_path / "train.csv", 200, 0, "regression")
    new = _mixed_csv(tmp_path / "new.csv", 25, 1, "regression", label=False)
    env = dict(os.environ, PYTHONPATH=str(e2e_util.PYTHON_DIR))
    out = subprocess.run([trainyard_binary, "automl", "submit", "--csv", str(train),
                          "--label-column", "target", "--task", "regression",
                          "--primary-metric", "r2_score", "--iterations", "4",
                          "--n-cross-validations", "3", "--experiment", "e2e-automl-mixed",
                          "--register-model", "mixed-reg"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    run_id = [line.split("run: ", 1)[1] for line in out.stdout.splitlines()
              if line.startswith("run: ")][-1]
    run = Run.get(Workspace.from_config(), run_id.strip())
    children = list(run.get_children())
    assert children and all(c.get_status() == "Completed" for c in children)
    for c in children:
        assert "r2_score" in c.get_metrics()
    assert max(c.get_metrics()["r2_score"] for c in children) > 0.8
    out = subprocess.run([trainyard_binary, "automl", "predict", "mixed-reg:1", str(new)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    preds = out.stdout.split()
    assert preds[0] == "prediction" and len(preds) == 26
    # The same rows through the SDK (raw rows from Python) give the same predictions.
    best_run, model = run.get_output()
    assert model.raw_columns == ["row_id", "x1", "x2", "color", "size", "const"]
    sdk = model.predict(str(new))
    assert np.allclose([float(p) for p in preds[1:]], sdk, rtol=1e-5)
    # Without a column the model uses: a clear error naming it.
    (tmp_path / "short.csv").write_text("x1,x2\n1,2\n")
    out = subprocess.run([trainyard_binary, "automl", "predict", "mixed-reg:1",
                          str(tmp_path / "short.csv")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2 and "column 'color'" in out.stderr


def test_tabular_dataset_classification_with_label_column(ws, tmp_path):
    """(b) training_data= a registered TabularDataset with label_column_name: the driver gets
    the dataset's CSV files (no pandas), get_output predicts raw rows, the explanation is on
    the raw column names."""
    from trainyard.core import Dataset, Experiment
    from trainyard.train.automl import AutoMLConfig
    from trainyard.train.automl.automlexplainer import retrieve_model_explanation
    folder = tmp_path / "mixed"
    folder.mkdir()
    _mixed_csv(folder / "part1.csv", 120, 2, "classification")
    _mixed_csv(folder / "part2.csv", 80, 3, "classification", first_id=120)
    store = ws.get_default_datastore()
    store.upload(str(folder), target_path="automl-mixed", overwrite=True, show_progress=False)
    ds = Dataset.Tabular.from_delimited_files(path=(store, "automl-mixed/*.csv"))
    ds = ds.register(ws, "automl-mixed", create_new_version=True)
    ds = Dataset.get_by_name(ws, "automl-mixed").drop_columns(["size"])
    cfg = AutoMLConfig(task="classification", training_data=ds, label_column_name="target",
                       iterations=3, n_cross_validations=3, primary_metric="accuracy",
                       model_explainability=True, compute_target="local")
    run = Experiment(ws, "e2e-automl-tabular").submit(cfg)
    assert e2e_util.wait_status(run, timeout=300) == "Completed", run.get_details()
    best_run, model = run.get_output()
    assert model.raw_columns == ["row_id", "x1", "x2", "color", "const"]  # size dropped
    assert {c["name"]: c["handling"] for c in model.header["raw_columns"]} == {
        "row_id": "dropped_id", "x1": "numeric", "x2": "numeric", "color": "onehot",
        "const": "dropped_constant"}
    test = _mixed_csv(tmp_path / "test.csv", 60, 4, "classification")
    import csv as csvmod
    with open(test) as f:
        rows = list(csvmod.DictReader(f))
    truth = [r.pop("target") for r in rows]
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    pred = model.predict(cols)
    assert np.mean(np.asarray(pred) == np.asarray(truth)) > 0.8
    assert np.array_equal(pred, model.predict(str(test)))
    shap_values, expected_values, _, overall_imp, _, _ = retrieve_model_explanation(best_run)
    assert set(overall_imp) == {"row_id", "x1", "x2", "color", "const"}
    assert shap_values.shape[2] == 5


def test_experiment_exit_score_stops_the_search(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    project = _digits_project(tmp_path)
    cfg = AutoMLConfig(task="classification", path=str(project), data_script="get_data.py",
                       iterations=50, n_cross_validations=3, primary_metric="accuracy",
                       experiment_exit_score=0.5, max_concurrent_iterations=1)
    run = Experiment(ws, "e2e-automl-exit").submit(cfg)
    assert e2e_util.wait_status(run, timeout=180) == "Completed", run.get_details()
    children = list(run.get_children())
    # the first iteration already beats 0.5: nothing else is started (no ensemble of one)
    assert len(children) == 1 and float(children[0].properties["score"]) >= 0.5


def test_iteration_timeout_stops_a_slow_iteration(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    project = _digits_project(tmp_path)
    # SVM with Platt probabilities on digits takes seconds per fold: past a 0.6 s limit
    cfg = AutoMLConfig(task="classification", path=str(project), data_script="get_data.py",
                       iterations=2, n_cross_validations=5, primary_metric="accuracy",
                       allowed_models=["SVM", "NaiveBayes"], iteration_timeout_minutes=0.01,
                       enable_voting_ensemble=False, enable_stack_ensemble=False)
    run = Experiment(ws, "e2e-automl-it-timeout").submit(cfg)
    assert e2e_util.wait_status(run, timeout=180) == "Completed", run.get_details()
    by_algo = {c.properties["run_algorithm"]: c for c in run.get_children()}
    svm = by_algo["SVM"]
    assert svm.get_status() == "Failed"
    assert "iteration_timeout_minutes" in json.dumps(svm.get_details().get("error"))
    assert float(svm.properties["seconds"]) < 0.6 + 5.0
    assert by_algo["NaiveBayes"].get_status() == "Completed"
    assert run.get_properties()["best_pipeline"].endswith("naive Bayes")
