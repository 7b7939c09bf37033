"""Experiments: named groups of runs (``azureml.core.experiment``)."""

import os

from trainyard._http import quote_path
from trainyard.exceptions import UserErrorException

# Azure run type names accepted wherever a run type filters runs, mapped to Trainyard kinds.
_AZURE_RUN_TYPES = {"azureml.scriptrun": "script", "experimentrun": "interactive",
                    "azureml.childrun": "child"}


def run_kind(run_type):
    """The server's run kind for an Azure run type name (or a kind) used as a filter."""
    if run_type is None:
        return None
    return _AZURE_RUN_TYPES.get(run_type, run_type)


def filter_params(tags=None, properties=None):
    """Query parameters ``tag``/``property`` for a tags/properties filter: a key (str), a
    dict (``{k: v}`` matches the value, ``{k: None}`` the key), or a list of keys and
    ``[key, value]`` pairs (Azure's Model.list form)."""

    def pair(key, value=None):
        return str(key) if value is None else "{}={}".format(key, value)

    def encode(spec):
        if spec is None:
            return None
        if isinstance(spec, str):
            return [spec]
        if isinstance(spec, dict):
            return [pair(k, v) for k, v in spec.items()]
        return [pair(*item) if isinstance(item, (list, tuple)) else pair(item) for item in spec]

    return {"tag": encode(tags), "property": encode(properties)}


class Experiment:
    """A named collection of runs in a workspace. Creating the object creates the
    experiment on the server if it does not exist yet."""

    def __init__(self, workspace, name, _skip_name_validation=False, _id=None,
                 _archived_time=None, _create_in_cloud=True, _experiment_dto=None, **kwargs):
        if not isinstance(name, str) or not name:
            raise UserErrorException("Experiment name must be a non-empty string, got "
                                     "{!r}".format(name))
        self._workspace = workspace
        self._name = name
        self._dto = _experiment_dto
        if _create_in_cloud:
            self._dto = workspace._client.put(self._path())

    def _path(self):
        return "/api/v1/experiments/{}".format(quote_path(self._name))

    @property
    def workspace(self):
        return self._workspace

    @property
    def name(self):
        return self._name

    @property
    def id(self):
        return (self._dto or {}).get("id")

    @staticmethod
    def list(workspace, experiment_name=None, view_type=None, tags=None):
        """All experiments of ``workspace`` (optionally only the one named)."""
        experiments = list(workspace.experiments.values())
        if experiment_name is not None:
            experiments = [e for e in experiments if e.name == experiment_name]
        return experiments

    def submit(self, config, tags=None, **kwargs):
        """Submits ``config`` (ScriptRunConfig, Estimator, and later AutoMLConfig or
        HyperDriveConfig) and returns the new Run, already queued on the server."""
        submit = getattr(config, "_submit_to_experiment", None)
        if submit is None:
            raise UserErrorException(
                "Experiment.submit expects a ScriptRunConfig or an Estimator, got "
                "{}".format(type(config).__name__))
        return submit(self, tags=tags, **kwargs)

    def start_logging(self, snapshot_directory=None, outputs=None, display_name=None,
                      tags=None, **kwargs):
        """Starts an interactive run (status Running) and returns it. Files written to
        ``outputs`` (default ``./outputs``) are uploaded when the run completes. Also a
        context manager: ``with exp.start_logging() as run:`` completes the run, or fails
        it when the block raises."""
        body = {"kind": "interactive", "run_id": kwargs.get("run_id"), "parent_id": None,
                "display_name": display_name,
                "tags": {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()},
                "properties": {}, "status": None,
                "snapshot_directory": os.path.abspath(snapshot_directory)
                if snapshot_directory else None}
        run = self._create_run(body)
        run._outputs_dir = os.path.abspath(outputs or "outputs")
        return run

    def get_runs(self, type=None, tags=None, properties=None, include_children=False,
                 filter=None, order_by=None, status=None, page_size=None):
        """Yields the experiment's runs, newest first, filtered by type, tags and
        properties (see :func:`filter_params`). Runs are fetched page by page as the
        generator is iterated.

        Trainyard extensions (keywords): ``filter`` — a server-side query such as
        ``"metrics.acc > 0.99 and params.lr = '0.1' and tags.team = 'blue' and
        attributes.status = 'Completed'"``; ``order_by`` — e.g. ``"metrics.acc DESC"`` or a
        list of such terms; ``status`` — one run status; ``page_size`` — runs per request.
        The grammar is in docs/REST.md ("Run queries"); a malformed filter raises
        UserErrorException naming the offending token and its position."""
        from trainyard.core import _run_query
        from trainyard.core.run import Run
        params = filter_params(tags, properties)
        params["type"] = run_kind(type)
        params["include_children"] = True if include_children else None
        params["status"] = status
        params.update(_run_query.query_params(filter, order_by))
        for dto in _run_query.iter_run_dtos(self._workspace._client, self._path() + "/runs",
                                            params, page_size):
            yield Run._rehydrate(self, dto)

    def _create_run(self, body, sink=None):
        from trainyard.core.run import Run
        dto = self._workspace._client.post(self._path() + "/runs", body)
        warning = (dto.get("properties") or {}).get("environment_warning")
        if warning:  # e.g. a Python pin this machine cannot satisfy (issue 18)
            import warnings
            warnings.warn("run {}: {}".format(dto.get("id"), warning), UserWarning, stacklevel=3)
        return Run._rehydrate(self, dto, sink=sink)

    def __eq__(self, other):
        return isinstance(other, Experiment) and other._name == self._name and \
            other._workspace == self._workspace

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return "Experiment(Name: {},\nWorkspace: {})".format(self._name, self._workspace.name)
