import os

import pytest

from trainyard.core import Environment, ScriptRunConfig
from trainyard.core.compute import ComputeTarget
from trainyard.core.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration
from trainyard.core.script_run_config import build_script_submission
from trainyard.exceptions import TrainingException, UserErrorException
from trainyard.train.estimator import Estimator


class MountRef:
    def _to_argument(self):
        return {"dataset": "mnist", "mode": "mount"}


def test_script_run_config_body(tmp_path):
    args = ["--data-folder", MountRef(), "--batch-size", 50, "--learning-rate", 0.001, True]
    src = ScriptRunConfig(source_directory=str(tmp_path), script="keras_mnist.py",
                          arguments=args)
    body = build_script_submission(src, tags={"a": 1, "b": None})
    assert body == {
        "kind": "script", "run_id": None, "parent_id": None, "display_name": None,
        "tags": {"a": "1", "b": ""}, "properties": {}, "status": None,
        "config": {"source_directory": str(tmp_path), "script": "keras_mnist.py",
                   "command": None,
                   "arguments": ["--data-folder", {"dataset": "mnist", "mode": "mount"},
                                 "--batch-size", "50", "--learning-rate", "0.001", "True"],
                   "compute_target": "local", "environment": None,
                   "max_run_duration_seconds": 2592000}}


def test_relative_source_directory_becomes_absolute():
    body = build_script_submission(ScriptRunConfig(".", "train.py"))
    assert body["config"]["source_directory"] == os.getcwd()


def test_environment_set_after_construction_is_sent():
    env = Environment("myenv")
    env.python.conda_dependencies.add_pip_package("scikit-learn")
    src = ScriptRunConfig(source_directory=".", script="train_iris.py")
    src.run_config.environment = env
    src.run_config.target = "local"
    spec = build_script_submission(src)["config"]["environment"]
    assert spec["name"] == "myenv"
    assert spec["python"]["conda_dependencies"]["dependencies"] == [{"pip": ["scikit-learn"]}]


def test_modified_default_environment_is_sent():
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = True
    src = ScriptRunConfig(".", "train.py", run_config=rc)
    spec = build_script_submission(src)["config"]["environment"]
    assert spec["python"]["user_managed_dependencies"] is True


def test_compute_target_object_is_sent_by_name(workspace):
    target = ComputeTarget(workspace=workspace, name="local")
    src = ScriptRunConfig(".", "train.py", compute_target=target)
    assert build_script_submission(src)["config"]["compute_target"] == "local"


def test_script_or_command_required():
    with pytest.raises(UserErrorException, match="script"):
        build_script_submission(ScriptRunConfig("."))
    with pytest.raises(UserErrorException):
        ScriptRunConfig(".", script="a.py", command=["python", "a.py"])
    body = build_script_submission(ScriptRunConfig(".", command=["python", "-c", 1]))
    assert body["config"]["command"] == ["python", "-c", "1"]


def test_distributed_config_is_stored():
    src = ScriptRunConfig(".", "train.py", distributed_job_config=MpiConfiguration(
        process_count_per_node=2, node_count=1))
    assert build_script_submission(src)["config"]["distributed_job_config"] == {
        "type": "mpi", "process_count_per_node": 2, "node_count": 1}


def test_estimator_submits_like_script_run_config(tmp_path):
    est = Estimator(source_directory=str(tmp_path), entry_script="train.py",
                    script_params={"--data-folder": MountRef(), "--regularization": 0.8,
                                   "--verbose": ""},
                    compute_target="local", conda_packages=["scikit-learn"])
    env = Environment("estimator-environment")
    env.python.conda_dependencies.add_conda_package("scikit-learn")
    src = ScriptRunConfig(str(tmp_path), "train.py",
                          arguments=["--data-folder", MountRef(), "--regularization", 0.8,
                                     "--verbose"],
                          compute_target="local", environment=env,
                          max_run_duration_seconds=None)
    assert build_script_submission(est) == build_script_submission(src)


def test_estimator_distributed_and_docker():
    est = Estimator(source_directory=".", entry_script="train.py", node_count=2,
                    process_count_per_node=1, distributed_training=MpiConfiguration(),
                    conda_packages=["tensorflow", "keras"],
                    custom_docker_image="continuumio/miniconda")
    config = build_script_submission(est)["config"]
    assert config["distributed_job_config"] == {"type": "mpi", "process_count_per_node": 1,
                                                "node_count": 2}
    assert config["environment"]["docker"] == {"enabled": True,
                                               "base_image": "continuumio/miniconda"}
    torch = Estimator(".", entry_script="t.py", node_count=2, process_count_per_node=4,
                      distributed_training=PyTorchConfiguration())
    assert build_script_submission(torch)["config"]["distributed_job_config"][
        "process_count"] == 8


def test_estimator_environment_conflicts():
    with pytest.raises(TrainingException):
        Estimator(".", entry_script="t.py", environment_definition=Environment("e"),
                  pip_packages=["x"])
    with pytest.raises(TrainingException):
        Estimator(".")
