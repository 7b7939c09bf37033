"""Script submissions (``azureml.core.script_run_config``).

:func:`build_script_submission` is the one place that turns a script configuration into the
body of ``POST /api/v1/experiments/{name}/runs`` (docs/REST.md); Estimator converts itself
to a :class:`ScriptRunConfig`, so both take the same path.
"""

import os

from trainyard._json import jsonable
from trainyard.core.runconfig import RunConfiguration
from trainyard.exceptions import UserErrorException

DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000  # 30 days, as Azure ML


class ScriptRunConfig:
    """What to run (a script with arguments, or a command) from which folder, where, and in
    which environment. ``compute_target`` and ``environment`` are stored on
    ``run_config.target`` and ``run_config.environment``; setting those later works too."""

    def __init__(self, source_directory, script=None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None,
                 distributed_job_config=None, resume_from=None,
                 max_run_duration_seconds=DEFAULT_MAX_RUN_DURATION_SECONDS, command=None,
                 docker_runtime_config=None):
        if script and command:
            raise UserErrorException("ScriptRunConfig takes a script or a command, not both")
        if command and arguments:
            raise UserErrorException("ScriptRunConfig: with a command, put the arguments in "
                                     "the command instead of 'arguments'")
        self.source_directory = source_directory
        self.script = script
        self.command = command
        self.arguments = list(arguments) if arguments is not None else []
        self.run_config = run_config if run_config is not None else RunConfiguration()
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        self.distributed_job_config = distributed_job_config
        self.max_run_duration_seconds = max_run_duration_seconds
        # A DataPath with checkpoint or model files: downloaded for the run, whose script gets
        # `--resume-from <dir>` and AZUREML_DATAREFERENCE_MODEL_LOCATION=<dir> (as Azure).
        if resume_from is not None and not callable(getattr(resume_from, "_to_source", None)):
            raise UserErrorException(
                "resume_from must be a DataPath (trainyard.data.datapath.DataPath(datastore, "
                "path_on_datastore)) naming the checkpoint files, got {!r}".format(resume_from))
        self.resume_from = resume_from

    def _submit_to_experiment(self, experiment, tags=None, run_id=None, display_name=None,
                              _parent_run_id=None, **kwargs):
        """The hook ``Experiment.submit`` calls; returns the created Run."""
        body = build_script_submission(self, tags=tags, run_id=run_id,
                                       parent_id=_parent_run_id, display_name=display_name)
        return experiment._create_run(body)

    def __repr__(self):
        return "ScriptRunConfig(source_directory={!r}, script={!r}, arguments={!r}, " \
               "target={!r})".format(self.source_directory, self.script, self.arguments,
                                     self.run_config.target_name)


def _argument(value):
    """A command-line argument as sent: a string, or the JSON object a data reference's
    ``_to_argument()`` hook returns (resolved by the agent)."""
    hook = getattr(value, "_to_argument", None)
    if callable(hook):
        value = hook()
    if isinstance(value, dict):
        return jsonable(value)
    return str(value)


def _environment_spec(environment):
    if environment is None:
        return None
    to_spec = getattr(environment, "_to_spec", None)
    if to_spec is None:
        raise UserErrorException("run_config.environment must be an Environment, got "
                                 "{}".format(type(environment).__name__))
    spec = to_spec()
    from trainyard.core.environment import DEFAULT_ENVIRONMENT_NAME, Environment
    if spec["name"] == DEFAULT_ENVIRONMENT_NAME and \
            spec == Environment(DEFAULT_ENVIRONMENT_NAME)._to_spec():
        return None  # untouched default: the server's default environment
    return spec


def _distributed_spec(config):
    if config is None:
        return None
    to_dict = getattr(config, "_to_dict", None)
    if to_dict is not None:
        return to_dict()
    if isinstance(config, dict):
        return jsonable(config)
    raise UserErrorException("distributed_job_config must be an MpiConfiguration, "
                             "PyTorchConfiguration or TensorflowConfiguration, got "
                             "{}".format(type(config).__name__))


def build_script_submission(src, tags=None, run_id=None, parent_id=None, display_name=None):
    """The request body that creates a ``script`` run from a ScriptRunConfig."""
    rc = src.run_config
    script = src.script or rc.script
    command = src.command or rc.command
    if not script and not command:
        raise UserErrorException("ScriptRunConfig needs a script (or a command) to run")
    if isinstance(command, (list, tuple)):
        command = [str(part) for part in command]
    arguments = src.arguments if src.arguments else rc.arguments
    if src.source_directory is None:
        raise UserErrorException("ScriptRunConfig needs a source_directory")
    source_directory = os.path.abspath(os.path.expanduser(os.fspath(src.source_directory)))
    max_duration = src.max_run_duration_seconds or rc.max_run_duration_seconds
    config = {
        "source_directory": source_directory,
        "script": script,
        "command": command,
        "arguments": [_argument(a) for a in arguments or ()],
        "compute_target": rc.target_name,
        "environment": _environment_spec(rc.environment),
        "max_run_duration_seconds": int(max_duration) if max_duration else None,
    }
    resume_from = getattr(src, "resume_from", None)
    if resume_from is not None:
        source = resume_from._to_source()
        if not source.get("datastore"):
            raise UserErrorException("resume_from: the DataPath {!r} names no datastore".format(
                resume_from))
        config["resume_from"] = source
    inputs = getattr(src, "inputs", None)
    if inputs:
        config["inputs"] = [_argument(i) for i in inputs]
    distributed = _distributed_spec(src.distributed_job_config)
    if distributed is not None:
        config["distributed_job_config"] = distributed
    # Sent whenever more than one node/process is asked for: the server refuses what it cannot
    # run instead of running one process.
    node_count = getattr(rc, "node_count", 1)
    if node_count is not None and node_count != 1:
        config["node_count"] = node_count
    if getattr(src, "use_gpu", False):
        config["use_gpu"] = True
    per_node = getattr(src, "process_count_per_node", 1)
    if distributed is None and per_node is not None and per_node != 1:
        config["process_count_per_node"] = per_node
    return {
        "kind": "script",
        "run_id": run_id,
        "parent_id": parent_id,
        "display_name": display_name,
        "tags": {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()},
        "properties": {},
        "status": None,
        "config": config,
    }
