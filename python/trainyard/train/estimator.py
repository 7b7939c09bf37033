"""The generic Estimator (``azureml.train.estimator``).

An Estimator is a ScriptRunConfig built from estimator-style arguments; submitting one is
exactly submitting that ScriptRunConfig (one execution path).
"""

from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.core.environment import Environment
from trainyard.core.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration
from trainyard.core.script_run_config import ScriptRunConfig
from trainyard.exceptions import TrainingException


def script_params_to_arguments(script_params):
    """``{'--lr': 0.1, '--verbose': ''}`` -> ``['--lr', 0.1, '--verbose']`` (an empty string
    value makes a bare flag)."""
    arguments = []
    for key, value in (script_params or {}).items():
        arguments.append(key)
        if not (isinstance(value, str) and value == ""):
            arguments.append(value)
    return arguments


class Estimator(ScriptRunConfig):
    """Runs ``entry_script`` from ``source_directory`` with ``script_params`` on
    ``compute_target``, in an environment given by ``environment_definition`` or built from
    ``conda_packages``/``pip_packages``/``custom_docker_image``."""

    def __init__(self, source_directory, compute_target=None, vm_size=None, vm_priority=None,
                 entry_script=None, script_params=None, node_count=1,
                 process_count_per_node=1, distributed_backend=None, distributed_training=None,
                 use_gpu=False, use_docker=True, custom_docker_base_image=None,
                 custom_docker_image=None, image_registry_details=None,
                 user_managed=False, conda_packages=None, pip_packages=None,
                 conda_dependencies_file_path=None, pip_requirements_file_path=None,
                 conda_dependencies_file=None, pip_requirements_file=None,
                 environment_variables=None, environment_definition=None, inputs=None,
                 source_directory_data_store=None, shm_size=None, resume_from=None,
                 max_run_duration_seconds=None, framework_name=None,
                 framework_version=None, **kwargs):
        if not entry_script:
            raise TrainingException("Estimator needs an entry_script (the script to run, "
                                    "relative to source_directory)")
        custom_image = custom_docker_image or custom_docker_base_image
        conda_file = conda_dependencies_file or conda_dependencies_file_path
        pip_file = pip_requirements_file or pip_requirements_file_path
        env_args = [conda_packages, pip_packages, custom_image, conda_file, pip_file,
                    environment_variables, user_managed or None]
        if environment_definition is not None and any(a for a in env_args):
            raise TrainingException(
                "If environment_definition is given, conda_packages, pip_packages, "
                "custom_docker_image, dependency files, environment_variables and user_managed "
                "must not be; set them on the Environment instead.")
        environment = environment_definition or self._build_environment(
            conda_packages, pip_packages, custom_image, conda_file, pip_file,
            environment_variables, user_managed, use_docker)
        if image_registry_details is not None and environment_definition is None:
            environment.docker.base_image_registry = image_registry_details
        run_config = RunConfiguration()
        run_config.node_count = node_count
        super().__init__(source_directory, script=entry_script,
                         arguments=script_params_to_arguments(script_params),
                         run_config=run_config, compute_target=compute_target,
                         environment=environment,
                         distributed_job_config=self._distributed_config(
                             distributed_training or distributed_backend, node_count,
                             process_count_per_node),
                         resume_from=resume_from,
                         max_run_duration_seconds=max_run_duration_seconds)
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.use_gpu = use_gpu
        self.inputs = list(inputs or [])

    @staticmethod
    def _build_environment(conda_packages, pip_packages, custom_image, conda_file, pip_file,
                           environment_variables, user_managed, use_docker):
        if pip_file:
            env = Environment.from_pip_requirements("estimator-environment", pip_file)
        else:
            env = Environment("estimator-environment")
        if conda_file:
            env.python.conda_dependencies = CondaDependencies(conda_file)
        for package in conda_packages or ():
            env.python.conda_dependencies.add_conda_package(package)
        for package in pip_packages or ():
            env.python.conda_dependencies.add_pip_package(package)
        env.python.user_managed_dependencies = bool(user_managed)
        if environment_variables:
            env.environment_variables = dict(environment_variables)
        if custom_image:
            env.docker.enabled = bool(use_docker)
            env.docker.base_image = custom_image
        return env

    @staticmethod
    def _distributed_config(distributed, node_count, process_count_per_node):
        if distributed is None:
            return None
        if isinstance(distributed, str):
            name = distributed.lower()
            if name == "mpi":
                distributed = MpiConfiguration()
            elif name in ("pytorch", "nccl", "gloo"):
                distributed = PyTorchConfiguration()
            else:
                raise TrainingException("Unknown distributed_backend {!r}".format(distributed))
        if isinstance(distributed, MpiConfiguration):
            return MpiConfiguration(process_count_per_node=process_count_per_node,
                                    node_count=node_count)
        if isinstance(distributed, PyTorchConfiguration):
            return PyTorchConfiguration(
                communication_backend=distributed.communication_backend,
                process_count=distributed.process_count or node_count * process_count_per_node,
                node_count=node_count)
        return distributed

    def _to_script_run_config(self):
        """The equivalent ScriptRunConfig (this object: Estimator is one)."""
        return self
