import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, HERE)
# The real server harness of the end-to-end suite (tests/e2e/e2e_util.py).
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

_RUN_VARS = ("TRAINYARD_RUN_ID", "TRAINYARD_EXPERIMENT", "TRAINYARD_WORKSPACE",
             "TRAINYARD_SERVER_URL", "TRAINYARD_TOKEN", "TRAINYARD_SPOOL",
             "TRAINYARD_OUTPUTS_DIR", "TRAINYARD_DATA_DIR", "TRAINYARD_CONFIG",
             "AZUREML_MODEL_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No test sees a run environment or a config it did not set up itself."""
    for name in _RUN_VARS:
        monkeypatch.delenv(name, raising=False)
    import trainyard.core.run as run_module
    monkeypatch.setattr(run_module, "_context_run", None)
    yield


@pytest.fixture
def server(tmp_path):
    """A real `trainyard server` (the built binary; TRAINYARD_BIN overrides) on a free loopback
    port with its own data directory and environment cache, stopped after the test."""
    from e2e_util import Server, trainyard_bin
    binary = trainyard_bin()
    assert os.access(binary, os.X_OK), (
        "trainyard binary not found at %s: build it (cmake --build build) or set TRAINYARD_BIN"
        % binary)
    # Its own environment cache (<data dir>/envs), as before the machine-wide cache of issue
    # 18: a test that asks for a build gets one.
    srv = Server(tmp_path / "server", env=dict(os.environ, TRAINYARD_ENV_CACHE="")).start()
    yield srv
    srv.stop()


@pytest.fixture
def workspace(server):
    from trainyard.core import Workspace
    return Workspace(workspace_name="ws", server_url=server.url, token=server.token)


@pytest.fixture
def plain_env():
    """This interpreter, nothing installed: runs start without building an environment."""
    from trainyard.core import Environment
    env = Environment("sdk-tests-plain")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    return env


class RequestLog:
    """What the SDK asked the server: (method, path, query) per request, recorded on the client
    side by wrapping RestClient.request (the server is the real one)."""

    def __init__(self):
        self.requests = []

    def matching(self, method, fragment):
        return [p for m, p, q in self.requests if m == method and fragment in p]


@pytest.fixture
def request_log(monkeypatch):
    from urllib.parse import urlencode
    from trainyard._http import RestClient
    log = RequestLog()
    original = RestClient.request

    def recording(self, method, path, params=None, *args, **kwargs):
        query = urlencode(params or {}, doseq=True) if isinstance(params, dict) else ""
        log.requests.append((method, path, query))
        return original(self, method, path, params, *args, **kwargs)

    monkeypatch.setattr(RestClient, "request", recording)
    return log
