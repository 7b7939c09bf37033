"""Issue 18: AutoML on real tables through the product path, and the rough edges a migrating
user hits (string labels on the holdout path, never without a model, no storm of identical
failures, data_script paths, AzureML-* curated names, unsatisfiable packages at submit time,
`run list` across experiments, "did you mean" for typos). A real server, real processes."""
import json
import os
import subprocess
import time

import pytest

import e2e_util

np = pytest.importorskip("numpy")

TERMINAL = ("Completed", "Failed", "Canceled")


def _covertype_like_csv(path, rows, seed=0):
    """The issue's failing shape: > 20,000 rows, 7 imbalanced classes with STRING labels, a
    text column and missing values."""
    rng = np.random.default_rng(seed)
    names = ["Spruce", "Lodgepole", "Ponderosa", "Willow", "Aspen", "Douglas", "Krummholz"]
    share = np.array([0.45, 0.3, 0.1, 0.06, 0.05, 0.03, 0.01])
    y = rng.choice(7, size=rows, p=share)
    elev = 2000 + 150 * y + rng.normal(0, 60, rows)
    slope = rng.normal(10 + y, 3, rows)
    soil = np.array(["s%d" % ((k * 3 + rng.integers(0, 2)) % 12) for k in y])
    with open(path, "w") as f:
        f.write("elevation,slope,soil,cover\n")
        for i in range(rows):
            s = "" if i % 97 == 0 else "%.2f" % slope[i]
            f.write("%.1f,%s,%s,%s\n" % (elev[i], s, soil[i], names[y[i]]))
    return names


def test_string_labels_above_20000_rows_use_the_holdout_and_return_a_model(ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    csv = tmp_path / "cover.csv"
    names = _covertype_like_csv(csv, 21000)
    cfg = AutoMLConfig(task="classification", training_data=str(csv), label_column_name="cover",
                       primary_metric="AUC_weighted", iterations=2,
                       allowed_models=["DecisionTree", "ExtremeRandomTrees"],
                       enable_voting_ensemble=False, enable_stack_ensemble=False)
    run = Experiment(ws, "e2e-issue18-holdout").submit(cfg)
    assert e2e_util.wait_status(run, timeout=240) == "Completed", run.get_details()
    children = list(run.get_children())
    assert [c.get_status() for c in children] == ["Completed"] * len(children), \
        [c.get_details().get("error") for c in children]
    # The holdout path (10% of 21,000 rows) scored every child.
    assert all(float(c.get_properties()["score"]) > 0.9 for c in children)
    best, model = run.get_output()
    test = tmp_path / "test.csv"
    _covertype_like_csv(test, 200, seed=1)
    preds = model.predict(str(test))
    assert set(preds) <= set(names) and len(preds) == 200


def test_large_table_first_trial_is_a_cheap_tree(ws, tmp_path):
    """A cheap robust first trial scaled to the data: above 100,000 cells a DecisionTree."""
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25000, 24))
    y = np.array(["yes" if v > 0 else "no" for v in X[:, 0] + 0.5 * X[:, 1]])
    cfg = AutoMLConfig(task="classification", X=X, y=y, iterations=1,
                       enable_voting_ensemble=False, enable_stack_ensemble=False)
    run = Experiment(ws, "e2e-issue18-first").submit(cfg)
    assert e2e_util.wait_status(run, timeout=180) == "Completed", run.get_details()
    (child,) = list(run.get_children())
    assert child.get_properties()["run_algorithm"] == "DecisionTree"


def test_same_error_in_every_first_trial_fails_the_parent_at_once(ws):
    """Every learner fails the same way (validation labels the training data lacks): the parent
    fails with that error after one trial per learner, not a storm of failed children."""
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = np.array([0, 1] * 30)
    learners = ["DecisionTree", "KNN", "NaiveBayes"]
    cfg = AutoMLConfig(task="classification", X=X, y=y, X_valid=X[:10],
                       y_valid=np.array([0, 2] * 5), experiment_timeout_minutes=1,
                       allowed_models=learners)
    t0 = time.time()
    run = Experiment(ws, "e2e-issue18-storm").submit(cfg)
    assert e2e_util.wait_status(run, timeout=120) == "Failed"
    assert time.time() - t0 < 50  # at once, not at the experiment timeout
    message = json.dumps(run.get_details().get("error"))
    assert "failed with the same error" in message, message
    assert "y_valid has the label 2 that the training data does not have" in message, message
    children = list(run.get_children())
    assert len(children) <= len(learners), [c.get_properties().get("pipeline") for c in children]


def test_relative_project_folder_and_data_script_as_azure(tmp_path, monkeypatch):
    from trainyard.exceptions import UserErrorException
    from trainyard.train.automl import AutoMLConfig
    project = tmp_path / "sample_projects" / "automl-local"
    e2e_util.write_script(project, "get_data.py", """
        def get_data():
            return {"X": [[0.0], [1.0]] * 10, "y": [0, 1] * 10}
        """)
    monkeypatch.chdir(tmp_path)
    folder = "./sample_projects/automl-local"
    cfg = AutoMLConfig(task="classification", path=folder, data_script=folder + "/get_data.py",
                       iterations=2)
    assert cfg.path == str(project) and cfg.data_script == "get_data.py"
    # The form relative to `path` keeps working.
    assert AutoMLConfig(task="classification", path=folder, data_script="get_data.py",
                        iterations=2).data_script == "get_data.py"
    with pytest.raises(UserErrorException) as e:
        AutoMLConfig(task="classification", path=folder, data_script=folder + "/nope.py")
    assert str(project / "nope.py") in str(e.value), str(e.value)
    assert str(tmp_path) in str(e.value)


def test_azureml_curated_names_resolve(ws):
    from trainyard.core import Environment
    env = Environment.get(ws, "AzureML-Tutorial")
    assert env.name == "Trainyard-Sklearn"
    assert Environment.get(ws, "AzureML-TensorFlow-2.0-GPU", version="21").name == \
        "Trainyard-TensorFlow-Keras"
    with pytest.raises(Exception) as e:
        Environment.get(ws, "AzureML-NoSuchThing")
    text = e2e_util.error_text(e.value)
    assert "Trainyard-Sklearn" in text and "AzureML-Tutorial" in text, text


def _index_reachable():
    try:
        r = subprocess.run([e2e_util.python_exe(), "-m", "pip", "index", "versions", "six"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Available versions" in r.stdout


def test_unsatisfiable_package_fails_at_submit_time(ws, tmp_path):
    if not _index_reachable():
        pytest.skip("pip's index is not reachable from here: the check cannot decide")
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    e2e_util.write_script(tmp_path, "job.py", "print('never runs')\n")
    env = Environment("tf-old")
    env.python.conda_dependencies.add_conda_package("python=3.6.2")
    env.python.conda_dependencies.add_pip_package("tensorflow-gpu==2.0.0")
    exp = Experiment(ws, "e2e-issue18-env")
    before = len(list(exp.get_runs()))
    with pytest.raises(Exception) as e:
        exp.submit(ScriptRunConfig(source_directory=str(tmp_path), script="job.py",
                                   environment=env))
    text = e2e_util.error_text(e.value)
    assert "tensorflow-gpu==2.0.0 cannot be installed with Python 3." in text, text
    assert "python=3.6.2 was asked; this machine has Python" in text, text
    assert "nearest: tensorflow-gpu==" in text and "use tensorflow" in text, text
    assert len(list(exp.get_runs())) == before  # nothing was queued


def _cli(server, *args, cwd=None):
    return subprocess.run([e2e_util.trainyard_bin(), *args], capture_output=True, text=True,
                          cwd=cwd or server.project_dir, env=server.env(), timeout=60)


def test_run_list_is_newest_first_across_experiments_with_a_global_limit(server, ws, tmp_path):
    from trainyard.core import Experiment
    ids = []
    for k in range(3):
        for name in ("e2e-issue18-list-a", "e2e-issue18-list-b"):
            run = Experiment(ws, name).start_logging()
            run.complete()
            ids.append(run.id)
            time.sleep(0.01)
    out = _cli(server, "run", "list", "--limit", "3", "--json")
    assert out.returncode == 0, out.stderr
    listed = [r["id"] for r in json.loads(out.stdout)]
    assert listed == ids[::-1][:3], (listed, ids)
    out = _cli(server, "run", "list", "--limit", "4")
    rows = out.stdout.strip().splitlines()[1:]
    assert [r.split()[0] for r in rows] == ids[::-1][:4]


def test_unknown_subcommands_say_did_you_mean_anywhere(server, tmp_path):
    outside = tmp_path / "not-a-workspace"
    outside.mkdir()
    for args, want in [(("rn", "list"), "unknown command 'rn'; did you mean 'run'?"),
                       (("run", "lsit"), "unknown run command 'lsit'; did you mean 'list'?"),
                       (("env", "prnue"), "unknown env command 'prnue'; did you mean 'prune'?"),
                       (("model", "shwo"), "unknown model command 'shwo'; did you mean 'show'?"),
                       (("automl", "sumbit"), "did you mean 'submit'?")]:
        for cwd in (server.project_dir, outside):
            env = {k: v for k, v in server.env().items() if k != "TRAINYARD_CONFIG"}
            out = subprocess.run([e2e_util.trainyard_bin(), *args], capture_output=True,
                                 text=True, cwd=cwd, env=env, timeout=60)
            assert out.returncode != 0 and want in out.stderr, (args, cwd, out.stderr)
            assert "no Trainyard workspace" not in out.stderr


def test_environment_cache_is_shared_by_workspaces(tmp_path):
    """One cache per machine and user: a spec built in one workspace is reused by another
    (TRAINYARD_ENV_CACHE unset: $XDG_CACHE_HOME/trainyard/envs)."""
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    xdg = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if k != "TRAINYARD_ENV_CACHE"}
    env["XDG_CACHE_HOME"] = str(xdg)
    e2e_util.write_script(tmp_path / "src", "job.py", "print('hello')\n")
    logs = []
    for k in range(2):
        srv = e2e_util.Server(tmp_path / ("ws%d" % k), env=env).start()
        try:
            spec = Environment("shared-cache-env")
            spec.environment_variables["WHICH"] = str(k)  # not part of the cache key
            run = Experiment(srv.workspace(), "e2e-issue18-cache").submit(ScriptRunConfig(
                source_directory=str(tmp_path / "src"), script="job.py", environment=spec))
            run.wait_for_completion(show_output=False, raise_on_error=False)
            assert run.get_status() == "Completed", run.get_details()
            logs.append(run.get_details_with_logs()["logFiles"].get(
                "azureml-logs/20_image_build_log.txt", ""))
        finally:
            srv.stop()
    assert "Building environment" in logs[0], logs[0]
    assert "Using cached environment" in logs[1] and "Building environment" not in logs[1], \
        logs[1]
    assert str(xdg / "trainyard" / "envs") in logs[1]
    built = [p for p in (xdg / "trainyard" / "envs").iterdir() if (p / "bin").is_dir()]
    assert len(built) == 1


def test_unavailable_python_pin_is_said_at_submit_time(ws, tmp_path):
    """python=3.6.2 (the seed's pin) still builds with this machine's newest Python 3, and the
    submit says so (a UserWarning and the run's environment_warning property), not only the
    build log."""
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    e2e_util.write_script(tmp_path, "job.py", "import sys; print(sys.version)\n")
    env = Environment("pin-only")
    env.python.conda_dependencies.add_conda_package("python=3.6.2")
    with pytest.warns(UserWarning, match=r"python=3\.6\.2 is not available on this machine "
                                         r"\(it has Python 3\."):
        run = Experiment(ws, "e2e-issue18-pin").submit(ScriptRunConfig(
            source_directory=str(tmp_path), script="job.py", environment=env))
    assert "the environment is built with Python 3." in \
        run.get_properties()["environment_warning"]
    assert e2e_util.wait_status(run, timeout=120) == "Completed", run.get_details()


def test_cli_submit_prints_the_python_pin_warning(server, tmp_path):
    (tmp_path / "env.yml").write_text("dependencies:\n  - python=3.6.2\n")
    (tmp_path / "job.py").write_text("print('hi')\n")
    out = _cli(server, "run", "submit", "--experiment", "e2e-issue18-cli-pin", "--source-dir",
               str(tmp_path), "--script", "job.py", "--conda-file", str(tmp_path / "env.yml"),
               "--wait")
    assert out.returncode == 0, out.stderr
    assert "Warning: python=3.6.2 is not available on this machine" in out.stderr, out.stderr
