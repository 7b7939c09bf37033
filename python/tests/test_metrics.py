import json
import threading
import time

import pytest

from trainyard.core import _metrics
from trainyard.core.run import Run
from trainyard.exceptions import UserErrorException


class FakeNumpyScalar:
    def __init__(self, value):
        self.value = value

    def tolist(self):
        return self.value


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def agent_run(tmp_path, monkeypatch):
    spool = tmp_path / "metrics.spool"
    monkeypatch.setenv("TRAINYARD_RUN_ID", "exp_1")
    monkeypatch.setenv("TRAINYARD_EXPERIMENT", "exp")
    monkeypatch.setenv("TRAINYARD_WORKSPACE", "ws")
    monkeypatch.setenv("TRAINYARD_SERVER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TRAINYARD_TOKEN", "t")
    monkeypatch.setenv("TRAINYARD_SPOOL", str(spool))
    monkeypatch.setattr(_metrics, "_spool_sinks", {})
    return Run.get_context(), spool


def test_context_run_needs_no_server(agent_run):
    run, _ = agent_run
    assert run.id == "exp_1"
    assert run.experiment.name == "exp"
    assert run.experiment.workspace.name == "ws"
    assert Run.get_context() is run
    assert Run.get_context(allow_offline=False) is run


def test_spool_lines(agent_run):
    run, spool = agent_run
    run.log("acc", 0.95)
    run.log("loss", float("nan"), description="d", step=3)
    run.log("inf", float("-inf"))
    run.log("np", FakeNumpyScalar(2.5))
    run.log("flag", True)
    run.log("s", "text \u00e9")
    run.log_list("l", [1, float("inf"), FakeNumpyScalar(3)])
    run.log_row("r", epoch=1, loss=0.5)
    run.log_table("t", {"a": [1, 2], "b": ["x", "y"]})
    run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix",
                                    "data": {"class_labels": ["a"], "matrix": [[1]]}})
    lines = _lines(spool)
    for line in lines:
        assert line["r"] == "exp_1" and isinstance(line["t"], int)
    assert [(l["n"], l["k"], l["v"]) for l in lines] == [
        ("acc", "scalar", 0.95), ("loss", "scalar", "NaN"), ("inf", "scalar", "-Infinity"),
        ("np", "scalar", 2.5), ("flag", "scalar", True), ("s", "scalar", "text \u00e9"),
        ("l", "list", [1, "Infinity", 3]), ("r", "row", {"epoch": 1, "loss": 0.5}),
        ("t", "table", {"a": [1, 2], "b": ["x", "y"]}),
        ("cm", "table", {"schema_type": "confusion_matrix",
                         "data": {"class_labels": ["a"], "matrix": [[1]]}})]
    assert lines[1]["s"] == 3 and lines[1]["d"] == "d"
    assert "s" not in lines[0] and "d" not in lines[0]


@pytest.mark.parametrize("call", [
    lambda r: r.log("x", None),
    lambda r: r.log("x", [1, 2]),
    lambda r: r.log("", 1),
    lambda r: r.log("x", object()),
    lambda r: r.log_list("x", [[1]]),
    lambda r: r.log_row("x", a=[1]),
    lambda r: r.log_table("x", {"a": 1}),
    lambda r: r.log("x", 1, step=1.5),
    lambda r: r.log_confusion_matrix("x", "not json"),
    lambda r: r.log_image("x"),
])
def test_invalid_values_fail_at_the_call(agent_run, call):
    run, spool = agent_run
    with pytest.raises(UserErrorException):
        call(run)
    assert not spool.exists() or spool.read_text() == ""


def test_flush_waits_for_the_agent_ack(agent_run):
    run, spool = agent_run
    run.log("a", 1)

    def agent():
        while True:
            for line in _lines(spool):
                if "flush" in line:
                    time.sleep(0.05)
                    with open(str(spool) + ".ack", "a") as f:
                        f.write(line["flush"] + "\n")
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=agent)
    thread.start()
    started = time.monotonic()
    run.flush()
    assert 0.04 < time.monotonic() - started < 5
    thread.join()
    assert "flush" in _lines(spool)[-1]


def test_flush_gives_up_after_timeout(tmp_path, capsys):
    sink = _metrics.SpoolSink(str(tmp_path / "s"))
    sink.log("r", "a", "scalar", 1)
    assert sink.flush(timeout=0.05) is False
    assert "not acknowledged" in capsys.readouterr().err


def test_logging_is_fast(agent_run):
    run, _ = agent_run
    n = 20000
    started = time.perf_counter()
    for i in range(n):
        run.log("loss", i * 0.5)
    per_call_us = (time.perf_counter() - started) / n * 1e6
    assert per_call_us < 100, per_call_us  # microseconds, generous for slow CI machines


def test_aggregate_matches_azure_shapes():
    points = [("acc", "scalar", 0.5), ("once", "scalar", 1), ("acc", "scalar", 0.7),
              ("acc", "scalar", 0.9), ("l", "list", [1]), ("l", "list", [2, 3]),
              ("r", "row", {"a": 1, "b": 2}), ("r", "row", {"a": 3, "b": 4}),
              ("t", "table", {"x": [1]}), ("img", "image", {"artifact": "p.png"})]
    assert _metrics.aggregate(points) == {
        "acc": [0.5, 0.7, 0.9], "once": 1, "l": [2, 3], "r": {"a": [1, 3], "b": [2, 4]},
        "t": {"x": [1]}, "img": "p.png"}
