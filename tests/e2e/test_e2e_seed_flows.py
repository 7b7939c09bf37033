"""The seed workflows, run as a user runs them: the example's driver.py in its own process."""
import re
import shutil
import subprocess
import sys

from e2e_util import REPO, wait_status


def run_driver(server, workdir, timeout=900):
    p = subprocess.run([sys.executable, "driver.py"], cwd=str(workdir), env=server.env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    assert p.returncode == 0, "driver.py failed (%d):\n%s\n--- server log ---\n%s" % (
        p.returncode, p.stdout[-6000:], server.log_tail())
    m = re.search(r"^Run ID: (\S+)$", p.stdout, re.M)
    assert m, p.stdout[-4000:]
    return m.group(1), p.stdout


def test_seed_sklearn_iris(server, ws, tmp_path):
    from trainyard.core import Experiment, Model
    from trainyard.core.run import Run

    work = tmp_path / "sklearn-iris"
    shutil.copytree(REPO / "examples" / "sklearn-iris", work,
                    ignore=shutil.ignore_patterns("outputs", ".trainyard", "__pycache__"))
    run_id, out = run_driver(server, work)

    # wait_for_completion(show_output=True) streamed the script's own output.
    assert "Accuracy of SVM classifier on test set" in out, out[-4000:]
    assert re.search(r"^Model ID: sklearn-iris:1$", out, re.M), out[-4000:]
    # ... then deployed it no-code and scored two rows (setosa, virginica) over HTTP.
    assert re.search(r"^Predictions: \[0, 2\]$", out, re.M), out[-4000:]
    assert re.search(r"^curl -s http://127\.0\.0\.1:\d+/score .*Bearer ", out, re.M)

    run = Run(Experiment(ws, "train-sklearn"), run_id)
    assert wait_status(run) == "Completed"
    metrics = run.get_metrics()
    assert metrics["Kernel type"] == "linear"
    assert metrics["Penalty"] == 1.0
    assert 0 < metrics["Accuracy"] <= 1
    assert "outputs/model.joblib" in run.get_file_names()
    # the script's output was kept as the run's driver log
    assert any(f.endswith("70_driver_log.txt") for f in run.get_file_names())

    model = Model(ws, name="sklearn-iris")
    assert model.version == 1
    assert model.model_framework == Model.Framework.SCIKITLEARN
    again = run.register_model(model_name="sklearn-iris", model_path="outputs/model.joblib")
    assert again.version == 2
    assert Model(ws, name="sklearn-iris").version == 2
    assert Model(ws, name="sklearn-iris", version=1).version == 1

    target = tmp_path / "model"
    path = Model(ws, name="sklearn-iris", version=1).download(target_dir=str(target))
    import joblib
    clf = joblib.load(path if str(path).endswith(".joblib") else target / "model.joblib")
    pred = clf.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert list(pred) == [0, 2]


def test_entry_script_example(server, ws, tmp_path):
    from trainyard.core import Webservice
    work = tmp_path / "entry-script"
    shutil.copytree(REPO / "examples" / "entry-script", work,
                    ignore=shutil.ignore_patterns("outputs", ".trainyard", "__pycache__",
                                                  "model.joblib"))
    p = subprocess.run([sys.executable, "driver.py"], cwd=str(work), env=server.env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-6000:]
    assert "Result: {'predictions': [0, 2], 'classes': ['setosa', 'virginica']}" in p.stdout
    service = Webservice(ws, "iris-entry-script")
    assert service.auth_enabled and service.state == "Healthy"
    assert service.run({"data": [[5.9, 3.0, 4.2, 1.5]]})["classes"] == ["versicolor"]
    service.delete()


def test_estimator_flow(server, ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.core.run import Run

    work = tmp_path / "estimator-sklearn"
    shutil.copytree(REPO / "examples" / "estimator-sklearn", work,
                    ignore=shutil.ignore_patterns("outputs", ".trainyard", "__pycache__"))
    run_id, out = run_driver(server, work)
    assert "Accuracy is" in out, out[-4000:]

    run = Run(Experiment(ws, "estimator-sklearn"), run_id)
    assert wait_status(run) == "Completed"
    metrics = run.get_metrics()
    assert metrics["regularization rate"] == 0.8
    assert 0.8 < metrics["accuracy"] <= 1.0
    names = run.get_file_names()
    assert "outputs/model.pkl" in names and "outputs/report.json" in names
    details = run.get_details()
    # script_params became the script's arguments
    assert "--regularization" in str(details), details
