import pytest

from trainyard.core.run import Run, _OfflineRun
from trainyard.exceptions import RunEnvironmentException, UserErrorException


def test_offline_prints_like_azure(capsys):
    run = Run.get_context()
    assert isinstance(run, _OfflineRun)
    assert run.id.startswith("OfflineRun_") and len(run.id) == len("OfflineRun_") + 36
    run.log("accuracy", 0.95)
    run.log_list("losses", [1, 2])
    run.log_row("row", a=1)
    run.log_table("tbl", {"a": [1]})
    run.log_image("img", path="plot.png")
    run.upload_file(name="model.pkl", path_or_stream="outputs/model.pkl")
    assert capsys.readouterr().out == (
        "Attempted to log scalar metric accuracy:\n0.95\n"
        "Attempted to log list metric losses:\n[1, 2]\n"
        "Attempted to log row metric row:\n{'a': 1}\n"
        "Attempted to log table metric tbl:\n{'a': [1]}\n"
        "Attempted to log image metric img:\nplot.png\n"
        "Attempted to track file model.pkl at outputs/model.pkl\n")


def test_offline_metrics_tags_and_properties():
    run = Run.get_context()
    assert Run.get_context() is run
    for v in (0.1, 0.2):
        run.log("acc", v)
    run.log("lr", 0.01)
    run.log_row("r", a=1)
    run.log_row("r", a=2)
    assert run.get_metrics() == {"acc": [0.1, 0.2], "lr": 0.01, "r": {"a": [1, 2]}}
    assert run.get_metrics(name="lr") == {"lr": 0.01}
    run.tag("k")
    run.set_tags({"a": 1})
    assert run.get_tags() == {"k": "", "a": "1"}
    run.add_properties({"p": "1"})
    run.add_properties({"p": "1"})
    with pytest.raises(UserErrorException):
        run.add_properties({"p": "2"})
    assert run.get_status() == "Running"
    run.complete()
    assert run.get_status() == "Completed"


def test_offline_children_and_unavailable_calls():
    run = Run.get_context()
    with run.child_run(name="c") as child:
        child.log("x", 1)
    assert child.get_status() == "Completed"
    assert child.parent is run
    assert list(run.get_children()) == [child]
    assert run.get_metrics(recursive=True) == {run.id: {}, child.id: {"x": 1}}
    with pytest.raises(RunEnvironmentException):
        run.experiment
    with pytest.raises(RunEnvironmentException):
        run.register_model("m", "outputs/m.pkl")


def test_allow_offline_false_raises():
    with pytest.raises(RunEnvironmentException):
        Run.get_context(allow_offline=False)
