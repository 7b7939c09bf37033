"""Interactive runs (Experiment.start_logging), children, tags/properties, offline runs."""
import subprocess
import sys

import pytest

from e2e_util import PYTHON_DIR


def test_start_logging_metrics_tags_children(ws):
    from trainyard.core import Experiment
    exp = Experiment(ws, "e2e-interactive")
    run = exp.start_logging()
    assert run.get_status() == "Running"

    run.log("a", 1)
    run.log("a", 2)
    run.log("b", 0.5, description="a scalar")
    run.log("name", "svm")
    run.log_list("l", [1, 2, 3])
    run.log_row("r", x=1, y=2)
    run.log_row("r", x=3, y=4)
    run.log_table("t", {"c": [1, 2], "d": [3, 4]})

    run.tag("k", "v")
    run.tag("flag")
    run.set_tags({"k2": "v2"})
    run.add_properties({"p": "1"})

    with run.child_run(name="first-child") as child:
        child.log("cm", 3)
    kids = run.create_children(count=2, tag_key="fold", tag_values=["0", "1"])
    assert len(kids) == 2
    for k in kids:
        k.log("km", 1)
        k.complete()

    run.complete()
    assert run.get_status() == "Completed"

    metrics = run.get_metrics()
    assert metrics["a"] == [1, 2]
    assert metrics["b"] == 0.5
    assert metrics["name"] == "svm"
    assert metrics["l"] == [1, 2, 3]
    assert metrics["r"] == {"x": [1, 3], "y": [2, 4]}
    assert metrics["t"] == {"c": [1, 2], "d": [3, 4]}

    tags = run.get_tags()
    assert tags["k"] == "v" and tags["k2"] == "v2" and "flag" in tags
    assert run.get_properties()["p"] == "1"

    children = list(run.get_children())
    assert len(children) == 3
    assert {c.get_status() for c in children} == {"Completed"}
    first = [c for c in children if c.get_metrics().get("cm") == 3]
    assert len(first) == 1
    assert first[0].parent.id == run.id
    folds = sorted(c.get_tags().get("fold") for c in children if "fold" in c.get_tags())
    assert folds == ["0", "1"]

    rec = run.get_metrics(recursive=True)
    assert run.id in rec and rec[run.id]["a"] == [1, 2]
    assert all(c.id in rec for c in children)

    # start_logging runs are listed by the experiment, children only on request
    top = [r.id for r in exp.get_runs()]
    assert run.id in top and not any(c.id in top for c in children)


def test_start_logging_as_context_manager(ws):
    from trainyard.core import Experiment
    exp = Experiment(ws, "e2e-interactive")
    with exp.start_logging() as run:
        run.log("x", 1.5)
    assert run.get_status() == "Completed"
    assert run.get_metrics()["x"] == 1.5


def test_interactive_run_failure_and_upload(ws, tmp_path):
    from trainyard.core import Experiment
    exp = Experiment(ws, "e2e-interactive")
    run = exp.start_logging()
    f = tmp_path / "note.txt"
    f.write_text("uploaded")
    run.upload_file("outputs/note.txt", str(f))
    assert "outputs/note.txt" in run.get_file_names()
    run.fail(error_details="gave up")
    assert run.get_status() == "Failed"
    out = tmp_path / "back.txt"
    run.download_file("outputs/note.txt", output_file_path=str(out))
    assert out.read_text() == "uploaded"


@pytest.mark.parametrize("module", ["azureml.core.run", "trainyard.core.run"])
def test_offline_run_prints_what_it_would_log(module, tmp_path):
    code = ("from %s import Run\n"
            "run = Run.get_context()\n"
            "run.log('accuracy', 0.93)\n"
            "run.log_list('losses', [1, 2])\n"
            "run.complete()\n" % module)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PYTHON_DIR), "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    assert "Attempted to log scalar metric accuracy:" in p.stdout, p.stdout
    assert "0.93" in p.stdout
