"""Web services end to end: Model.deploy -> a supervised `trainyard serve` process -> scoring
over real HTTP. The no-code test builds the scikit-learn inference environment (a real pip
install, cached per workspace); the entry-script tests use this interpreter (user-managed)."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from e2e_util import http, wait_for, write_script

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5],
             [4.9, 3.1, 1.5, 0.1]]


def train_iris(path):
    import joblib
    from sklearn import datasets, svm
    X, y = datasets.load_iris(return_X_y=True)
    clf = svm.SVC(kernel="linear", C=1.0).fit(X, y)
    joblib.dump(clf, str(path))
    return clf


def score_raw(uri, body, key=None, content_type="application/json", headers=None):
    h = {"Content-Type": content_type} if content_type else {}
    h.update(headers or {})
    data = body if isinstance(body, bytes) else body.encode()
    return http("POST", uri, body=data, token=key, headers=h)


def message(body):
    return json.loads(body)["message"]


ENTRY_SCRIPT = """
import json, os, time
from azureml.core.model import Model

model = None

def init():
    global model
    import joblib
    path = Model.get_model_path("{model}")
    model = joblib.load(path)
    print("init loaded", os.path.basename(path), "from AZUREML_MODEL_DIR", flush=True)

def run(raw_data):
    if raw_data == '"crash"':
        os._exit(7)
    if raw_data.startswith('{{"sleep"'):
        time.sleep(json.loads(raw_data)["sleep"])
    data = json.loads(raw_data)["data"]
    return {{"predictions": model.predict(data).tolist(), "raw_type": type(raw_data).__name__,
             "version": "{version}", "pid": os.getpid()}}
"""


def entry_source(tmp_path, model_name, version="v1", extra=""):
    src = tmp_path / ("src-" + version)
    write_script(src, "score.py", ENTRY_SCRIPT.format(model=model_name, version=version) + extra)
    return src


@pytest.fixture
def iris_model(ws, tmp_path):
    from trainyard.core import Model
    path = tmp_path / "model.joblib"
    clf = train_iris(path)
    model = Model.register(ws, model_path=str(path), model_name="sklearn-iris-svc",
                           model_framework=Model.Framework.SCIKITLEARN,
                           model_framework_version="1.0")
    return model, clf


def test_nocode_iris_deploy_score_and_bad_input(ws, iris_model):
    """The seed's no-code `Model.deploy(ws, name, [model])`; scores equal the model's predict."""
    from trainyard.core import Model, Webservice
    from trainyard.core.webservice import AciWebservice, WebserviceException
    model, clf = iris_model
    service = Model.deploy(ws, "iris-nocode-svc", [model])
    assert service.state == "Transitioning"
    service.wait_for_deployment(show_output=True)
    assert service.state == "Healthy", service.get_logs()
    try:
        preds = service.run(json.dumps({"data": IRIS_ROWS}))
        assert preds == clf.predict(IRIS_ROWS).tolist()
        assert isinstance(Webservice(ws, "iris-nocode-svc"), AciWebservice)
        assert "iris-nocode-svc" in ws.webservices

        uri = service.scoring_uri
        # Request ids: passed through, or generated.
        status, headers, body = score_raw(uri, json.dumps({"data": IRIS_ROWS[:1]}),
                                          headers={"x-request-id": "req-123"})
        assert status == 200 and headers.get("x-request-id") == "req-123", (status, headers)
        status, headers, _ = score_raw(uri, json.dumps({"data": IRIS_ROWS[:1]}))
        assert status == 200 and len(headers.get("x-request-id", "")) == 36
        # Health probe and swagger.
        base = uri.rsplit("/", 1)[0]
        assert http("GET", base + "/")[2] == b"Healthy"
        swagger = json.loads(http("GET", service.swagger_uri)[2])
        assert swagger["swagger"] == "2.0" and "/score" in swagger["paths"]

        # Bad input: each a clear 4xx with {"message"}.
        status, _, body = score_raw(uri, '{"data": [[1, 2')
        assert status == 400 and "not valid JSON" in message(body)
        status, _, body = score_raw(uri, json.dumps({"data": [[1.0, 2.0]]}))
        assert status == 400 and "needs 4 values" in message(body)
        status, _, body = score_raw(uri, json.dumps({"data": [1.0, 2.0, 3.0, 4.0]}))
        assert status == 400 and "2 dimensions" in message(body)
        status, _, body = score_raw(uri, json.dumps({"rows": IRIS_ROWS}))
        assert status == 400 and '{"data"' in message(body)
        status, _, body = score_raw(uri, json.dumps({"data": [["a", "b", "c", "d"]]}))
        assert status == 400 and "numbers" in message(body)
        status, _, body = score_raw(uri, "a,b,c", content_type="text/csv")
        assert status == 415 and "application/json" in message(body)
        status, _, body = score_raw(uri, "")
        assert status == 400 and "empty" in message(body)
        status, _, body = http("PUT", uri, body=b"{}")
        assert status == 405
        with pytest.raises(WebserviceException) as exc:
            service.run({"data": [[1]]})
        assert exc.value.status_code == 400

        metrics = http("GET", base + "/metrics")[2].decode()
        assert 'trainyard_serve_requests_total{route="score",code="200"}' in metrics
        assert 'trainyard_serve_requests_total{route="score",code="415"} 1' in metrics
        assert "trainyard_serve_request_duration_seconds_bucket" in metrics
        assert "trainyard_serve_workers 1" in metrics
        assert "no-code scorer: loaded model.joblib" in service.get_logs()
    finally:
        service.delete()
    with pytest.raises(WebserviceException) as exc:
        Webservice(ws, "iris-nocode-svc")
    assert exc.value.status_code == 404


def test_deploy_validation(server, ws, iris_model, tmp_path):
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    from trainyard.core.webservice import WebserviceException
    model, _ = iris_model
    other = Model.register(ws, model_path=str(tmp_path / "model.joblib"), model_name="no-fw")
    with pytest.raises(WebserviceException) as exc:
        Model.deploy(ws, "no-framework", [other])
    assert "InferenceConfig" in str(exc.value)
    # The server checks too (a client that skips the SDK).
    url = server.url + "/api/v1/services"
    status, _, body = http("POST", url, {"name": "no-framework", "models": [{"name": "no-fw"}]},
                           token=server.token)
    assert status == 400 and b"InferenceConfig" in body, body
    for bad in ("ab", "Upper-case", "1starts-with-digit", "ends-with-", "x" * 33, "has_under"):
        status, _, body = http("POST", url, {"name": bad, "models": [{"name": model.name}]},
                               token=server.token)
        assert status == 400 and b"3 to 32 characters" in body, (bad, body)
    status, _, body = http("POST", url, {"name": "missing-model", "models": [{"name": "nope"}]},
                           token=server.token)
    assert status == 404 and b"nope" in body
    src = tmp_path / "src"
    src.mkdir()
    status, _, body = http("POST", url, {
        "name": "no-entry", "models": [{"name": model.name}],
        "inference_config": {"entry_script": "score.py", "source_directory": str(src)}},
        token=server.token)
    assert status == 400 and b"score.py" in body
    with pytest.raises(WebserviceException):
        InferenceConfig(entry_script="missing.py", source_directory=str(src))
    status, _, body = http("GET", url + "/nope-service", token=server.token)
    assert status == 404
    assert http("GET", url)[0] == 401  # the workspace token guards the management API


def test_entry_script_auth_keys_crash_and_timeout(ws, iris_model, tmp_path, plain_env):
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    from trainyard.core.webservice import AciWebservice, WebserviceException
    model, clf = iris_model
    src = entry_source(tmp_path, model.name)
    inference_config = InferenceConfig(entry_script="score.py", source_directory=str(src),
                                       environment=plain_env)
    deployment_config = AciWebservice.deploy_configuration(
        cpu_cores=1, memory_gb=1, auth_enabled=True, workers=2, scoring_timeout_ms=3000,
        max_request_bytes=4096, tags={"area": "e2e"})
    service = Model.deploy(ws, "entry-script-svc", [model], inference_config,
                           deployment_config)
    service.wait_for_deployment()
    try:
        assert service.state == "Healthy" and service.auth_enabled
        out = service.run(json.dumps({"data": IRIS_ROWS}))
        assert out["predictions"] == clf.predict(IRIS_ROWS).tolist()
        assert out["raw_type"] == "str"
        assert "init loaded model.joblib" in service.get_logs()

        uri = service.scoring_uri
        body = json.dumps({"data": IRIS_ROWS[:1]})
        primary, secondary = service.get_keys()
        assert primary and secondary and primary != secondary
        status, headers, resp = score_raw(uri, body)
        assert status == 401 and "Authorization" in message(resp)
        assert score_raw(uri, body, key="wrong")[0] == 401
        assert score_raw(uri, body, key=primary)[0] == 200
        assert score_raw(uri, body, key=secondary)[0] == 200
        service.regen_key("Primary")
        new_primary, same_secondary = service.get_keys()
        assert new_primary != primary and same_secondary == secondary
        assert score_raw(uri, body, key=primary)[0] == 401
        assert score_raw(uri, body, key=new_primary)[0] == 200
        assert score_raw(uri, body, key=secondary)[0] == 200
        # Health and swagger need no key.
        assert http("GET", uri.rsplit("/", 1)[0] + "/")[0] == 200

        # Body limit.
        status, _, resp = score_raw(uri, json.dumps({"data": [[1.0] * 4] * 400}),
                                    key=new_primary)
        assert status == 413 and "4096" in message(resp)

        # A worker that dies answers 500, and the next requests are served.
        status, _, resp = score_raw(uri, '"crash"', key=new_primary)
        assert status == 500 and "died" in message(resp), resp
        for _ in range(4):
            assert score_raw(uri, body, key=new_primary)[0] == 200
        metrics_url = uri.rsplit("/", 1)[0] + "/metrics"
        wait_for(lambda: "trainyard_serve_workers 2" in http("GET", metrics_url)[2].decode(),
                 timeout=60, what="the crashed worker replaced")
        # A request past the timeout gets 504; its worker is replaced, the other one serves.
        t0 = time.time()
        status, _, resp = score_raw(uri, json.dumps({"sleep": 30}), key=new_primary)
        assert status == 504 and time.time() - t0 < 20, resp
        for _ in range(4):
            assert score_raw(uri, body, key=new_primary)[0] == 200
        metrics = http("GET", uri.rsplit("/", 1)[0] + "/metrics")[2].decode()
        assert 'code="504"} 1' in metrics and 'code="401"} 3' in metrics, metrics
        wait_for(lambda: "trainyard_serve_workers 2" in http("GET", metrics_url)[2].decode(),
                 timeout=60, what="two live workers again")
        with pytest.raises(WebserviceException) as exc:
            service.run('"crash"')
        assert exc.value.status_code == 500
        assert service.tags == {"area": "e2e"}
    finally:
        service.delete()


def test_failing_init_is_failed_with_traceback(ws, iris_model, tmp_path, plain_env):
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    from trainyard.core.webservice import WebserviceException
    model, _ = iris_model
    src = tmp_path / "bad"
    write_script(src, "score.py", """
        def init():
            raise ValueError("no model here")

        def run(raw_data):
            return 1
    """)
    service = Model.deploy(ws, "failing-init", [model],
                           InferenceConfig(entry_script="score.py", source_directory=str(src),
                                           environment=plain_env))
    try:
        with pytest.raises(WebserviceException) as exc:
            service.wait_for_deployment()
        assert "ValueError: no model here" in str(exc.value)
        assert service.state == "Failed"
        assert "Traceback" in service.error["traceback"]
        logs = service.get_logs()
        assert "Traceback (most recent call last)" in logs and "no model here" in logs
    finally:
        service.delete()


def test_update_without_dropped_requests(ws, iris_model, tmp_path, plain_env):
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    from trainyard.core.webservice import LocalWebservice, WebserviceException
    model, clf = iris_model

    def config(version, extra=""):
        return InferenceConfig(entry_script="score.py", environment=plain_env,
                               source_directory=str(entry_source(tmp_path, model.name,
                                                                 version, extra)))

    service = Model.deploy(ws, "update-svc", [model], config("v1"),
                           LocalWebservice.deploy_configuration(workers=2))
    service.wait_for_deployment()
    assert isinstance(service, LocalWebservice)
    body = json.dumps({"data": IRIS_ROWS[:2]})
    seen, failures = [], []
    stop = threading.Event()

    def load():
        from trainyard.core import Webservice
        client = Webservice(ws, "update-svc")
        while not stop.is_set():
            try:
                seen.append(client.run(body)["version"])
            except Exception as exc:  # noqa: B902 - every failure counts
                failures.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(seen) > 50, what="requests before the update")
        service.update(inference_config=config("v2"))
        assert service.state == "Transitioning"
        service.wait_for_deployment()
        n = len(seen)
        wait_for(lambda: len(seen) > n + 50, what="requests after the update")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [], failures[:5]
    assert "v1" in seen and "v2" in seen
    assert seen[-1] == "v2" and service.state == "Healthy"
    try:
        # A failing update leaves the running version serving.
        with pytest.raises(WebserviceException) as exc:
            service.update(inference_config=config("v3", extra="\nraise RuntimeError('v3 is broken')\n"))
            service.wait_for_deployment()
        assert "v3 is broken" in str(exc.value) and "keeps serving" in str(exc.value)
        assert service.state == "Healthy"
        assert service.run(body)["version"] == "v2"
    finally:
        service.delete()


def test_supervisor_restarts_and_server_restart(make_server, tmp_path, plain_env):
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    srv = make_server()
    ws = srv.workspace()
    path = tmp_path / "model.joblib"
    train_iris(path)
    model = Model.register(ws, model_path=str(path), model_name="iris",
                           model_framework=Model.Framework.SCIKITLEARN)
    src = entry_source(tmp_path, "iris")
    service = Model.deploy(ws, "restart-svc", [model],
                           InferenceConfig(entry_script="score.py", source_directory=str(src),
                                           environment=plain_env))
    service.wait_for_deployment()
    body = json.dumps({"data": IRIS_ROWS[:1]})
    uri = service.scoring_uri
    assert score_raw(uri, body)[0] == 200

    # The front crashes: Unhealthy, then restarted by the supervisor on the same port.
    status = json.loads((srv.data_dir / "services" / "restart-svc" / "status.json").read_text())
    os.kill(status["pid"], signal.SIGKILL)
    wait_for(lambda: ws.webservices["restart-svc"].state == "Unhealthy", timeout=10,
             what="Unhealthy")
    wait_for(lambda: ws.webservices["restart-svc"].state == "Healthy", timeout=30,
             what="Healthy again")
    assert score_raw(uri, body)[0] == 200

    # Graceful server restart: the service comes back on its URI.
    srv.restart()
    ws = srv.workspace()
    wait_for(lambda: ws.webservices["restart-svc"].state == "Healthy", timeout=60,
             what="Healthy after restart")
    assert ws.webservices["restart-svc"].scoring_uri == uri
    assert score_raw(uri, body)[0] == 200

    # A killed server: its fronts stop on their own, the next server starts them again.
    srv.kill()
    wait_for(lambda: score_raw_or_none(uri, body) is None, timeout=10, what="front gone")
    srv.start()
    wait_for(lambda: ws.webservices["restart-svc"].state == "Healthy", timeout=60,
             what="Healthy after kill")
    assert score_raw(uri, body)[0] == 200


def score_raw_or_none(uri, body):
    try:
        return score_raw(uri, body, headers={"Connection": "close"})[0]
    except OSError:
        return None


def test_service_cli(server, ws, iris_model, tmp_path, trainyard_binary):
    model, clf = iris_model
    src = entry_source(tmp_path, model.name)
    import sys
    env = server.env()

    def cli(*args, check=True):
        p = subprocess.run([trainyard_binary, "service"] + list(args), cwd=str(server.project_dir),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=300)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    p = cli("deploy", "--name", "cli-svc", "--model", "%s:%d" % (model.name, model.version),
            "--entry-script", str(src / "score.py"), "--python", sys.executable, "--auth",
            "--json")
    shown = json.loads(p.stdout)
    assert shown["state"] == "Healthy" and shown["auth_enabled"] is True
    try:
        assert "cli-svc" in cli("list").stdout
        assert json.loads(cli("show", "cli-svc", "--json").stdout)["name"] == "cli-svc"
        out = cli("score", "cli-svc", "--data", json.dumps({"data": IRIS_ROWS})).stdout
        assert json.loads(out)["predictions"] == clf.predict(IRIS_ROWS).tolist()
        keys = json.loads(cli("keys", "cli-svc", "--json").stdout)
        regen = json.loads(cli("keys", "cli-svc", "--regen", "secondary", "--json").stdout)
        assert regen["primaryKey"] == keys["primaryKey"]
        assert regen["secondaryKey"] != keys["secondaryKey"]
        assert "init loaded" in cli("logs", "cli-svc").stdout
        bad = cli("score", "cli-svc", "--data", "{oops", check=False)
        assert bad.returncode == 2 and "not valid JSON" in bad.stdout
        assert cli("show", "no-such-svc", check=False).returncode == 3
        assert cli("deploy", "--name", "Bad_Name", "--model", model.name,
                   check=False).returncode == 2
    finally:
        cli("delete", "cli-svc")
    assert "cli-svc" not in cli("list").stdout


def test_nocode_xgboost_is_scored_natively(ws, tmp_path):
    import sys
    from e2e_util import REPO
    sys.path.insert(0, str(REPO / "bench"))
    from xgb_ctypes import label, sample_rows, train_xgboost_model
    from trainyard.core import Model
    path = train_xgboost_model(tmp_path / "model.json")
    model = Model.register(ws, model_path=path, model_name="xgb-native",
                           model_framework=Model.Framework.XGBOOST)
    service = Model.deploy(ws, "xgb-native-svc", [model])
    service.wait_for_deployment()
    try:
        rows = sample_rows(50, 4, seed=11)
        probs = service.run({"data": rows})
        assert len(probs) == 50 and all(0.0 <= p <= 1.0 for p in probs)
        accuracy = sum((p > 0.5) == (label(r) > 0.5) for p, r in zip(probs, rows)) / 50
        assert accuracy >= 0.9, accuracy
        assert service.run([0.9, 0.9, 0.1, 0.1])[0] > 0.5  # one row without "data"
        status, _, body = score_raw(service.scoring_uri, json.dumps({"data": [[1, 2]]}))
        assert status == 400 and "needs 4 values" in message(body)
        # No Python workers: the front scores in-process.
        metrics = http("GET", service.scoring_uri.rsplit("/", 1)[0] + "/metrics")[2].decode()
        assert "trainyard_serve_workers" not in metrics
    finally:
        service.delete()
