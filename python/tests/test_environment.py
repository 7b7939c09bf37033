import pytest

from trainyard.core import Environment
from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.exceptions import UserErrorException

SEED = """\
name: sklearn-training-env
dependencies:
  - python=3.6.2
  - scikit-learn
  - numpy
  - pip:
    - azureml-defaults
"""


def test_from_conda_specification_spec(tmp_path):
    path = tmp_path / "sklearn-env.yml"
    path.write_text(SEED)
    env = Environment.from_conda_specification(name="myenv", file_path=str(path))
    env.docker.enabled = True
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.0-cudnn7-ubuntu18.04"
    env.environment_variables["K"] = 1
    assert env._to_spec() == {
        "name": "myenv", "version": None,
        "python": {"user_managed_dependencies": False, "interpreter_path": None,
                   "conda_dependencies": {
                       "name": "sklearn-training-env", "channels": [],
                       "dependencies": ["python=3.6.2", "scikit-learn", "numpy",
                                        {"pip": ["azureml-defaults"]}]}},
        "pip_requirements": None,
        "environment_variables": {"K": "1"},
        "docker": {"enabled": True, "base_image": env.docker.base_image}}
    assert env.python.conda_dependencies.get_python_version() == "3.6.2"


@pytest.mark.parametrize("text,line,fragment", [
    ("name: x\ndependencies:\n  - python=3.8\n  - {pip: [a]}\n", 4, "flow mappings"),
    ("name: x\ndependencies:\n  - python=3.8\n  - 3\n", 4, "dependency 3"),
    ("name: x\nchannel: [a]\n", 2, "unknown key 'channel'"),
    ("name: x\ndependencies:\n  - pip: numpy\n", 3, "'pip' must be a list"),
    ("name: x\ndependencies:\n  - pip:\n    - [a]\n", 4, "pip requirement"),
    ("name: [x]\n", 1, "'name' must be a non-empty string"),
])
def test_bad_conda_file_names_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "env.yml"
    path.write_text(text)
    with pytest.raises(UserErrorException) as info:
        Environment.from_conda_specification("e", str(path))
    message = str(info.value)
    assert str(path) in message
    assert "line {}".format(line) in message
    assert fragment in message


def test_missing_conda_file(tmp_path):
    with pytest.raises(UserErrorException, match="Cannot read conda specification"):
        Environment.from_conda_specification("e", str(tmp_path / "nope.yml"))


def test_conda_dependencies_editing():
    cd = CondaDependencies.create(conda_packages=["numpy", "scikit-learn"],
                                  pip_packages=["joblib==1.0"], python_version="3.8")
    cd.add_pip_package("joblib==1.2")
    cd.add_conda_package("numpy=1.21")
    cd.add_channel("conda-forge")
    cd.add_channel("conda-forge")
    assert cd.as_dict() == {"name": "project_environment", "channels": ["conda-forge"],
                            "dependencies": ["python=3.8", "numpy=1.21", "scikit-learn",
                                             {"pip": ["joblib==1.2"]}]}
    assert cd.conda_packages == ["python=3.8", "numpy=1.21", "scikit-learn"]
    assert cd.pip_packages == ["joblib==1.2"]
    cd.set_pip_option("--index-url https://example.com/simple")
    assert cd.pip_options == ["--index-url https://example.com/simple"]
    cd.remove_pip_package("JOBLIB")
    cd.remove_conda_package("scikit_learn")
    assert cd.pip_packages == [] and "scikit-learn" not in cd.conda_packages
    assert CondaDependencies(_underlying_structure=cd.as_dict()) == cd


def test_serialize_round_trip(tmp_path):
    cd = CondaDependencies.create(pip_packages=["keras<=2.3.1", "a[b]>=1"],
                                  conda_packages=["python=3.6.2"])
    path = cd.save(str(tmp_path / "out" / "env.yml"))
    assert CondaDependencies(path) == cd
    assert "keras<=2.3.1" in cd.serialize_to_string()


def test_from_pip_requirements(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("numpy==1.21\nscikit-learn\n")
    spec = Environment.from_pip_requirements("pipenv", str(path))._to_spec()
    assert spec["pip_requirements"] == "numpy==1.21\nscikit-learn\n"
    assert spec["python"]["conda_dependencies"] is None


def test_registry_answers_come_from_the_server(workspace):
    # An unknown name: the SDK surfaces the 404 as a user error (the registry and the AzureML-*
    # curated names, e.g. AzureML-Tutorial, are tested end to end in
    # tests/e2e/test_e2e_datasets.py and test_e2e_issue18.py).
    with pytest.raises(UserErrorException):
        Environment.get(workspace=workspace, name="AzureML-NoSuchEnvironment")


def test_user_managed_environment():
    env = Environment("um")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = "/usr/bin/python3"
    spec = env._to_spec()
    assert spec["python"]["user_managed_dependencies"] is True
    assert spec["python"]["interpreter_path"] == "/usr/bin/python3"
    assert Environment._from_spec(spec) == env


def test_base_image_registry_address_is_sent_and_read_back():
    from trainyard.core.container_registry import ContainerRegistry
    env = Environment("reg-env")
    env.docker.enabled = True
    env.docker.base_image = "team/trainer:1"
    assert "base_image_registry" not in env._to_spec()["docker"]  # unset: the old shape
    env.docker.base_image_registry.address = "registry.example.com"
    spec = env._to_spec()
    assert spec["docker"]["base_image_registry"] == {"address": "registry.example.com"}
    back = Environment._from_spec(spec)
    assert back.docker.base_image_registry.address == "registry.example.com"
    # Credentials are sent as given (the server refuses them, pointing at its containers
    # config), never dropped silently.
    env.docker.base_image_registry = ContainerRegistry("r.example.com", "u", "p")
    assert env._to_spec()["docker"]["base_image_registry"] == {
        "address": "r.example.com", "username": "u", "password": "p"}
