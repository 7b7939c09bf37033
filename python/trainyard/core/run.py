"""Runs: one execution of a script or an interactive session (``azureml.core.run``).

Inside a run started by the Trainyard agent, ``Run.get_context()`` returns the run without
any request to the server, and ``run.log*`` calls append to the agent's spool file (see
:mod:`trainyard.core._metrics`). Outside any run it returns an :class:`_OfflineRun` that
prints what it would log, as Azure ML does.
"""

import json
import os
import sys
import time

from trainyard._http import quote_path
from trainyard.core import _metrics
from trainyard.exceptions import (ActivityFailedException, ExperimentExecutionException,
                                  RunEnvironmentException, UserErrorException)


class RunStatus:
    """Run status names (as Azure ML)."""

    NOT_STARTED = "NotStarted"
    UNAPPROVED = "Unapproved"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    PROVISIONING = "Provisioning"
    STARTING = "Starting"
    RUNNING = "Running"
    NOT_RESPONDING = "NotResponding"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    CANCEL_REQUESTED = "CancelRequested"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @staticmethod
    def get_running_statuses():
        return sorted(RUNNING_STATES)

    @staticmethod
    def get_post_processing_statuses():
        return sorted(POST_PROCESSING_STATES)

    @staticmethod
    def get_terminal_statuses():
        return sorted(TERMINAL_STATES)


RUNNING_STATES = frozenset(("NotStarted", "Unapproved", "Queued", "Preparing", "Provisioning",
                            "Starting", "Running", "NotResponding", "Pausing", "Paused"))
POST_PROCESSING_STATES = frozenset(("CancelRequested", "Finalizing"))
TERMINAL_STATES = frozenset(("Completed", "Failed", "Canceled"))
_PRE_SCRIPT_STATES = frozenset(("NotStarted", "Unapproved", "Queued", "Preparing",
                                "Provisioning"))

DRIVER_LOG = "azureml-logs/70_driver_log.txt"
BUILD_LOG = "azureml-logs/20_image_build_log.txt"

_LONG_POLL_MS = 60000
_AZURE_TYPES = {"script": "azureml.scriptrun"}

# Run kinds whose runs come back as a subclass of Run; imported when first needed.
_RUN_CLASSES = {"hyperdrive": ("trainyard.train.hyperdrive", "HyperDriveRun"),
                "automl": ("trainyard.train.automl.run", "AutoMLRun")}

_context_run = None


def _run_class(kind):
    location = _RUN_CLASSES.get(kind)
    if location is None:
        return Run
    try:
        import importlib
        return getattr(importlib.import_module(location[0]), location[1])
    except (ImportError, AttributeError):
        return Run


def _error_body(error_details, error_code=None):
    """The ``error`` object of a status change to Failed."""
    if isinstance(error_details, BaseException):
        import traceback
        body = {"message": "{}: {}".format(type(error_details).__name__, error_details),
                "traceback": "".join(traceback.format_exception(
                    type(error_details), error_details, error_details.__traceback__))}
    elif isinstance(error_details, dict):
        inner = error_details.get("error", error_details)
        body = {"message": str(inner.get("message") or json.dumps(error_details))}
        if inner.get("traceback"):
            body["traceback"] = str(inner["traceback"])
    elif error_details is None:
        body = {"message": "Run failed"}
    else:
        body = {"message": str(error_details)}
    if error_code:
        body["code"] = str(error_code)
    return body


def _details_from_dto(dto):
    """Azure's ``get_details()`` dictionary for a server run object."""
    details = {"runId": dto["id"], "target": dto.get("compute_target") or "local",
               "status": dto.get("status")}
    if dto.get("start_time_utc"):
        details["startTimeUtc"] = dto["start_time_utc"]
    if dto.get("end_time_utc"):
        details["endTimeUtc"] = dto["end_time_utc"]
    properties = dict(dto.get("properties") or {})
    git = dto.get("git")
    if git:
        for key, value in (("azureml.git.repository_uri", git.get("repository")),
                           ("azureml.git.branch", git.get("branch")),
                           ("azureml.git.commit", git.get("commit")),
                           ("azureml.git.dirty", str(bool(git.get("dirty"))))):
            if value is not None:
                properties.setdefault(key, value)
    details["properties"] = properties
    details["inputDatasets"] = []
    details["outputDatasets"] = []
    definition = dto.get("definition") or {}
    details["runDefinition"] = {
        "script": dto.get("script"),
        "command": dto.get("command"),
        "arguments": list(dto.get("arguments") or []),
        "target": dto.get("compute_target") or "local",
        "environment": dto.get("environment"),
        "maxRunDurationSeconds": definition.get("max_run_duration_seconds"),
        "nodeCount": definition.get("node_count") or 1,
    }
    if definition.get("distributed_job_config"):
        details["runDefinition"]["distributedJobConfig"] = definition["distributed_job_config"]
    details["logFiles"] = dict(dto.get("log_files") or {})
    # Lineage, in Azure's shape: which dataset versions this run consumed and how.
    details["inputDatasets"] = [
        {"dataset": {"id": item.get("id"), "name": item.get("name"),
                     "version": item.get("version")},
         "consumptionDetails": {"type": "RunInput", "inputName": item.get("input_name"),
                                "mechanism": (item.get("mode") or "direct").capitalize()}}
        for item in dto.get("input_datasets") or []]
    error = dto.get("error")
    if error:
        inner = {"message": error.get("message", "")}
        for key in ("code", "traceback"):
            if error.get(key):
                inner[key] = error[key]
        details["error"] = {"error": inner}
    return details


class Run:
    """A run of an experiment.

    ``Run(experiment, run_id)`` loads an existing run (raises if the server does not know
    it). Runs are also returned by ``Experiment.submit``, ``Experiment.start_logging``,
    ``Run.get_context`` and the listing methods. Metrics logged through a Run object are
    sent asynchronously; ``flush()`` waits until they are stored.
    """

    def __init__(self, experiment, run_id, outputs=None, **kwargs):
        self._init(experiment, run_id, kwargs.get("_run_dto"), kwargs.get("_sink"))
        if outputs:
            self._outputs_dir = os.path.abspath(outputs)
        if self._dto is None and not kwargs.get("_lazy"):
            self._refresh()

    def _init(self, experiment, run_id, dto=None, sink=None):
        """Sets the state of a Run; subclasses extend it (rehydration bypasses __init__)."""
        self._experiment = experiment
        self._id = run_id
        self._dto = dto
        self._sink = sink
        self._outputs_dir = None
        self._agent_owned = False  # the run this process executes for the agent

    @classmethod
    def _rehydrate(cls, experiment, dto, sink=None):
        """A Run (or the subclass registered for its kind) from a server run object."""
        klass = _run_class(dto.get("kind")) if cls is Run else cls
        run = klass.__new__(klass)
        run._init(experiment, dto["id"], dto, sink)
        return run

    # -- identity and cached state ---------------------------------------------------------

    @property
    def id(self):
        return self._id

    @property
    def experiment(self):
        return self._experiment

    @property
    def _client(self):
        return self._experiment.workspace._client

    @property
    def _path(self):
        return "/api/v1/runs/{}".format(quote_path(self._id))

    @property
    def _run_dto(self):
        return self._dto if self._dto is not None else self._refresh()

    def _refresh(self):
        self._dto = self._client.get(self._path)
        return self._dto

    @property
    def number(self):
        return self._run_dto.get("number")

    @property
    def display_name(self):
        return self._run_dto.get("display_name") or self._id

    @property
    def name(self):
        return self.display_name

    @property
    def status(self):
        """The status when last fetched (``get_status()`` asks the server)."""
        return self._run_dto.get("status")

    @property
    def type(self):
        kind = self._run_dto.get("kind")
        return _AZURE_TYPES.get(kind, kind)

    @property
    def properties(self):
        return dict(self._run_dto.get("properties") or {})

    @property
    def tags(self):
        return dict(self._run_dto.get("tags") or {})

    @property
    def parent(self):
        """The parent Run, or None for a top-level run."""
        parent_id = self._run_dto.get("parent_id")
        if not parent_id:
            return None
        dto = self._client.get("/api/v1/runs/{}".format(quote_path(parent_id)))
        return Run._rehydrate(self._experiment_for(dto), dto)

    @property
    def input_datasets(self):
        """Input name -> the mounted/downloaded folder's path (mount and download modes) or
        the dataset (direct mode). Inside a submitted run the agent describes the inputs in
        $TRAINYARD_INPUT_DATASETS; for another run the server's record is used."""
        described = os.environ.get("TRAINYARD_INPUT_DATASETS")
        if described and os.environ.get("TRAINYARD_RUN_ID") == self._id:
            return _input_datasets_from_file(self._experiment.workspace, described)
        out = {}
        for item in self._run_dto.get("input_datasets") or []:
            if item.get("name"):
                from trainyard.core.dataset import Dataset
                out[item["input_name"]] = Dataset.get_by_name(
                    self._experiment.workspace, item["name"], item.get("version") or "latest")
            else:
                out[item["input_name"]] = item
        return out

    def _experiment_for(self, dto):
        name = dto.get("experiment")
        if not name or name == self._experiment.name:
            return self._experiment
        from trainyard.core.experiment import Experiment
        return Experiment(self._experiment.workspace, name, _create_in_cloud=False)

    # -- context ---------------------------------------------------------------------------

    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """The run this code executes in: the submitted run inside a Trainyard run,
        otherwise (with ``allow_offline``) an offline run that prints what it logs."""
        global _context_run
        run = _context_run
        if run is not None and (allow_offline or not isinstance(run, _OfflineRun)):
            return run
        env = os.environ
        run_id = env.get("TRAINYARD_RUN_ID")
        if run_id and env.get("TRAINYARD_SERVER_URL"):
            run = _submitted_run_from_environment(run_id)
        elif allow_offline:
            run = _OfflineRun()
        else:
            raise RunEnvironmentException(
                "Could not load a submitted run: Run.get_context(allow_offline=False) was "
                "called outside a Trainyard run. Use Experiment.start_logging() to start an "
                "interactive run.")
        _context_run = run
        return run

    @staticmethod
    def get(workspace, run_id):
        """The run with ``run_id`` in ``workspace``."""
        from trainyard.core.experiment import Experiment
        dto = workspace._client.get("/api/v1/runs/{}".format(quote_path(run_id)))
        experiment = Experiment(workspace, dto["experiment"], _create_in_cloud=False)
        return Run._rehydrate(experiment, dto)

    @staticmethod
    def list(experiment, type=None, tags=None, properties=None, status=None,
             include_children=False, _rehydrate_runs=True, filter=None, order_by=None):
        """The experiment's runs, newest first (a generator fetching page by page);
        ``filter``/``order_by`` as in :meth:`Experiment.get_runs`."""
        for run in experiment.get_runs(type=type, tags=tags, properties=properties,
                                       include_children=include_children, filter=filter,
                                       order_by=order_by, status=status):
            yield run

    # -- metrics ---------------------------------------------------------------------------

    def _metric_sink(self):
        sink = self._sink
        if sink is None:
            sink = self._sink = _metrics.poster_sink(self._client)
        return sink

    def log(self, name, value, description="", step=None):
        """Logs a scalar (number, string or bool); logging a name again makes a series."""
        (self._sink or self._metric_sink()).log(self._id, name, _metrics.SCALAR, value, step,
                                                description)

    def log_list(self, name, value, description=""):
        """Logs a list of scalars."""
        self._metric_sink().log(self._id, name, _metrics.LIST, value, None, description)

    def log_row(self, name, description=None, **kwargs):
        """Logs one row (column=value keyword arguments) of a growing table."""
        self._metric_sink().log(self._id, name, _metrics.ROW, kwargs, None, description)

    def log_table(self, name, value, description=""):
        """Logs a table given as a dict of column name -> list of values."""
        self._metric_sink().log(self._id, name, _metrics.TABLE, value, None, description)

    def log_image(self, name, path=None, plot=None, description=""):
        """Logs an image: a file at ``path``, or a matplotlib ``plot`` (the pyplot module or
        a Figure) saved as PNG. The image is uploaded as an artifact of the run."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path or plot")
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "image"
        stamp = int(time.time() * 1000)
        if path is not None:
            artifact = "{}_{}{}".format(stem, stamp, os.path.splitext(os.fspath(path))[1]
                                        or ".png")
            self.upload_file(artifact, path)
        else:
            savefig = getattr(plot, "savefig", None)
            if not callable(savefig):
                raise UserErrorException("log_image: plot must be matplotlib.pyplot or a "
                                         "Figure (an object with savefig)")
            import io
            buffer = io.BytesIO()
            savefig(buffer, format="png")
            artifact = "{}_{}.png".format(stem, stamp)
            self.upload_file(artifact, buffer.getvalue())
        self._metric_sink().log(self._id, name, _metrics.IMAGE, {"artifact": artifact}, None,
                                description)

    def _log_json_object(self, name, value, description, label):
        value = _metrics.normalize_json_object(name, value)
        self._metric_sink().log_json(self._id, name, _metrics.TABLE, value, description, label)

    def log_confusion_matrix(self, name, value, description=""):
        """Logs a confusion matrix (Azure's JSON: schema_type, schema_version, data)."""
        self._log_json_object(name, value, description, "confusion_matrix")

    def log_accuracy_table(self, name, value, description=""):
        """Logs an accuracy table (Azure's JSON: schema_type, schema_version, data)."""
        self._log_json_object(name, value, description, "accuracy_table")

    def log_predictions(self, name, value, description=""):
        """Logs regression predictions (Azure's JSON: schema_type, schema_version, data)."""
        self._log_json_object(name, value, description, "predictions")

    def log_residuals(self, name, value, description=""):
        """Logs regression residuals (Azure's JSON: schema_type, schema_version, data)."""
        self._log_json_object(name, value, description, "residuals")

    def flush(self, timeout_seconds=300):
        """Waits until every metric logged so far through this process is stored."""
        self._metric_sink().flush()

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False,
                    start_step=None, end_step=None, max_points=None, mode=None):
        """The run's metrics in Azure's shape (see REST.md); with ``recursive`` a dict of
        run id -> metrics for the run and its descendants, optionally only ``run_type``.

        Trainyard extensions (keywords) for scalar series: ``start_step``/``end_step`` keep
        the points in that step range (inclusive; a series logged without steps counts
        0, 1, 2, ...); ``max_points`` downsamples each series to at most that many points
        (the minimum and maximum of each bucket, so extremes are kept; ``mode="lttb"`` for
        Largest-Triangle-Three-Buckets). Steps come with :meth:`get_metric_series`."""
        from trainyard.core import _run_query
        self._metric_sink().flush_if_pending()
        params = {"name": name, "recursive": True if recursive else None}
        params.update(_run_query.series_params(start_step, end_step, max_points, mode))
        metrics = self._client.get(self._path + "/metrics", params=params).get("metrics", {})
        if recursive and run_type is not None:
            from trainyard.core.experiment import run_kind
            keep = {c.id for c in self.get_children(recursive=True, type=run_type)}
            if self._run_dto.get("kind") == run_kind(run_type):
                keep.add(self._id)
            metrics = {rid: m for rid, m in metrics.items() if rid in keep}
        return metrics

    def get_metric_series(self, name=None, start_step=None, end_step=None, max_points=None,
                          mode=None):
        """Trainyard extension: scalar series with their steps, ``{name: {"steps": [...],
        "values": [...], "times": [...] (ms, when each point was logged), "count": N,
        "downsampled": bool}}`` for ``name`` (a string or a list; all series when None),
        ranged by ``start_step``/``end_step`` and downsampled to ``max_points`` (``mode``
        ``"minmax"``, the default, or ``"lttb"``; both keep the extremes)."""
        from trainyard.core import _run_query
        self._metric_sink().flush_if_pending()
        return _run_query.read_series(self._client, self._id, name, start_step, end_step,
                                      max_points, mode)

    # -- tags and properties ---------------------------------------------------------------

    def tag(self, key, value=None):
        """Sets one tag (``None`` stores an empty value)."""
        self.set_tags({key: value})

    def set_tags(self, tags):
        """Adds or replaces tags (values are stored as strings)."""
        if isinstance(tags, str):
            tags = {tags: None}
        elif not isinstance(tags, dict):
            tags = {key: None for key in tags}
        body = {str(k): "" if v is None else str(v) for k, v in tags.items()}
        answer = self._client.patch(self._path + "/tags", body)
        if self._dto is not None:
            self._dto["tags"] = answer.get("tags", self._dto.get("tags"))

    def get_tags(self):
        return dict(self._refresh().get("tags") or {})

    def add_properties(self, properties):
        """Adds properties; a key that already has a different value raises (properties
        are immutable once set)."""
        body = {str(k): "" if v is None else str(v) for k, v in properties.items()}
        answer = self._client.patch(self._path + "/properties", body)
        if self._dto is not None:
            self._dto["properties"] = answer.get("properties", self._dto.get("properties"))

    def get_properties(self):
        return dict(self._refresh().get("properties") or {})

    # -- lifecycle -------------------------------------------------------------------------

    def get_status(self):
        return self._refresh()["status"]

    def get_portal_url(self):
        return self._run_dto.get("portal_url")

    def get_environment(self):
        """The Environment the run was submitted with (the default one when none was)."""
        from trainyard.core.environment import DEFAULT_ENVIRONMENT_NAME, Environment
        spec = self._run_dto.get("environment")
        return Environment._from_spec(spec) if spec else Environment(DEFAULT_ENVIRONMENT_NAME)

    def _set_status(self, status, error=None, exit_code=None):
        body = {"status": status}
        if error is not None:
            body["error"] = error
        if exit_code is not None:
            body["exit_code"] = exit_code
        self._dto = self._client.post(self._path + "/status", body, idempotent=True)

    def complete(self, _set_status=True):
        """Sends pending metrics, uploads the tracked outputs folder (interactive runs) and
        marks the run Completed. Inside a submitted run this does nothing: the agent ships the
        metrics and outputs and finishes the run when the script exits."""
        if self._agent_owned:
            return  # the agent ships every metric, then finishes the run when the script exits
        self._metric_sink().flush()
        if self._outputs_dir and os.path.isdir(self._outputs_dir):
            self.upload_folder("outputs", self._outputs_dir)
        if _set_status:
            self._set_status("Completed")

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """Marks the run Failed with ``error_details`` (a message, an exception or a dict)."""
        self._metric_sink().flush()
        if _set_status:
            self._set_status("Failed", _error_body(error_details, error_code))

    def cancel(self):
        """Cancels the run (its process is stopped; a run not started yet is canceled)."""
        self._dto = self._client.post(self._path + "/cancel", idempotent=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.complete()
        else:
            self.fail(error_details=exc_value)
        return False

    def get_details(self):
        """The run's details in Azure's shape (runId, target, status, startTimeUtc,
        endTimeUtc, properties, inputDatasets, runDefinition, logFiles, error)."""
        return _details_from_dto(self._refresh())

    def get_details_with_logs(self):
        """``get_details()`` with ``logFiles`` mapping each log's name to its content."""
        details = self.get_details()
        logs = {}
        for log_name in details["logFiles"]:
            chunk = self._read_log(log_name, 0, 0)
            logs[log_name] = chunk[0].decode("utf-8", "replace") if chunk else ""
        details["logFiles"] = logs
        return details

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        """Waits until the run has finished and returns ``get_details()``.

        A run is waited through Finalizing (its outputs are uploaded then, so files and
        models can be used as soon as this returns); ``wait_post_processing`` also waits
        through CancelRequested. With ``show_output`` the run's logs are streamed to stdout,
        followed by an execution summary. A Failed run raises ActivityFailedException when
        ``raise_on_error`` (otherwise the error is printed with the summary).
        """
        states = RUNNING_STATES | {"Finalizing"}
        if wait_post_processing:
            states = states | POST_PROCESSING_STATES
        if show_output:
            try:
                dto = self._stream_run_output(sys.stdout, states)
            except KeyboardInterrupt:
                raise ExperimentExecutionException(
                    "The output streaming for the run was interrupted, but run {} is still "
                    "executing. Cancel it with run.cancel() or `trainyard run cancel "
                    "{}`.".format(self._id, self._id)) from None
        else:
            dto = self._wait(states)
        details = _details_from_dto(dto)
        if details["status"] == "Failed":
            error = details.get("error") or ("Detailed error not set on the Run. Please check "
                                             "the logs for details.")
            text = json.dumps(error, indent=4)
            if raise_on_error:
                raise ActivityFailedException(error_details=text)
            if show_output:
                sys.stdout.write("\nError:\n{}\n".format(text))
        if show_output:
            sys.stdout.write("\n")
            sys.stdout.flush()
        return details

    def _long_poll(self, status, wait_ms):
        return self._client.get(self._path, params={"wait_ms": wait_ms, "status": status},
                                timeout=wait_ms / 1000.0 + 30)

    def _wait(self, states):
        """Long-polls the run until its status is not in ``states``; returns the run object."""
        dto = self._dto if self._dto is not None else self._refresh()
        delay = 0.05
        while dto["status"] in states:
            previous = dto["status"]
            started = time.monotonic()
            dto = self._long_poll(previous, _LONG_POLL_MS)
            if dto["status"] == previous and time.monotonic() - started < 0.05:
                time.sleep(delay)  # the server answered at once without a change
                delay = min(delay * 2, 2.0)
        self._dto = dto
        return dto

    def _wait_for_post_processing(self):
        """Outputs are uploaded while a run is Finalizing: file and model calls made right
        after ``wait_for_completion()`` wait for that to finish."""
        dto = self._dto
        if dto is not None and dto.get("status") in POST_PROCESSING_STATES and \
                not self._agent_owned:
            self._wait(RUNNING_STATES | POST_PROCESSING_STATES)

    def _read_log(self, log_name, offset, wait_ms):
        """(bytes from ``offset``, X-Run-Status) of a live log, or None when the log does not
        exist (yet)."""
        try:
            response = self._client.request(
                "GET", "{}/logs/{}".format(self._path, quote_path(log_name)),
                params={"offset": offset, "wait_ms": wait_ms or None},
                timeout=wait_ms / 1000.0 + 30)
        except UserErrorException as exc:
            if exc.status_code == 404:
                return None
            raise
        return response.data or b"", response.header("X-Run-Status")

    def _stream_run_output(self, out, states):
        """Prints the image build log (when the run has one) and then the driver log as they
        grow, until the run leaves ``states``; then the execution summary. Returns the final
        run object."""
        import codecs
        dto = self._refresh()
        portal_url = dto.get("portal_url")
        out.write("RunId: {}\nWeb View: {}\n".format(self._id, portal_url))
        out.flush()
        status = dto["status"]
        current = None  # the log being streamed
        build_done = False
        offset = 0
        decoder = None
        banner = False
        idle_delay = 0.05
        while True:
            if current is None:
                if not build_done and BUILD_LOG in (dto.get("log_files") or {}):
                    current = BUILD_LOG
                elif status in _PRE_SCRIPT_STATES and status in states:
                    # Wait for the environment build's log or for the script to start.
                    dto = self._long_poll(status, 1000 if status == "Preparing"
                                          else _LONG_POLL_MS)
                    status = dto["status"]
                    continue
                else:
                    current, build_done = DRIVER_LOG, True
                offset, banner = 0, False
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
            running = status in states
            wait_ms = (1000 if current == BUILD_LOG else 2000) if running else 0
            asked = time.monotonic()
            chunk = self._read_log(current, offset, wait_ms)
            data, log_status = chunk if chunk is not None else (b"", None)
            if not banner and (data or (current == DRIVER_LOG and chunk is not None)):
                out.write("\nStreaming {}\n{}\n\n".format(current, "=" * (len(current) + 10)))
                banner = True
            if data:
                out.write(decoder.decode(data))
                out.flush()
                offset += len(data)
                continue
            if log_status:
                status = log_status
            else:
                dto = self._refresh()
                status = dto["status"]
            if current == BUILD_LOG and status not in _PRE_SCRIPT_STATES:
                out.write(decoder.decode(b"", True))
                current, build_done = None, True
                continue
            if not running and status not in states:
                break  # finished and drained
            if status in states and time.monotonic() - asked < 0.05:
                time.sleep(idle_delay)  # the server did not wait: do not spin
                idle_delay = min(idle_delay * 2, 1.0)
            else:
                idle_delay = 0.05
        if decoder is not None:
            out.write(decoder.decode(b"", True))
        dto = self._refresh()
        out.write("\nExecution Summary\n=================\nRunId: {}\nWeb View: {}\n".format(
            self._id, portal_url))
        out.flush()
        return dto

    # -- children --------------------------------------------------------------------------

    def _child_sink(self):
        # Child runs of the agent's run log into the same spool (their own id in "r").
        return self._sink if isinstance(self._sink, _metrics.SpoolSink) else None

    def _create_child(self, name=None, run_id=None, status=None, tags=None):
        body = {"kind": "child", "run_id": run_id, "parent_id": self._id,
                "display_name": name, "tags": tags or {}, "properties": {}, "status": status}
        return self._experiment._create_run(body, sink=self._child_sink())

    def child_run(self, name=None, run_id=None, outputs=None):
        """Starts a child run (status Running). Also a context manager that completes it."""
        child = self._create_child(name=name, run_id=run_id)
        if outputs:
            child._outputs_dir = os.path.abspath(outputs)
        return child

    def create_children(self, count=None, tag_key=None, tag_values=None):
        """Creates ``count`` child runs, or one per ``tag_values`` item tagged
        ``{tag_key: value}``, in status NotStarted; returns them as a list."""
        if tag_values is not None:
            values = list(tag_values)
            if tag_key is None:
                raise UserErrorException("create_children: tag_values needs a tag_key")
            if count is not None and count != len(values):
                raise UserErrorException("create_children: count must equal the number of "
                                         "tag_values")
        elif count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise UserErrorException("create_children: count must be a non-negative "
                                         "integer")
            values = [None] * count
        else:
            raise UserErrorException("create_children needs count or tag_key and tag_values")
        children = []
        for value in values:
            tags = {str(tag_key): "" if value is None else str(value)} \
                if tag_key is not None else {}
            children.append(self._create_child(status="NotStarted", tags=tags))
        return children

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True, filter=None, order_by=None):
        """Yields the child runs (all descendants with ``recursive``), oldest first, filtered
        by tags, properties, type and status, fetched page by page as iterated;
        ``filter``/``order_by`` as in :meth:`Experiment.get_runs`."""
        from trainyard.core import _run_query
        from trainyard.core.experiment import filter_params, run_kind
        params = filter_params(tags, properties)
        params.update(recursive=True if recursive else None, type=run_kind(type),
                      status=status)
        params.update(_run_query.query_params(filter, order_by))
        sink = self._child_sink()
        for dto in _run_query.iter_run_dtos(self._client, self._path + "/children", params):
            yield Run._rehydrate(self._experiment_for(dto), dto, sink=sink)

    def submit_child(self, config, tags=None, **kwargs):
        """Submits ``config`` as a child run of this run."""
        return self._experiment.submit(config, tags=tags, _parent_run_id=self._id, **kwargs)

    # -- files -----------------------------------------------------------------------------

    def _artifact_path(self, name):
        return "{}/artifacts/{}".format(self._path, quote_path(name))

    def _artifacts(self):
        self._wait_for_post_processing()
        return self._client.get(self._path + "/artifacts").get("files", [])

    def get_file_names(self):
        """Paths of the run's files (outputs, uploaded files and logs)."""
        return [f["path"] for f in self._artifacts()]

    def download_file(self, name, output_file_path=None, _validate_checksum=False):
        """Downloads one file of the run to ``output_file_path`` (default: its base name in
        the cwd; an existing folder: its base name inside it). Returns the local path."""
        self._wait_for_post_processing()
        target = output_file_path or os.path.basename(name)
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(name))
        self._client.download(self._artifact_path(name), target)
        if _validate_checksum:
            expected = next((f.get("sha256") for f in self._artifacts() if f["path"] == name),
                            None)
            if expected and _sha256_file(target) != expected:
                raise UserErrorException("Checksum mismatch for {} downloaded to {}".format(
                    name, target))
        return target

    def download_files(self, prefix=None, output_directory=None, output_paths=None,
                       batch_size=100, append_prefix=True, timeout_seconds=None):
        """Downloads the files whose path starts with ``prefix`` (all by default) under
        ``output_directory`` (default: the cwd), keeping their relative paths (without the
        prefix when ``append_prefix`` is False), or to ``output_paths``. Returns the paths."""
        names = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        if output_paths is not None:
            targets = list(output_paths)
            if len(targets) != len(names):
                raise UserErrorException("download_files: output_paths has {} entries for {} "
                                         "files".format(len(targets), len(names)))
        else:
            root = os.path.abspath(output_directory or os.getcwd())
            targets = []
            for name in names:
                rel = name
                if not append_prefix and prefix:
                    rel = name[len(prefix):].lstrip("/") or os.path.basename(name)
                target = os.path.normpath(os.path.join(root, rel))
                if not target.startswith(root + os.sep) and target != root:
                    raise UserErrorException("Refusing to write {} outside {}".format(name,
                                                                                    root))
                targets.append(target)
        pairs = list(zip(names, targets))
        if len(pairs) <= 1:
            for name, target in pairs:
                self._client.download(self._artifact_path(name), target)
        else:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
                for future in [pool.submit(self._client.download, self._artifact_path(n), t)
                               for n, t in pairs]:
                    future.result()
        return targets

    def upload_file(self, name, path_or_stream, datastore_name=None):
        """Uploads a file (a path, bytes, or a readable stream) as the run's file ``name``."""
        if isinstance(path_or_stream, (bytes, bytearray)):
            return self._client.put_bytes(self._artifact_path(name), bytes(path_or_stream))
        read = getattr(path_or_stream, "read", None)
        if callable(read):
            data = read()
            return self._client.put_bytes(self._artifact_path(name),
                                          data.encode("utf-8") if isinstance(data, str)
                                          else data)
        path = os.fspath(path_or_stream)
        if not os.path.isfile(path):
            raise UserErrorException("upload_file: {} is not a file".format(path))
        return self._client.put_file(self._artifact_path(name), path)

    def upload_files(self, names, paths, return_artifacts=False, timeout_seconds=None,
                     datastore_name=None):
        """Uploads ``paths[i]`` as ``names[i]``."""
        names, paths = list(names), list(paths)
        if len(names) != len(paths):
            raise UserErrorException("upload_files: names and paths differ in length")
        results = [self.upload_file(n, p) for n, p in zip(names, paths)]
        return results if return_artifacts else None

    def upload_folder(self, name, path, datastore_name=None):
        """Uploads every file under the folder ``path`` as ``name/<relative path>``."""
        if not os.path.isdir(path):
            raise UserErrorException("upload_folder: {} is not a folder".format(path))
        prefix = name.strip("/")
        names, paths = [], []
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for file_name in sorted(files):
                full = os.path.join(folder, file_name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                names.append("{}/{}".format(prefix, rel) if prefix else rel)
                paths.append(full)
        self.upload_files(names, paths)
        return names

    def restore_snapshot(self, snapshot_id=None, path=None):
        """Writes the run's source snapshot into the folder ``path`` (default: a new folder
        named after the snapshot id in the cwd) and returns the folder's path."""
        manifest = self._client.get(self._path + "/snapshot")
        actual = manifest.get("snapshot_id")
        if snapshot_id is not None and snapshot_id != actual:
            raise UserErrorException("Snapshot {} is not the snapshot of run {} ({})".format(
                snapshot_id, self._id, actual))
        root = os.path.abspath(path or actual or "snapshot")
        os.makedirs(root, exist_ok=True)
        for entry in manifest.get("files", []):
            target = os.path.normpath(os.path.join(root, entry["path"]))
            if not target.startswith(root + os.sep):
                raise UserErrorException("Snapshot entry {!r} escapes the target "
                                         "folder".format(entry["path"]))
            self._client.download("/api/v1/blobs/{}".format(entry["sha256"]), target)
            if entry.get("executable"):
                os.chmod(target, 0o755)
        return root

    # -- models ----------------------------------------------------------------------------

    def register_model(self, model_name, model_path=None, tags=None, properties=None,
                       model_framework=None, model_framework_version=None, description=None,
                       datasets=None, sample_input_dataset=None, sample_output_dataset=None,
                       resource_configuration=None, **kwargs):
        """Registers a file or folder of the run (``model_path``, default the ``outputs``
        folder) as a new version of model ``model_name``; returns the Model."""
        from trainyard.core.model import Model
        self._wait_for_post_processing()
        path = (model_path or "outputs").replace("\\", "/")
        while path.startswith("./"):
            path = path[2:]
        body = Model._registration_body(model_name, tags, properties, description, datasets,
                                        model_framework, model_framework_version,
                                        resource_configuration)
        body["run_id"] = self._id
        body["model_path"] = path.rstrip("/")
        dto = self._client.post("/api/v1/models", body)
        return Model._from_dto(self._experiment.workspace, dto)

    def __repr__(self):
        dto = self._dto or {}
        return "Run(Experiment: {},\nId: {},\nType: {},\nStatus: {})".format(
            self._experiment.name if self._experiment else None, self._id,
            _AZURE_TYPES.get(dto.get("kind"), dto.get("kind")), dto.get("status"))


def _sha256_file(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_datasets_from_file(workspace, path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            described = json.load(f)
    except (OSError, ValueError) as exc:
        raise RunEnvironmentException("cannot read the run's dataset inputs {}: {}".format(
            path, exc)) from None
    out = {}
    for name, entry in described.items():
        if entry.get("mode") != "direct":
            out[name] = entry.get("path")
            continue
        definition = entry.get("definition") or {}
        if definition.get("type") == "tabular":
            from trainyard.data.tabular_dataset import TabularDataset as cls
        else:
            from trainyard.data.file_dataset import FileDataset as cls
        ds = entry.get("dataset") or {}
        registration = None
        if ds.get("id"):
            registration = {"id": ds["id"], "name": ds.get("name"), "version": ds.get("version"),
                            "description": None, "tags": {}}
        out[name] = cls(definition, workspace, registration)
    return out


def _submitted_run_from_environment(run_id):
    """The agent's run, from the TRAINYARD_* variables; no request is made."""
    from trainyard.core.experiment import Experiment
    from trainyard.core.workspace import Workspace
    env = os.environ
    workspace = Workspace._from_run_environment()
    experiment = Experiment(workspace, env.get("TRAINYARD_EXPERIMENT") or
                            env.get("AZUREML_EXPERIMENT_NAME") or "default",
                            _create_in_cloud=False)
    spool = env.get("TRAINYARD_SPOOL")
    run = Run.__new__(Run)
    run._init(experiment, run_id, None, _metrics.spool_sink(spool) if spool else None)
    run._agent_owned = True
    return run


def _uuid4():
    """A random UUID string (the uuid module costs tens of milliseconds to import)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "{}-{}-{}-{}-{}".format(h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def get_context(allow_offline=True, used_for_context_manager=False, **kwargs):
    """Same as :meth:`Run.get_context`."""
    return Run.get_context(allow_offline, used_for_context_manager, **kwargs)


class _OfflineRun(Run):
    """The run ``Run.get_context()`` returns outside a Trainyard run: metrics are printed
    ("Attempted to log scalar metric accuracy:" and the value) and kept in memory for
    ``get_metrics()``; tags and properties are kept locally; file uploads only print."""

    def __init__(self, parent_run=None, run_id=None, experiment=None):
        sink = parent_run._sink if parent_run is not None else _metrics.OfflineSink()
        self._init(experiment, run_id or "OfflineRun_{}".format(_uuid4()), None, sink)
        self._parent_run = parent_run
        self._status = "Running"
        self._local_tags = {}
        self._local_properties = {}
        self._children = []

    @property
    def experiment(self):
        if self._experiment is None:
            raise RunEnvironmentException(
                "This is an offline run (Run.get_context() outside a Trainyard run): it has "
                "no experiment or workspace. Submit the script with Experiment.submit to run "
                "it in a workspace.")
        return self._experiment

    @property
    def number(self):
        return None

    @property
    def display_name(self):
        return self._id

    @property
    def status(self):
        return self._status

    @property
    def type(self):
        return "offline"

    @property
    def properties(self):
        return dict(self._local_properties)

    @property
    def tags(self):
        return dict(self._local_tags)

    @property
    def parent(self):
        return self._parent_run

    def _unavailable(self, what):
        raise RunEnvironmentException(
            "{} is not available in an offline run (Run.get_context() outside a Trainyard "
            "run).".format(what))

    # metrics
    def log_image(self, name, path=None, plot=None, description=""):
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path or plot")
        value = path if path is not None else plot
        print("Attempted to log image metric {}:\n{}".format(name, value))
        self._sink.points.setdefault(self._id, []).append(
            (name, _metrics.IMAGE, {"artifact": str(value)}))

    def _log_json_object(self, name, value, description, label):
        self._sink.log(self._id, name, _metrics.TABLE, value, label=label)

    def flush(self, timeout_seconds=300):
        pass

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        def own(run):
            metrics = _metrics.aggregate(run._sink.points.get(run._id, []))
            return metrics if name is None else {k: v for k, v in metrics.items() if k == name}
        if not recursive:
            return own(self)
        result = {self._id: own(self)}
        for child in self.get_children(recursive=True):
            result[child.id] = own(child)
        return result

    # tags and properties
    def set_tags(self, tags):
        if isinstance(tags, str):
            tags = {tags: None}
        elif not isinstance(tags, dict):
            tags = {key: None for key in tags}
        for key, value in tags.items():
            self._local_tags[str(key)] = "" if value is None else str(value)

    def get_tags(self):
        return dict(self._local_tags)

    def add_properties(self, properties):
        for key, value in properties.items():
            value = "" if value is None else str(value)
            if self._local_properties.get(key, value) != value:
                raise UserErrorException("Property {!r} is already set to {!r}; properties "
                                         "are immutable".format(key,
                                                                self._local_properties[key]))
            self._local_properties[str(key)] = value

    def get_properties(self):
        return dict(self._local_properties)

    # lifecycle
    def get_status(self):
        return self._status

    def get_portal_url(self):
        return None

    def get_environment(self):
        self._unavailable("get_environment")

    def complete(self, _set_status=True):
        if _set_status:
            self._status = "Completed"

    def fail(self, error_details=None, error_code=None, _set_status=True):
        if _set_status:
            self._status = "Failed"

    def cancel(self):
        self._status = "Canceled"

    def get_details(self):
        return {"runId": self._id, "target": "local", "status": self._status,
                "properties": dict(self._local_properties), "inputDatasets": [],
                "outputDatasets": [], "runDefinition": {}, "logFiles": {}}

    def get_details_with_logs(self):
        return self.get_details()

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        return self.get_details()

    # children
    def child_run(self, name=None, run_id=None, outputs=None):
        child = _OfflineRun(parent_run=self, run_id=run_id)
        self._children.append(child)
        return child

    def create_children(self, count=None, tag_key=None, tag_values=None):
        values = list(tag_values) if tag_values is not None else [None] * (count or 0)
        children = []
        for value in values:
            child = self.child_run()
            if tag_key is not None:
                child.tag(tag_key, value)
            children.append(child)
        return children

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True):
        for child in list(self._children):
            yield child
            if recursive:
                yield from child.get_children(recursive=True)

    def submit_child(self, config, tags=None, **kwargs):
        self._unavailable("submit_child")

    # files
    def get_file_names(self):
        return []

    def upload_file(self, name, path_or_stream, datastore_name=None):
        print("Attempted to track file {} at {}".format(name, path_or_stream))

    def upload_folder(self, name, path, datastore_name=None):
        print("Attempted to track folder {} at {}".format(name, path))

    def download_file(self, name, output_file_path=None, _validate_checksum=False):
        self._unavailable("download_file")

    def download_files(self, prefix=None, output_directory=None, output_paths=None,
                       batch_size=100, append_prefix=True, timeout_seconds=None):
        self._unavailable("download_files")

    def restore_snapshot(self, snapshot_id=None, path=None):
        self._unavailable("restore_snapshot")

    def register_model(self, model_name, model_path=None, **kwargs):
        self._unavailable("register_model")

    def __repr__(self):
        return "Run(Experiment: offline,\nId: {},\nType: offline,\nStatus: {})".format(
            self._id, self._status)
