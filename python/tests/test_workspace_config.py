import json
import os

import pytest

from trainyard.core import Workspace
from trainyard.exceptions import UserErrorException


def _write(path, **fields):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))
    return path


def test_walks_up_to_trainyard_config(tmp_path, monkeypatch):
    _write(tmp_path / ".trainyard" / "config.json", name="ws", server_url="http://h:1",
           token="t", data_dir="/d")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    _write(deep / "config.json", unrelated=True)  # not a Trainyard config: skipped
    monkeypatch.chdir(deep)
    ws = Workspace.from_config()
    assert (ws.name, ws.server_url, ws.data_dir) == ("ws", "http://h:1", "/d")
    assert Workspace.get("ws").server_url == "http://h:1"
    with pytest.raises(UserErrorException, match="'other' not found"):
        Workspace.get("other")


def test_trainyard_dir_wins_over_plain_config(tmp_path, monkeypatch):
    _write(tmp_path / "config.json", name="plain", server_url="http://p:1", token="t")
    _write(tmp_path / ".trainyard" / "config.json", name="dot", server_url="http://d:1",
           token="t")
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config().name == "dot"
    assert Workspace.from_config(path=str(tmp_path / "config.json")).name == "plain"


def test_env_var_and_run_environment(tmp_path, monkeypatch):
    _write(tmp_path / ".trainyard" / "config.json", name="walk", server_url="http://w:1",
           token="t")
    other = _write(tmp_path / "elsewhere.json", name="env", server_url="http://e:1", token="t")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRAINYARD_SERVER_URL", "http://run:1")
    monkeypatch.setenv("TRAINYARD_WORKSPACE", "runws")
    monkeypatch.setenv("TRAINYARD_TOKEN", "rt")
    assert Workspace.from_config().name == "runws"
    monkeypatch.setenv("TRAINYARD_CONFIG", str(other))
    assert Workspace.from_config().name == "env"


def test_no_config_says_how_to_create_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException) as info:
        Workspace.from_config()
    assert "trainyard init && trainyard up" in str(info.value)


def test_incomplete_config(tmp_path, monkeypatch):
    _write(tmp_path / ".trainyard" / "config.json", name="ws", server_url="http://h:1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException, match="'token'"):
        Workspace.from_config()


def test_write_config(tmp_path):
    ws = Workspace(workspace_name="ws", server_url="http://h:1/", token="t")
    path = ws.write_config(path=str(tmp_path))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert Workspace.from_config(path=path) == ws
