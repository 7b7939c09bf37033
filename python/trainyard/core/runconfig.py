"""Run configuration objects (``azureml.core.runconfig``).

:class:`RunConfiguration` holds where and how a script runs (target, environment, node
count, time limit). The distributed job configurations are stored with a submission as
``config.distributed_job_config`` (their ``_to_dict()`` form, tagged by ``"type"``); the agent
turns them into the per-process variables listed in each class.
"""

from trainyard.exceptions import RunConfigurationException


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RunConfigurationException("{} must be a positive integer, got {!r}".format(
            name, value))
    return value


class _DistributedConfig:
    _type = None
    _fields = ()

    def _to_dict(self):
        data = {"type": self._type}
        for field in self._fields:
            data[field] = getattr(self, field)
        return data

    def __eq__(self, other):
        return type(other) is type(self) and other._to_dict() == self._to_dict()

    def __repr__(self):
        return "{}({})".format(type(self).__name__, ", ".join(
            "{}={!r}".format(f, getattr(self, f)) for f in self._fields))


class MpiConfiguration(_DistributedConfig):
    """MPI job: ``node_count`` nodes x ``process_count_per_node`` processes; each process
    gets OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE."""

    _type = "mpi"
    _fields = ("process_count_per_node", "node_count")

    def __init__(self, process_count_per_node=1, node_count=1):
        self.process_count_per_node = _positive_int("process_count_per_node",
                                                    process_count_per_node)
        self.node_count = _positive_int("node_count", node_count)


class PyTorchConfiguration(_DistributedConfig):
    """torch.distributed job: ``process_count`` processes in all (default one per node)
    over ``node_count`` nodes; each gets MASTER_ADDR, MASTER_PORT, WORLD_SIZE, NODE_RANK,
    RANK and LOCAL_RANK."""

    _type = "pytorch"
    _fields = ("communication_backend", "process_count", "node_count")

    def __init__(self, communication_backend="Nccl", process_count=None, node_count=1):
        self.communication_backend = communication_backend
        self.process_count = _positive_int("process_count", process_count, allow_none=True)
        self.node_count = _positive_int("node_count", node_count)


class TensorflowConfiguration(_DistributedConfig):
    """TensorFlow parameter-server job; each process gets TF_CONFIG."""

    _type = "tensorflow"
    _fields = ("worker_count", "parameter_server_count")

    def __init__(self, worker_count=1, parameter_server_count=1):
        self.worker_count = _positive_int("worker_count", worker_count)
        self.parameter_server_count = _positive_int("parameter_server_count",
                                                    parameter_server_count)


class RunConfiguration:
    """Where and how a script runs.

    ``target`` is a compute target name or object (default ``"local"``); ``environment`` an
    :class:`~trainyard.core.environment.Environment` (default: an unmodified
    ``default-environment``, sent as "no environment", i.e. the server's default Python).
    """

    def __init__(self, script=None, arguments=None, framework=None, communicator=None,
                 conda_dependencies=None, _history_enabled=None, _path=None, _name=None,
                 command=None):
        from trainyard.core.environment import DEFAULT_ENVIRONMENT_NAME, Environment
        self.script = script
        self.arguments = list(arguments) if arguments else []
        self.command = command
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.target = "local"
        self.node_count = 1
        self.max_run_duration_seconds = None
        self.environment = Environment(DEFAULT_ENVIRONMENT_NAME)
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.mpi = MpiConfiguration()
        self.pytorch = None
        self.tensorflow = None
        self.history = {"output_collection": True}
        self.data = {}

    @property
    def target_name(self):
        """The compute target's name, whether ``target`` holds a name or an object."""
        target = self.target
        if target is None:
            return "local"
        return target if isinstance(target, str) else getattr(target, "name", str(target))

    def __repr__(self):
        return "RunConfiguration(target={!r}, environment={!r}, node_count={!r})".format(
            self.target_name, getattr(self.environment, "name", None), self.node_count)
