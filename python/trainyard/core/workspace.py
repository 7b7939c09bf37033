"""The workspace: which Trainyard server to talk to (``azureml.core.workspace``).

A workspace is described by a config file (``.trainyard/config.json``, written by
``trainyard init``)::

    {"name": "ws", "server_url": "http://127.0.0.1:PORT", "token": "<hex>",
     "data_dir": "/abs/.trainyard"}

Creating a Workspace object makes no request; the first call that needs the server does.
"""

import json
import os

from trainyard.exceptions import UserErrorException

CONFIG_DIR = ".trainyard"
CONFIG_FILE = "config.json"
_NO_CONFIG_HINT = ("Run `trainyard init && trainyard up` in your project folder to create the "
                   "workspace and start its server (or set TRAINYARD_CONFIG to the path of a "
                   "config.json).")


def _read_config(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise UserErrorException("Cannot read workspace config {}: {}".format(
            path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise UserErrorException("Workspace config {} is not valid JSON: {}".format(
            path, exc)) from None
    if not isinstance(data, dict):
        raise UserErrorException("Workspace config {} must be a JSON object".format(path))
    return data


def _is_trainyard_config(path):
    try:
        return "server_url" in _read_config(path)
    except UserErrorException:
        return False


def find_config_file(start_dir=None, file_name=None):
    """Walks up from ``start_dir`` (default: the cwd) and returns the first
    ``.trainyard/<file_name>``, or ``<file_name>`` holding a ``server_url``; None if none."""
    file_name = file_name or CONFIG_FILE
    current = os.path.abspath(start_dir or os.getcwd())
    while True:
        candidate = os.path.join(current, CONFIG_DIR, file_name)
        if os.path.isfile(candidate):
            return candidate
        candidate = os.path.join(current, file_name)
        if os.path.isfile(candidate) and _is_trainyard_config(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _config_from_run_environment():
    env = os.environ
    if not env.get("TRAINYARD_SERVER_URL"):
        return None
    return {"name": env.get("TRAINYARD_WORKSPACE") or "default",
            "server_url": env["TRAINYARD_SERVER_URL"],
            "token": env.get("TRAINYARD_TOKEN", ""),
            "data_dir": env.get("TRAINYARD_DATA_DIR")}, "the run environment"


def load_config(path=None, file_name=None):
    """Finds the workspace config; returns (config dict, where it came from).

    Order: ``path`` (a config file, or a folder to start the walk from); the file named by
    TRAINYARD_CONFIG; inside a run, the TRAINYARD_* variables the agent sets; the walk up
    from the cwd. Raises UserErrorException saying how to create one when none is found.
    """
    source = None
    start_dir = None
    if path is not None:
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if os.path.isfile(path):
            source = path
        elif os.path.isdir(path):
            start_dir = path
        else:
            raise UserErrorException("Workspace config path {} does not exist. {}".format(
                path, _NO_CONFIG_HINT))
    elif os.environ.get("TRAINYARD_CONFIG"):
        source = os.path.abspath(os.path.expanduser(os.environ["TRAINYARD_CONFIG"]))
        if os.path.isdir(source):
            source = os.path.join(source, file_name or CONFIG_FILE)
        if not os.path.isfile(source):
            raise UserErrorException("TRAINYARD_CONFIG points to {}, which does not exist. "
                                     "{}".format(source, _NO_CONFIG_HINT))
    else:
        from_run = _config_from_run_environment()
        if from_run is not None:
            return from_run
    if source is None:
        source = find_config_file(start_dir, file_name)
        if source is None:
            raise UserErrorException(
                "No Trainyard workspace config found: looked for {}/{} and {} in {} and its "
                "parent folders. {}".format(CONFIG_DIR, file_name or CONFIG_FILE,
                                            file_name or CONFIG_FILE,
                                            start_dir or os.getcwd(), _NO_CONFIG_HINT))
    data = _read_config(source)
    if "name" not in data and "workspace_name" in data:
        data["name"] = data["workspace_name"]
    for key in ("server_url", "token"):
        if not data.get(key):
            raise UserErrorException("Workspace config {} has no {!r}. {}".format(
                source, key, _NO_CONFIG_HINT))
    return data, source


class Workspace:
    """A Trainyard workspace (one server and its store).

    ``Workspace(workspace_name=...)`` (or ``Workspace.get(name)``) loads the config the same
    way as :meth:`from_config` and checks the name; ``server_url``/``token`` given directly
    skip the config file.
    """

    def __init__(self, subscription_id=None, resource_group=None, workspace_name=None,
                 auth=None, _location=None, _disable_service_check=False, _workspace_id=None,
                 sku="basic", tags=None, _cloud="AzureCloud", server_url=None, token=None,
                 data_dir=None, _config_source=None):
        if server_url is None:
            config, _config_source = load_config()
            if workspace_name and config.get("name") and config["name"] != workspace_name:
                raise UserErrorException(
                    "Workspace {!r} not found: the workspace config {} is for {!r}.".format(
                        workspace_name, _config_source, config["name"]))
            server_url = config["server_url"]
            token = config["token"]
            data_dir = config.get("data_dir")
            workspace_name = workspace_name or config.get("name")
        self._name = workspace_name or "default"
        self._server_url = server_url.rstrip("/")
        self._token = token or ""
        self._data_dir = data_dir
        self._config_source = _config_source
        self._client_obj = None

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def from_config(cls, path=None, auth=None, _logger=None, _file_name=None):
        """Loads the workspace from its config file (see :func:`load_config` for the search
        order). Raises UserErrorException when there is none."""
        config, source = load_config(path, _file_name)
        return cls(workspace_name=config.get("name"), server_url=config["server_url"],
                   token=config["token"], data_dir=config.get("data_dir"),
                   _config_source=source)

    @staticmethod
    def get(name, auth=None, subscription_id=None, resource_group=None, location=None,
            cloud="AzureCloud", id=None):
        """The workspace called ``name`` from the config file."""
        return Workspace(workspace_name=name)

    @staticmethod
    def create(name, auth=None, subscription_id=None, resource_group=None, location=None,
               create_resource_group=True, sku="basic", tags=None, friendly_name=None,
               storage_account=None, key_vault=None, app_insights=None,
               container_registry=None, exist_ok=False, show_output=True, **kwargs):
        """Workspaces are created by ``trainyard init``; with ``exist_ok=True`` this returns
        the configured workspace when its name matches."""
        if exist_ok:
            return Workspace(workspace_name=name)
        raise UserErrorException("Create Trainyard workspaces with `trainyard init` in the "
                                 "project folder, then `trainyard up`; Workspace.create("
                                 "name, exist_ok=True) returns an existing one.")

    @classmethod
    def _from_run_environment(cls):
        config, source = _config_from_run_environment()
        return cls(workspace_name=config["name"], server_url=config["server_url"],
                   token=config["token"], data_dir=config.get("data_dir"),
                   _config_source=source)

    # -- properties ----------------------------------------------------------------------

    @property
    def name(self):
        return self._name

    @property
    def server_url(self):
        return self._server_url

    @property
    def data_dir(self):
        return self._data_dir

    @property
    def subscription_id(self):
        return None

    @property
    def resource_group(self):
        return None

    @property
    def location(self):
        return "local"

    @property
    def _client(self):
        if self._client_obj is None:
            from trainyard._http import get_client
            self._client_obj = get_client(self._server_url, self._token)
        return self._client_obj

    @property
    def experiments(self):
        """Experiment name -> :class:`~trainyard.core.experiment.Experiment`."""
        from trainyard.core.experiment import Experiment
        answer = self._client.get("/api/v1/experiments")
        return {e["name"]: Experiment(self, e["name"], _create_in_cloud=False,
                                      _experiment_dto=e)
                for e in answer.get("experiments", [])}

    @property
    def compute_targets(self):
        """Compute target name -> :class:`~trainyard.core.compute.ComputeTarget`."""
        from trainyard.core.compute.compute import ComputeTarget
        return {t.name: t for t in ComputeTarget.list(self)}

    @property
    def models(self):
        """Model name -> latest :class:`~trainyard.core.model.Model` version."""
        from trainyard.core.model import Model
        result = {}
        for model in Model.list(self, latest=True):
            result.setdefault(model.name, model)
        return result

    @property
    def webservices(self):
        """Service name -> :class:`~trainyard.core.webservice.Webservice`."""
        from trainyard.core.webservice import Webservice
        return {s.name: s for s in Webservice.list(self)}

    @property
    def environments(self):
        from trainyard.core.environment import Environment
        return Environment.list(self)

    @property
    def datasets(self):
        """Registered dataset name -> latest version."""
        from trainyard.core.dataset import Dataset
        return Dataset.get_all(self)

    @property
    def datastores(self):
        """Datastore name -> :class:`~trainyard.core.datastore.Datastore`."""
        from trainyard.core.datastore import Datastore
        return {d.name: d for d in Datastore.list(self)}

    def get_default_datastore(self):
        """The workspace's default datastore, ``workspaceblobstore``."""
        from trainyard.core.datastore import Datastore
        return Datastore.get_default(self)

    # -- operations ----------------------------------------------------------------------

    def get_details(self):
        """The server's description of the workspace (name, id, data_dir, server_url,
        compute_targets)."""
        return self._client.get("/api/v1/workspace")

    def write_config(self, path=None, file_name=None):
        """Writes this workspace's config to ``<path or cwd>/.trainyard/<file_name>`` (0600)
        and returns the file's path."""
        folder = os.path.join(os.path.abspath(path or os.getcwd()), CONFIG_DIR)
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, file_name or CONFIG_FILE)
        config = {"name": self._name, "server_url": self._server_url, "token": self._token,
                  "data_dir": self._data_dir}
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        return target

    def __eq__(self, other):
        return isinstance(other, Workspace) and other._server_url == self._server_url and \
            other._name == self._name

    def __hash__(self):
        return hash((self._server_url, self._name))

    def __repr__(self):
        return "Workspace.create(name={!r}, server_url={!r})".format(self._name,
                                                                    self._server_url)
