"""End-to-end SDK behaviour against the in-memory fake server (tests/fake_server.py)."""

import io
import json
import os

import pytest

from trainyard.core import Experiment, Model, Run, ScriptRunConfig, Workspace
from trainyard.core.compute import ComputeTarget
from trainyard.core.compute_target import ComputeTargetException
from trainyard.core.resource_configuration import ResourceConfiguration
from trainyard.exceptions import (ActivityFailedException, AuthenticationException,
                                  ModelNotFoundException, ServiceException,
                                  UserErrorException, WebserviceException)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "fail.py").write_text("# exit: 3\nraise SystemExit(3)\n")
    return tmp_path


def test_submit_and_wait(workspace, server, project):
    exp = Experiment(workspace, "train-sklearn")
    assert exp.id
    run = exp.submit(ScriptRunConfig(source_directory=str(project), script="train.py",
                                     arguments=["--a", 1]), tags={"t": "v"})
    assert run.get_status() in ("Queued", "Preparing", "Starting", "Running", "Finalizing",
                                "Completed")
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    assert details["runId"] == run.id
    assert details["runDefinition"]["script"] == "train.py"
    assert details["runDefinition"]["arguments"] == ["--a", "1"]
    assert details["target"] == "local"
    assert "startTimeUtc" in details and "endTimeUtc" in details
    assert details["logFiles"] == {"azureml-logs/70_driver_log.txt":
                                   "http://fake/azureml-logs/70_driver_log.txt"}
    assert run.tags == {"t": "v"}
    body = server.state.runs[run.id]["_body"]
    assert body["config"]["source_directory"] == str(project)
    long_polls = [q for m, p, q in server.state.requests if "wait_ms=60000" in q]
    assert long_polls, "wait_for_completion must long-poll"
    assert len(server.state.requests) < 15


def test_wait_with_show_output(workspace, project, capsys):
    run = Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    url = run.get_portal_url()
    assert out == (
        "RunId: {id}\nWeb View: {url}\n\n"
        "Streaming azureml-logs/70_driver_log.txt\n"
        "========================================\n\n"
        "hello from the script\nsecond line \u00e9\n"
        "\nExecution Summary\n=================\nRunId: {id}\nWeb View: {url}\n\n"
    ).format(id=run.id, url=url)


def test_failed_run_raises(workspace, project, capsys):
    run = Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "fail.py"))
    with pytest.raises(ActivityFailedException) as info:
        run.wait_for_completion(show_output=True)
    assert "Script exited with code 3" in str(info.value)
    out = capsys.readouterr().out
    assert "Execution Summary" in out and "Error:" not in out  # raised, not printed twice
    details = run.wait_for_completion(show_output=True, raise_on_error=False)
    assert "\nError:\n{\n    \"error\": {" in capsys.readouterr().out
    assert details["status"] == "Failed"
    assert details["error"] == {"error": {"message": "Script exited with code 3",
                                          "traceback": "Traceback: boom"}}


def test_server_errors_carry_the_message(workspace, project):
    with pytest.raises(UserErrorException, match="script nope.py not found") as info:
        Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "nope.py"))
    assert info.value.status_code == 400 and info.value.code == "InvalidInput"
    with pytest.raises(UserErrorException) as info:
        Run(Experiment(workspace, "exp"), "missing-run")
    assert info.value.status_code == 404
    bad = Workspace(workspace_name="ws", server_url=workspace.server_url, token="wrong")
    with pytest.raises(AuthenticationException):
        Experiment(bad, "exp")


def test_unreachable_server(monkeypatch):
    import trainyard._http as http
    monkeypatch.setattr(http, "_RETRY_DELAYS_S", (0.01, 0.01))
    ws = Workspace(workspace_name="ws", server_url="http://127.0.0.1:9", token="t")
    with pytest.raises(ServiceException, match="trainyard up"):
        Experiment(ws, "exp")


def test_interactive_run_context_manager(workspace, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "model.pkl").write_bytes(b"M")
    exp = Experiment(workspace, "interactive")
    with exp.start_logging() as run:
        run.log("acc", 0.5)
        run.log("acc", 0.7)
        run.log_row("r", a=1)
        run.log_list("l", [1, float("nan")])
        with run.child_run(name="child") as child:
            child.log("loss", 1.0)
    assert run.get_status() == "Completed"
    assert child.get_status() == "Completed"
    assert run.get_metrics() == {"acc": [0.5, 0.7], "r": {"a": [1]}, "l": [1, "NaN"]}
    assert child.get_metrics() == {"loss": 1.0}
    assert "outputs/model.pkl" in run.get_file_names()
    assert [c.id for c in run.get_children()] == [child.id]
    assert child.parent.id == run.id
    seqs = [p["seq"] for p in server.state.metrics[run.id]]
    assert len(set(seqs)) == len(seqs)


def test_interactive_run_failure(workspace):
    exp = Experiment(workspace, "interactive")
    with pytest.raises(ValueError):
        with exp.start_logging() as run:
            raise ValueError("bad data")
    details = run.get_details()
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == "ValueError: bad data"
    assert "Traceback" in details["error"]["error"]["traceback"]


def test_tags_properties_children(workspace):
    run = Experiment(workspace, "exp").start_logging()
    run.tag("a")
    run.set_tags({"b": 2})
    assert run.get_tags() == {"a": "", "b": "2"}
    run.add_properties({"p": "1"})
    with pytest.raises(UserErrorException) as info:
        run.add_properties({"p": "2"})
    assert info.value.status_code == 409
    assert run.get_properties() == {"p": "1"}
    kids = run.create_children(tag_key="lr", tag_values=[0.1, 0.2])
    assert [k.get_status() for k in kids] == ["NotStarted", "NotStarted"]
    assert sorted(k.tags["lr"] for k in kids) == ["0.1", "0.2"]
    assert len(list(run.get_children())) == 2
    runs = list(Experiment(workspace, "exp").get_runs(tags={"b": "2"}))
    assert [r.id for r in runs] == [run.id]
    run.cancel()
    assert run.get_status() == "Canceled"


def test_files_upload_download(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Experiment(workspace, "files").start_logging()
    (tmp_path / "a.txt").write_text("A")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.bin").write_bytes(b"X")
    (folder / "sub" / "y.bin").write_bytes(b"Y")
    run.upload_file("notes/a.txt", str(tmp_path / "a.txt"))
    run.upload_file("stream.txt", io.BytesIO(b"S"))
    run.upload_files(["f1", "f2"], [str(tmp_path / "a.txt")] * 2)
    run.upload_folder("outputs/model", str(folder))
    assert run.get_file_names() == ["f1", "f2", "notes/a.txt", "outputs/model/sub/y.bin",
                                    "outputs/model/x.bin", "stream.txt"]
    out = tmp_path / "dl"
    out.mkdir()
    assert run.download_file("notes/a.txt", output_file_path=str(out),
                             _validate_checksum=True) == str(out / "a.txt")
    assert (out / "a.txt").read_text() == "A"
    run.download_file("stream.txt")
    assert (tmp_path / "stream.txt").read_text() == "S"
    paths = run.download_files(prefix="outputs/model", output_directory=str(tmp_path / "o"),
                               append_prefix=False)
    assert sorted(paths) == [str(tmp_path / "o" / "sub" / "y.bin"),
                             str(tmp_path / "o" / "x.bin")]
    run.download_files(prefix="outputs", output_directory=str(tmp_path / "p"))
    assert (tmp_path / "p" / "outputs" / "model" / "sub" / "y.bin").read_bytes() == b"Y"


def test_restore_snapshot(workspace, project, tmp_path):
    run = Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion()
    assert run.restore_snapshot(path=str(tmp_path / "snap")) == str(tmp_path / "snap")
    assert (tmp_path / "snap" / "train.py").read_text() == "print('hi')\n"


def test_register_model_from_run_and_download(workspace, project, tmp_path):
    run = Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion()
    model = run.register_model(model_name="sklearn-iris", model_path="outputs/model.joblib",
                               model_framework=Model.Framework.SCIKITLEARN,
                               model_framework_version="0.19.1",
                               resource_configuration=ResourceConfiguration(
                                   cpu=1, memory_in_gb=0.5))
    assert (model.id, model.name, model.version) == ("sklearn-iris:1", "sklearn-iris", 1)
    assert model.model_framework == "ScikitLearn"
    assert model.resource_configuration == ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    assert model.run_id == run.id
    target = model.download(target_dir=str(tmp_path))
    assert target == os.path.join(str(tmp_path), "model.joblib")
    assert open(target, "rb").read() == b"MODEL"
    with pytest.raises(WebserviceException, match="exist_ok"):
        model.download(target_dir=str(tmp_path))
    model.download(target_dir=str(tmp_path), exist_ok=True)
    second = run.register_model("sklearn-iris")  # model_path None: the outputs folder
    assert second.version == 2
    assert Model(workspace, "sklearn-iris").version == 2
    assert Model(workspace, "sklearn-iris", version=1).id == "sklearn-iris:1"
    assert Model(workspace, id="sklearn-iris:1").version == 1
    assert [m.id for m in Model.list(workspace, name="sklearn-iris")] == [
        "sklearn-iris:2", "sklearn-iris:1"]
    assert list(workspace.models) == ["sklearn-iris"]
    with pytest.raises(ModelNotFoundException, match="ModelNotFound"):
        Model(workspace, "nope")


def test_model_register_local_folder_and_get_model_path(workspace, server, tmp_path,
                                                        monkeypatch, capsys):
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"PB")
    (folder / "variables" / "v.data").write_bytes(b"V")
    model = Model.register(workspace, model_path=str(folder), model_name="keras-mnist",
                           tags={"k": "v"})
    assert "Registering model keras-mnist" in capsys.readouterr().out
    assert sorted(f["path"] for f in model.serialize()["files"]) == [
        "model/saved_model.pb", "model/variables/v.data"]
    puts = [p for m, p, q in server.state.requests if m == "PUT" and "/blobs/" in p]
    Model.register(workspace, model_path=str(folder), model_name="keras-mnist")
    puts_after = [p for m, p, q in server.state.requests if m == "PUT" and "/blobs/" in p]
    assert len(puts) == 2 and puts_after == puts  # known blobs are not sent again
    monkeypatch.chdir(tmp_path)
    path = Model.get_model_path("keras-mnist", _workspace=workspace)
    assert path == os.path.join("azureml-models", "keras-mnist", "2", "model")
    assert open(os.path.join(path, "variables", "v.data"), "rb").read() == b"V"
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "azureml-models"))
    assert Model.get_model_path("keras-mnist", version=2) == str(
        tmp_path / "azureml-models" / "keras-mnist" / "2" / "model")


def test_compute_target(workspace):
    target = ComputeTarget(workspace=workspace, name="local")
    assert target.name == "local" and target.type == "local"
    with pytest.raises(ComputeTargetException, match="gpu-cluster not found"):
        ComputeTarget(workspace=workspace, name="gpu-cluster")
    assert list(workspace.compute_targets) == ["local"]


def test_metrics_via_run_fetched_by_id(workspace):
    exp = Experiment(workspace, "exp")
    created = exp.start_logging()
    run = Run(exp, created.id)
    for i in range(1500):
        run.log("i", i)
    run.flush()
    assert run.get_metrics(name="i")["i"][-1] == 1499
    assert len(run.get_metrics()["i"]) == 1500


def test_experiments_listing(workspace):
    Experiment(workspace, "one")
    Experiment(workspace, "two")
    assert sorted(workspace.experiments) == ["one", "two"]


def test_show_output_streams_the_build_log_first(workspace, project, capsys):
    (project / "build.py").write_text("# build\nprint(1)\n")
    run = Experiment(workspace, "exp").submit(ScriptRunConfig(str(project), "build.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    build = "azureml-logs/20_image_build_log.txt"
    assert ("\nStreaming {}\n{}\n\nbuilding env\nbuilt\n"
            "\nStreaming azureml-logs/70_driver_log.txt\n").format(
                build, "=" * (len(build) + 10)) in out
    details = run.get_details_with_logs()
    assert details["logFiles"] == {
        "azureml-logs/20_image_build_log.txt": "building env\nbuilt\n",
        "azureml-logs/70_driver_log.txt": "hello from the script\nsecond line \u00e9\n"}


class FakePlot:
    def savefig(self, buffer, format=None):
        assert format == "png"
        buffer.write(b"\x89PNG fake")


def test_log_image(workspace, tmp_path):
    run = Experiment(workspace, "exp").start_logging()
    run.log_image("curve", plot=FakePlot())
    (tmp_path / "pic.jpg").write_bytes(b"JPG")
    run.log_image("photo", path=str(tmp_path / "pic.jpg"))
    metrics = run.get_metrics()
    assert metrics["curve"].startswith("curve_") and metrics["curve"].endswith(".png")
    assert metrics["photo"].endswith(".jpg")
    assert sorted(run.get_file_names()) == sorted([metrics["curve"], metrics["photo"]])


def test_agent_run_children_log_into_the_spool(server, tmp_path, monkeypatch):
    from trainyard.core import _metrics
    parent = Experiment(Workspace(workspace_name="ws", server_url=server.url,
                                  token=server.token), "exp").start_logging()
    spool = tmp_path / "spool"
    monkeypatch.setattr(_metrics, "_spool_sinks", {})
    for name, value in (("TRAINYARD_RUN_ID", parent.id), ("TRAINYARD_EXPERIMENT", "exp"),
                        ("TRAINYARD_WORKSPACE", "ws"), ("TRAINYARD_SERVER_URL", server.url),
                        ("TRAINYARD_TOKEN", server.token), ("TRAINYARD_SPOOL", str(spool))):
        monkeypatch.setenv(name, value)
    run = Run.get_context()
    assert run.get_status() == "Running"
    child = run.child_run(name="fold-1")
    child.log("auc", 0.8)
    run.log("acc", 0.9)
    lines = [json.loads(l) for l in spool.read_text().splitlines()]
    assert [(l["r"], l["n"]) for l in lines] == [(child.id, "auc"), (parent.id, "acc")]
    assert server.state.metrics == {}  # nothing posted: the agent ships the spool
    assert child.parent.id == parent.id
