"""Fixtures for the end-to-end suite: a real `trainyard server` on a free loopback port.

- `server` (session): one server shared by most tests; TRAINYARD_CONFIG points at its config.
- `make_server` (function): a private server (own data dir and port) for tests that need other
  flags or that kill and restart it; stopped at the end of the test.
- `ws`: the SDK Workspace of the shared server.
- `plain_env`: an Environment that installs nothing and runs this interpreter, so that tests
  that don't need scikit-learn never build a virtual environment.
"""
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import e2e_util  # noqa: E402
from e2e_util import PYTHON_DIR, Server, trainyard_bin  # noqa: E402

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def pytest_collection_modifyitems(config, items):
    # A hung server must not hang CI: every test gets a time limit when pytest-timeout is there.
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(600))


@pytest.fixture(scope="session")
def trainyard_binary():
    b = trainyard_bin()
    assert os.path.isfile(b) and os.access(b, os.X_OK), (
        "trainyard binary not found at %s: build it (cmake --build build) or set TRAINYARD_BIN" % b)
    return b


@pytest.fixture(scope="session")
def server(tmp_path_factory, trainyard_binary):
    srv = Server(tmp_path_factory.mktemp("server")).start()
    old = os.environ.get("TRAINYARD_CONFIG")
    os.environ["TRAINYARD_CONFIG"] = str(srv.config_path)
    yield srv
    srv.stop()
    if old is None:
        os.environ.pop("TRAINYARD_CONFIG", None)
    else:
        os.environ["TRAINYARD_CONFIG"] = old


@pytest.fixture
def make_server(tmp_path, trainyard_binary):
    servers = []

    def make(*extra_args):
        srv = Server(tmp_path / ("server%d" % len(servers)), extra_args=extra_args)
        servers.append(srv)
        return srv.start()

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def ws(server):
    from trainyard.core import Workspace
    return Workspace.from_config()


@pytest.fixture(scope="session")
def plain_env():
    """No packages, this interpreter: a run starts without any environment build."""
    from trainyard.core import Environment
    env = Environment("e2e-plain")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    return env


@pytest.fixture(scope="session")
def completed_run(server, plain_env, tmp_path_factory):
    """One finished script run with metrics, outputs, logs and an .amlignore'd file; shared by
    the read-only tests (files, snapshot, details, CLI)."""
    from trainyard.core import Experiment, ScriptRunConfig, Workspace
    src = tmp_path_factory.mktemp("completed-src")
    e2e_util.write_script(src, "job.py", """
        import os, sys
        from azureml.core.run import Run
        run = Run.get_context()
        print("hello from job.py", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        for i in range(5):
            run.log("loss", 1.0 / (i + 1))
        run.log("answer", 42)
        os.makedirs("outputs/sub", exist_ok=True)
        with open("outputs/hello.txt", "w") as f:
            f.write("hello outputs")
        with open("outputs/sub/data.csv", "w") as f:
            f.write("a,b\\n1,2\\n")
        os.makedirs("logs", exist_ok=True)
        with open("logs/custom.log", "w") as f:
            f.write("custom log line\\n")
    """)
    (src / "helper.py").write_text("X = 1\n")
    (src / "secret.txt").write_text("do not upload\n")
    (src / ".amlignore").write_text("secret.txt\n")
    ws = Workspace.from_config()
    cfg = ScriptRunConfig(source_directory=str(src), script="job.py", environment=plain_env)
    run = Experiment(ws, "e2e-completed").submit(cfg)
    run.wait_for_completion(show_output=False, wait_post_processing=True)
    assert run.get_status() == "Completed", run.get_details()
    return run
