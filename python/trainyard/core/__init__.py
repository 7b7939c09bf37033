"""Core SDK objects (``azureml.core``): Workspace, Experiment, Run, Environment,
ScriptRunConfig, RunConfiguration, Model, ComputeTarget.

Attributes are imported on first access (PEP 562), so ``import trainyard.core`` and
``from trainyard.core import Run`` load only what they use.
"""

import importlib

from trainyard import __version__ as VERSION

_EXPORTS = {
    "Workspace": "trainyard.core.workspace",
    "Experiment": "trainyard.core.experiment",
    "Run": "trainyard.core.run",
    "RunStatus": "trainyard.core.run",
    "Environment": "trainyard.core.environment",
    "ScriptRunConfig": "trainyard.core.script_run_config",
    "RunConfiguration": "trainyard.core.runconfig",
    "Model": "trainyard.core.model",
    "ComputeTarget": "trainyard.core.compute",
    "ResourceConfiguration": "trainyard.core.resource_configuration",
    "CondaDependencies": "trainyard.core.conda_dependencies",
    "Dataset": "trainyard.core.dataset",
    "Datastore": "trainyard.core.datastore",
    "Webservice": "trainyard.core.webservice",
}

__all__ = sorted(_EXPORTS) + ["VERSION", "get_run"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'trainyard.core' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def get_run(experiment, run_id, rehydrate=True, clazz=None):
    """The run ``run_id`` of ``experiment``."""
    from trainyard.core.run import Run
    return (clazz or Run)(experiment, run_id)
