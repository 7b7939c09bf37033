import os
import sys

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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
def server():
    from fake_server import FakeServer
    with FakeServer() as srv:
        yield srv


@pytest.fixture
def workspace(server):
    from trainyard.core import Workspace
    return Workspace(workspace_name="ws", server_url=server.url, token=server.token)
