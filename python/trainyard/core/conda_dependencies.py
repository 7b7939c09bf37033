"""Conda environment specifications (``azureml.core.conda_dependencies``).

A :class:`CondaDependencies` holds the structure of a conda environment file::

    {"name": "project_environment", "channels": ["conda-forge"],
     "dependencies": ["python=3.8", "scikit-learn", {"pip": ["joblib"]}]}

Files are read with Trainyard's strict YAML-subset parser; a syntax error or an entry that
does not belong in a conda file raises UserErrorException naming the file and line.
Unlike Azure ML, ``create()`` adds no ``azureml-defaults`` package: Trainyard provides the
SDK inside runs itself.
"""

import os

from trainyard import _yaml
from trainyard.exceptions import UserErrorException

_TOP_LEVEL_KEYS = ("name", "channels", "dependencies", "prefix", "variables")
_NAME_END = "=<>!~ ;[@"


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _package_name(spec):
    """The normalized package name of a conda or pip requirement string."""
    if "::" in spec:
        spec = spec.split("::", 1)[1]
    end = len(spec)
    for c in _NAME_END:
        i = spec.find(c)
        if 0 <= i < end:
            end = i
    return spec[:end].strip().lower().replace("_", "-")


def _line_of(container, key):
    lines = getattr(container, "lines", None)
    try:
        return lines[key] if lines is not None else None
    except (KeyError, IndexError):
        return None


def validate_conda_spec(data, source):
    """Checks that ``data`` has the structure of a conda environment file and returns a
    plain copy. Raises UserErrorException naming ``source`` and the line of a bad entry."""

    def fail(line, message):
        where = "{}, line {}".format(source, line) if line else source
        raise UserErrorException("Invalid conda specification {}: {}".format(where, message))

    if not isinstance(data, dict):
        fail(None, "expected a mapping with 'name', 'channels' and 'dependencies'")
    for key, value in data.items():
        line = _line_of(data, key)
        if key not in _TOP_LEVEL_KEYS:
            fail(line, "unknown key {!r} (allowed: {})".format(key, ", ".join(_TOP_LEVEL_KEYS)))
        if key in ("name", "prefix"):
            if not isinstance(value, str) or not value:
                fail(line, "{!r} must be a non-empty string".format(key))
        elif key == "channels":
            if value is None:
                continue
            if not isinstance(value, list):
                fail(line, "'channels' must be a list of channel names")
            for i, channel in enumerate(value):
                if not isinstance(channel, str) or not channel:
                    fail(_line_of(value, i) or line, "channel {!r} must be a non-empty "
                                                      "string".format(channel))
        elif key == "dependencies":
            if value is None:
                continue
            if not isinstance(value, list):
                fail(line, "'dependencies' must be a list")
            for i, dep in enumerate(value):
                dep_line = _line_of(value, i) or line
                if isinstance(dep, str) and dep:
                    continue
                if isinstance(dep, dict) and list(dep) == ["pip"]:
                    pip = dep["pip"]
                    if not isinstance(pip, list):
                        fail(dep_line, "'pip' must be a list of pip requirements")
                    for j, req in enumerate(pip):
                        if not isinstance(req, str) or not req:
                            fail(_line_of(pip, j) or dep_line,
                                 "pip requirement {!r} must be a non-empty string".format(req))
                    continue
                fail(dep_line, "dependency {!r} must be a package string or a 'pip:' "
                               "list".format(dep))
        elif key == "variables":
            if not isinstance(value, dict):
                fail(line, "'variables' must be a mapping of names to values")
            for name, v in value.items():
                if isinstance(v, (dict, list)):
                    fail(_line_of(value, name) or line,
                         "variable {!r} must have a scalar value".format(name))
    result = _copy(data)
    result.setdefault("channels", [])
    result.setdefault("dependencies", [])
    if result["channels"] is None:
        result["channels"] = []
    if result["dependencies"] is None:
        result["dependencies"] = []
    return result


def load_conda_file(file_path):
    """Reads and validates a conda environment YAML file."""
    try:
        with open(file_path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UserErrorException("Cannot read conda specification {}: {}".format(
            file_path, exc.strerror or exc)) from None
    try:
        data = _yaml.loads(text)
    except _yaml.YamlError as exc:
        raise UserErrorException("Invalid conda specification {}, line {}: {}".format(
            file_path, exc.line, exc.message)) from None
    return validate_conda_spec(data, file_path)


class CondaDependencies:
    """The conda and pip packages and channels of a Python environment."""

    DEFAULT_NAME = "project_environment"

    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        if conda_dependencies_file_path is not None:
            self._conda = load_conda_file(conda_dependencies_file_path)
        elif _underlying_structure is not None:
            self._conda = validate_conda_spec(_underlying_structure, "<dict>")
        else:
            self._conda = {"name": self.DEFAULT_NAME, "channels": [], "dependencies": []}

    @staticmethod
    def create(pip_indexurl=None, pip_packages=None, conda_packages=None,
               python_version=None, pin_sdk_version=True):
        """Builds a specification from package lists. ``pin_sdk_version`` is accepted for
        compatibility; no SDK package is added."""
        cd = CondaDependencies()
        if python_version:
            cd.set_python_version(python_version)
        for package in conda_packages or ():
            cd.add_conda_package(package)
        if pip_indexurl:
            cd.set_pip_option("--index-url {}".format(pip_indexurl))
        for package in pip_packages or ():
            cd.add_pip_package(package)
        return cd

    @staticmethod
    def _from_dict(data):
        return CondaDependencies(_underlying_structure=data)

    # -- queries -------------------------------------------------------------------------

    @property
    def conda_packages(self):
        """The conda package specs (strings), python included."""
        return [d for d in self._conda["dependencies"] if isinstance(d, str)]

    @property
    def pip_packages(self):
        """The pip requirement specs (options such as ``--index-url`` excluded)."""
        return [p for p in self._pip_list() or () if not p.startswith("-")]

    @property
    def pip_options(self):
        return [p for p in self._pip_list() or () if p.startswith("-")]

    @property
    def conda_channels(self):
        return list(self._conda["channels"])

    @property
    def name(self):
        return self._conda.get("name")

    def get_python_version(self):
        """The version in the ``python=...`` dependency, or None."""
        for dep in self.conda_packages:
            if _package_name(dep) == "python":
                spec = dep.split("::", 1)[-1].strip()
                return spec[len("python"):].lstrip("=<>!~ ") or None
        return None

    def as_dict(self):
        """A copy of the conda environment structure."""
        return _copy(self._conda)

    def _is_empty(self):
        return not self._conda["dependencies"] and not self._conda["channels"] and \
            set(self._conda) <= {"name", "channels", "dependencies"}

    # -- edits ---------------------------------------------------------------------------

    def add_conda_package(self, conda_package):
        """Adds a conda package; an existing spec for the same package is replaced."""
        self._check_spec(conda_package, "conda package")
        deps = self._conda["dependencies"]
        name = _package_name(conda_package)
        for i, dep in enumerate(deps):
            if isinstance(dep, str) and _package_name(dep) == name:
                deps[i] = conda_package
                return
        pip_at = next((i for i, d in enumerate(deps) if isinstance(d, dict)), len(deps))
        deps.insert(pip_at, conda_package)

    def remove_conda_package(self, conda_package):
        name = _package_name(conda_package)
        self._conda["dependencies"] = [
            d for d in self._conda["dependencies"]
            if not (isinstance(d, str) and _package_name(d) == name)]

    def add_pip_package(self, pip_package):
        """Adds a pip requirement; an existing one for the same package is replaced."""
        self._check_spec(pip_package, "pip package")
        pip = self._pip_list(create=True)
        name = _package_name(pip_package)
        for i, req in enumerate(pip):
            if not req.startswith("-") and _package_name(req) == name:
                pip[i] = pip_package
                return
        pip.append(pip_package)

    def remove_pip_package(self, pip_package):
        pip = self._pip_list()
        if pip is None:
            return
        name = _package_name(pip_package)
        pip[:] = [r for r in pip if r.startswith("-") or _package_name(r) != name]

    def set_pip_option(self, pip_option):
        """Adds a pip option line (e.g. ``--index-url URL``) unless already present."""
        self._check_spec(pip_option, "pip option")
        pip = self._pip_list(create=True)
        if pip_option not in pip:
            pip.insert(len(self.pip_options), pip_option)

    def add_channel(self, channel):
        self._check_spec(channel, "channel")
        if channel not in self._conda["channels"]:
            self._conda["channels"].append(channel)

    def remove_channel(self, channel):
        self._conda["channels"] = [c for c in self._conda["channels"] if c != channel]

    def set_python_version(self, version):
        """Pins ``python=<version>`` (replacing any python spec) as the first dependency."""
        spec = "python={}".format(version)
        self.remove_conda_package("python")
        self._conda["dependencies"].insert(0, spec)

    # -- serialization -------------------------------------------------------------------

    def serialize_to_string(self):
        """The specification as conda environment YAML."""
        return _yaml.dumps(self._conda)

    def save(self, path=None):
        """Writes the YAML to ``path`` (default ``environment.yml``) and returns the path."""
        path = path or "environment.yml"
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.serialize_to_string())
        return path

    def save_to_file(self, base_directory, conda_file_path=None):
        """Writes the YAML under ``base_directory`` and returns the file's path."""
        return self.save(os.path.join(base_directory, conda_file_path or "environment.yml"))

    # -- helpers -------------------------------------------------------------------------

    def _pip_list(self, create=False):
        for dep in self._conda["dependencies"]:
            if isinstance(dep, dict) and "pip" in dep:
                return dep["pip"]
        if not create:
            return None
        entry = {"pip": []}
        self._conda["dependencies"].append(entry)
        return entry["pip"]

    @staticmethod
    def _check_spec(spec, what):
        if not isinstance(spec, str) or not spec.strip():
            raise UserErrorException("{} must be a non-empty string, got {!r}".format(
                what.capitalize(), spec))

    def __eq__(self, other):
        return isinstance(other, CondaDependencies) and self._conda == other._conda

    def __repr__(self):
        return self.serialize_to_string()
