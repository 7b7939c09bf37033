"""The SDK's client flows against a real `trainyard server` (the built binary on a loopback
port, see conftest.py). What the SDK sends is observed on the client side (``request_log``)."""

import io
import json
import os

import pytest

from trainyard.core import Environment, Experiment, Model, Run, ScriptRunConfig, Workspace
from trainyard.core.compute import ComputeTarget
from trainyard.core.compute_target import ComputeTargetException
from trainyard.core.resource_configuration import ResourceConfiguration
from trainyard.exceptions import (ActivityFailedException, AuthenticationException,
                                  ModelNotFoundException, ServiceException,
                                  UserErrorException, WebserviceException)

DRIVER_LOG = "azureml-logs/70_driver_log.txt"
BUILD_LOG = "azureml-logs/20_image_build_log.txt"


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "project"
    src.mkdir()
    (src / "train.py").write_text(
        "print('hello from the script', flush=True)\n"
        "print('second line \\u00e9', flush=True)\n")
    (src / "fail.py").write_text("import sys\nsys.exit(3)\n")
    (src / "boom.py").write_text("def f():\n    raise RuntimeError('boom')\n\n\nf()\n")
    (src / "model.py").write_text(
        "import os\nos.makedirs('outputs', exist_ok=True)\n"
        "open('outputs/model.joblib', 'wb').write(b'MODEL')\n")
    return src


@pytest.fixture
def submit(workspace, project, plain_env):
    """Submits a script of ``project`` run by this interpreter (no environment build)."""

    def go(script, experiment="exp", arguments=None, tags=None):
        cfg = ScriptRunConfig(str(project), script, arguments=arguments, environment=plain_env)
        return Experiment(workspace, experiment).submit(cfg, tags=tags)

    return go


def test_submit_and_wait(workspace, server, submit, project, request_log):
    run = submit("train.py", experiment="train-sklearn", arguments=["--a", 1], tags={"t": "v"})
    assert Experiment(workspace, "train-sklearn").id
    assert run.get_status() in ("Queued", "Preparing", "Starting", "Running", "Finalizing",
                                "Completed")
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    assert details["runId"] == run.id
    assert details["runDefinition"]["script"] == "train.py"
    assert details["runDefinition"]["arguments"] == ["--a", "1"]
    assert details["target"] == "local"
    assert "startTimeUtc" in details and "endTimeUtc" in details
    assert details["logFiles"][DRIVER_LOG] == (
        server.url + "/api/v1/runs/" + run.id + "/logs/azureml-logs/70_driver_log.txt")
    assert run.tags == {"t": "v"}
    long_polls = [q for m, p, q in request_log.requests if "wait_ms=" in q]
    assert long_polls, "wait_for_completion must long-poll"
    assert len(request_log.requests) < 25


def test_wait_with_show_output(submit, capsys):
    run = submit("train.py")
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    url = run.get_portal_url()
    head = "RunId: {id}\nWeb View: {url}\n\n".format(id=run.id, url=url)
    driver = ("Streaming azureml-logs/70_driver_log.txt\n"
              "========================================\n\n"
              "hello from the script\nsecond line \u00e9\n")
    tail = "\nExecution Summary\n=================\n" + head
    assert out.startswith(head) and out.endswith(tail)
    middle = out[len(head):-len(tail)]
    # The environment's build log (one line for a user-managed interpreter) may come first.
    if middle.startswith("Streaming " + BUILD_LOG):
        middle = middle[middle.index("\n\nStreaming azureml-logs/70") + 2:]
    assert middle == driver


def test_failed_run_raises(submit, capsys):
    run = submit("fail.py")
    with pytest.raises(ActivityFailedException) as info:
        run.wait_for_completion(show_output=True)
    assert "exit code 3" in str(info.value).lower() or "code 3" in str(info.value)
    out = capsys.readouterr().out
    assert "Execution Summary" in out and "Error:" not in out  # raised, not printed twice
    details = run.wait_for_completion(show_output=True, raise_on_error=False)
    assert "\nError:\n{\n    \"error\": {" in capsys.readouterr().out
    assert details["status"] == "Failed"
    assert "3" in details["error"]["error"]["message"]


def test_failed_run_carries_the_traceback(submit):
    run = submit("boom.py")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "RuntimeError: boom" in details["error"]["error"]["traceback"]


def test_server_errors_carry_the_message(workspace, project, plain_env):
    with pytest.raises(UserErrorException, match="nope.py") as info:
        Experiment(workspace, "exp").submit(
            ScriptRunConfig(str(project), "nope.py", environment=plain_env))
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


def _raw_metrics(server, run_id):
    from e2e_util import http
    status, _, body = http("GET", server.url + "/api/v1/runs/%s/metrics/raw" % run_id,
                           token=server.token)
    assert status == 200, body
    return json.loads(body)


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
    # Every point reached the store: the server drops a point whose (run, seq) it has, so
    # reused sequence numbers would lose some.
    points = _raw_metrics(server, run.id)["points"]
    assert sorted(p["name"] for p in points) == ["acc", "acc", "l", "r"]


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


def test_restore_snapshot(submit, tmp_path):
    run = submit("train.py")
    run.wait_for_completion()
    assert run.restore_snapshot(path=str(tmp_path / "snap")) == str(tmp_path / "snap")
    assert (tmp_path / "snap" / "train.py").read_text().startswith("print('hello from")


def test_register_model_from_run_and_download(workspace, submit, tmp_path):
    run = submit("model.py")
    run.wait_for_completion(wait_post_processing=True)
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


def test_model_register_local_folder_and_get_model_path(workspace, tmp_path, monkeypatch,
                                                        capsys, request_log):
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"PB")
    (folder / "variables" / "v.data").write_bytes(b"V")
    model = Model.register(workspace, model_path=str(folder), model_name="keras-mnist",
                           tags={"k": "v"})
    assert "Registering model keras-mnist" in capsys.readouterr().out
    assert sorted(f["path"] for f in model.serialize()["files"]) == [
        "model/saved_model.pb", "model/variables/v.data"]
    puts = request_log.matching("PUT", "/blobs/")
    Model.register(workspace, model_path=str(folder), model_name="keras-mnist")
    puts_after = request_log.matching("PUT", "/blobs/")
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
    # An environment with no packages: a real (small) venv build whose log comes first.
    env = Environment("sdk-tests-empty-venv")
    run = Experiment(workspace, "exp").submit(
        ScriptRunConfig(str(project), "train.py", environment=env))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    build_header = "\nStreaming {}\n{}\n\n".format(BUILD_LOG, "=" * (len(BUILD_LOG) + 10))
    driver_header = "\nStreaming {}\n".format(DRIVER_LOG)
    assert build_header in out and driver_header in out
    assert out.index(build_header) < out.index(driver_header)
    assert "hello from the script" in out[out.index(driver_header):]
    details = run.get_details_with_logs()
    assert "hello from the script\nsecond line \u00e9\n" in details["logFiles"][DRIVER_LOG]
    assert details["logFiles"][BUILD_LOG].strip()


class PngPlot:
    """The part of matplotlib's pyplot that log_image(plot=...) uses."""

    def savefig(self, buffer, format=None):
        assert format == "png"
        buffer.write(b"\x89PNG\r\n\x1a\n")


def test_log_image(workspace, tmp_path):
    run = Experiment(workspace, "exp").start_logging()
    run.log_image("curve", plot=PngPlot())
    (tmp_path / "pic.jpg").write_bytes(b"JPG")
    run.log_image("photo", path=str(tmp_path / "pic.jpg"))
    metrics = run.get_metrics()
    prefix = "aml://artifactId/ExperimentRun/dcid.%s/" % run.id
    assert metrics["curve"].startswith(prefix + "curve_") and metrics["curve"].endswith(".png")
    assert metrics["photo"].startswith(prefix) and metrics["photo"].endswith(".jpg")
    files = run.get_file_names()
    assert sorted(files) == sorted(m[len(prefix):] for m in (metrics["curve"], metrics["photo"]))
    run.download_file(files[0] if files[0].endswith(".png") else files[1],
                      output_file_path=str(tmp_path / "curve.png"))
    assert (tmp_path / "curve.png").read_bytes() == b"\x89PNG\r\n\x1a\n"


def test_agent_run_children_log_into_the_spool(workspace, server, tmp_path, monkeypatch):
    from trainyard.core import _metrics
    parent = Experiment(workspace, "exp").start_logging()
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
    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(x["r"], x["n"]) for x in lines] == [(child.id, "auc"), (parent.id, "acc")]
    # Nothing was posted: in a run the agent ships the spool.
    assert parent.get_metrics() == {} and child.get_metrics() == {}
    assert child.parent.id == parent.id
