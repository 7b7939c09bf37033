"""Python environments of runs (``azureml.core.environment``).

An :class:`Environment` is sent with a submission as the JSON "Environment spec" of
docs/REST.md; the server materializes it (cached by the spec's hash) before the script runs.
"""

import json

from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.exceptions import UserErrorException

DEFAULT_ENVIRONMENT_NAME = "default-environment"



class PythonSection:
    """How the run's Python is provided.

    - ``user_managed_dependencies``: when True nothing is installed and ``interpreter_path``
      (default ``python3``) runs the script.
    - ``conda_dependencies``: the packages to install (:class:`CondaDependencies`).
    """

    def __init__(self, user_managed_dependencies=False, interpreter_path=None,
                 conda_dependencies=None):
        self.user_managed_dependencies = user_managed_dependencies
        self.interpreter_path = interpreter_path
        self.conda_dependencies = conda_dependencies if conda_dependencies is not None \
            else CondaDependencies()

    def __repr__(self):
        return "PythonSection(user_managed_dependencies={!r}, interpreter_path={!r})".format(
            self.user_managed_dependencies, self.interpreter_path)


class ContainerRegistry:
    """Where a base image lives (``azureml.core.container_registry.ContainerRegistry``).

    Only ``address`` is sent with an environment (it qualifies a ``base_image`` that names no
    registry). Credentials are not stored with environments and runs: put them in the server's
    containers config (``trainyard server --containers-config FILE``); a username or password
    set here is refused by the server, saying so."""

    def __init__(self, address=None, username=None, password=None):
        self.address = address
        self.username = username
        self.password = password

    def __repr__(self):
        return "ContainerRegistry(address={!r})".format(self.address)


class DockerSection:
    """Container settings: ``enabled``, ``base_image`` (pulled with podman from the registry
    named in it) and ``base_image_registry``."""

    def __init__(self, enabled=False, base_image=None, base_image_registry=None):
        self.enabled = enabled
        self.base_image = base_image
        self.base_image_registry = base_image_registry or ContainerRegistry()

    def __repr__(self):
        return "DockerSection(enabled={!r}, base_image={!r})".format(self.enabled,
                                                                      self.base_image)


class Environment:
    """A named, versioned description of a run's Python environment."""

    def __init__(self, name, **kwargs):
        if not isinstance(name, str) or not name:
            raise UserErrorException("Environment name must be a non-empty string, got "
                                     "{!r}".format(name))
        self.name = name
        self.version = kwargs.get("version")
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables = {}
        self.inferencing_stack_version = None
        self._pip_requirements = None

    # -- constructors --------------------------------------------------------------------

    @staticmethod
    def from_conda_specification(name, file_path):
        """An environment whose packages come from a conda environment YAML file."""
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(
            conda_dependencies_file_path=file_path)
        return env

    @staticmethod
    def from_pip_requirements(name, file_path, pip_version=None):
        """An environment whose packages come from a pip requirements file (sent as text)."""
        try:
            with open(file_path, "r", encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise UserErrorException("Cannot read pip requirements {}: {}".format(
                file_path, exc.strerror or exc)) from None
        env = Environment(name)
        env._pip_requirements = text
        if pip_version:
            env.python.conda_dependencies.add_conda_package("pip={}".format(pip_version))
        return env

    # -- registry ----------------------------------------------------------------------

    @staticmethod
    def get(workspace, name, version=None, label=None):
        """The registered (or curated) environment ``name``; the latest version unless
        ``version`` is given."""
        from trainyard._http import quote_path
        params = {"version": None if version in (None, "latest") else str(version)}
        dto = workspace._client.get("/api/v1/environments/{}".format(quote_path(name)),
                                    params=params)
        return Environment._from_dto(dto)

    @staticmethod
    def list(workspace):
        """Name -> Environment for the curated environments and the latest version of each
        registered one."""
        answer = workspace._client.get("/api/v1/environments")
        return {e["name"]: Environment._from_dto(e) for e in answer.get("environments", [])}

    def register(self, workspace):
        """Registers this definition; a new version only when it differs from the latest.
        Returns the registered Environment (with its version)."""
        spec = self._to_spec()
        spec["version"] = None
        dto = workspace._client.post("/api/v1/environments", {"spec": spec})
        registered = Environment._from_dto(dto)
        self.version = registered.version
        return registered

    def build_local(self, workspace, platform=None, **kwargs):
        """Builds (or finds in the cache) this environment's venv on the workspace's machine
        now, so runs start without building. Prints the build log; returns a summary dict."""
        answer = workspace._client.post("/api/v1/environment-cache/build",
                                        {"spec": self._to_spec()}, timeout=7200)
        for line in answer.get("log", []):
            print(line)
        return answer

    @staticmethod
    def _from_dto(dto):
        env = Environment._from_spec(dto["spec"])
        env.name = dto["name"]
        env.version = dto.get("version")
        env._curated = bool(dto.get("curated"))
        return env

    # -- serialization -------------------------------------------------------------------

    def _to_spec(self):
        """The JSON "Environment spec" of REST.md."""
        conda = self.python.conda_dependencies
        if conda is not None and not isinstance(conda, CondaDependencies):
            raise UserErrorException(
                "Environment {!r}: python.conda_dependencies must be a CondaDependencies "
                "object, got {}".format(self.name, type(conda).__name__))
        env_vars = self.environment_variables or {}
        if not isinstance(env_vars, dict):
            raise UserErrorException("Environment {!r}: environment_variables must be a "
                                     "dict".format(self.name))
        return {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "python": {
                "user_managed_dependencies": bool(self.python.user_managed_dependencies),
                "interpreter_path": self.python.interpreter_path,
                "conda_dependencies": None if conda is None or conda._is_empty()
                else conda.as_dict(),
            },
            "pip_requirements": self._pip_requirements,
            "environment_variables": {str(k): str(v) for k, v in env_vars.items()},
            "docker": self._docker_spec(),
        }

    def _docker_spec(self):
        docker = {"enabled": bool(self.docker.enabled), "base_image": self.docker.base_image}
        registry = self.docker.base_image_registry
        if registry is not None and (registry.address or registry.username or registry.password):
            docker["base_image_registry"] = {
                k: v for k, v in (("address", registry.address), ("username", registry.username),
                                  ("password", registry.password)) if v}
        return docker

    @staticmethod
    def _from_spec(spec):
        """Rebuilds an Environment from its JSON spec (as stored with a run)."""
        env = Environment(spec.get("name") or DEFAULT_ENVIRONMENT_NAME)
        env.version = spec.get("version")
        python = spec.get("python") or {}
        env.python.user_managed_dependencies = bool(python.get("user_managed_dependencies"))
        env.python.interpreter_path = python.get("interpreter_path")
        if python.get("conda_dependencies"):
            env.python.conda_dependencies = CondaDependencies(
                _underlying_structure=python["conda_dependencies"])
        env._pip_requirements = spec.get("pip_requirements")
        env.environment_variables = dict(spec.get("environment_variables") or {})
        docker = spec.get("docker") or {}
        env.docker.enabled = bool(docker.get("enabled"))
        env.docker.base_image = docker.get("base_image")
        registry = docker.get("base_image_registry") or {}
        env.docker.base_image_registry = ContainerRegistry(address=registry.get("address"))
        return env

    def __eq__(self, other):
        return isinstance(other, Environment) and self._to_spec() == other._to_spec()

    def __repr__(self):
        return json.dumps(self._to_spec(), indent=4)
