"""Deployment and inference configurations of the SDK (no server needed)."""
import os

import pytest

from trainyard.core.model import InferenceConfig
from trainyard.core.webservice import (AciWebservice, AksWebservice, LocalWebservice,
                                       WebserviceException)


def test_aci_configuration_body():
    cfg = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=0.5, auth_enabled=True,
                                             tags={"a": "b"}, description="d", workers=3)
    assert cfg._to_body() == {"compute_type": "ACI", "cpu_cores": 1, "memory_gb": 0.5,
                              "tags": {"a": "b"}, "description": "d", "auth_enabled": True,
                              "workers": 3}
    assert AciWebservice.deploy_configuration(replicas=2).workers == 2
    assert AksWebservice.deploy_configuration(num_replicas=4)._to_body()["workers"] == 4


def test_local_configuration_body():
    cfg = LocalWebservice.deploy_configuration(port=8890)
    assert cfg._to_body() == {"compute_type": "Local", "port": 8890}


@pytest.mark.parametrize("kwargs", [{"cpu_cores": 0}, {"memory_gb": -1}, {"workers": 0},
                                    {"workers": 65}, {"auth_enabled": "yes"},
                                    {"tags": ["x"]}, {"ssl_enabled": True},
                                    {"primary_key": "k"}])
def test_bad_configuration_is_rejected(kwargs):
    with pytest.raises(WebserviceException):
        AciWebservice.deploy_configuration(**kwargs)


def test_inference_config_resolves_paths(tmp_path, monkeypatch):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "score.py").write_text("def run(x):\n    return x\n")
    cfg = InferenceConfig(entry_script="pkg/score.py", source_directory=str(tmp_path / "src"))
    body = cfg._to_body()
    assert body["entry_script"] == "pkg/score.py"
    assert body["source_directory"] == str(tmp_path / "src")
    assert body["environment"] is None
    # Without source_directory, the entry script's folder is the source directory.
    monkeypatch.chdir(tmp_path / "src")
    body = InferenceConfig(entry_script=os.path.join("pkg", "score.py"))._to_body()
    assert body["entry_script"] == "score.py"
    assert body["source_directory"] == str(tmp_path / "src" / "pkg")
    with pytest.raises(WebserviceException):
        InferenceConfig(entry_script="missing.py", source_directory=str(tmp_path / "src"))
    with pytest.raises(WebserviceException):
        InferenceConfig(entry_script=None)
