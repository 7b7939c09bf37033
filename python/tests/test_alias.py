import os
import subprocess
import sys

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    for name in ("TRAINYARD_RUN_ID", "TRAINYARD_SERVER_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_azureml_imports_are_trainyard_modules():
    result = _run(
        "import azureml.core.run, trainyard.core.run\n"
        "from azureml.core import Run, Workspace, Experiment, Environment, ScriptRunConfig\n"
        "from azureml.core.run import Run as R2\n"
        "from azureml.train.estimator import Estimator\n"
        "from azureml.core.compute import ComputeTarget, AmlCompute\n"
        "from azureml.core.compute_target import ComputeTargetException\n"
        "from azureml.core.runconfig import MpiConfiguration\n"
        "from azureml.core.model import Model\n"
        "from azureml.core.resource_configuration import ResourceConfiguration\n"
        "from azureml.core.conda_dependencies import CondaDependencies\n"
        "import azureml.exceptions, trainyard.exceptions\n"
        "assert azureml.core.run is trainyard.core.run\n"
        "assert Run is R2 is trainyard.core.run.Run\n"
        "assert azureml.exceptions is trainyard.exceptions\n"
        "assert trainyard.core.run.__spec__.name == 'trainyard.core.run'\n"
        "Run.get_context().log('accuracy', 0.5)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Attempted to log scalar metric accuracy:\n0.5\n"


def test_missing_azureml_module_is_module_not_found():
    result = _run("import azureml.does_not_exist")
    assert "ModuleNotFoundError: No module named 'azureml.does_not_exist'" in result.stderr


def test_import_is_fast():
    result = _run("import time; t = time.perf_counter(); import trainyard.core; "
                  "print(time.perf_counter() - t)")
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 0.03
