# The seed article's driver code ("Train scikit-learn models at scale with Azure Machine
# Learning"), with `azureml` replaced by `trainyard` in the import lines only.
#
#   cd examples/sklearn-iris && python driver.py      (after `trainyard init` + `trainyard up`)
#
# Workspace.from_config() walks up from the current directory to .trainyard/config.json, or
# reads the file named by $TRAINYARD_CONFIG.
from trainyard.core import Workspace

ws = Workspace.from_config()

# --- Define your environment: a conda specification (sklearn-env.yml). Trainyard maps the
# conda names to pip packages in a cached virtual environment of the newest local Python
# (it warns that python=3.6.2 is not available).
from trainyard.core import Environment

myenv = Environment.from_conda_specification(name="myenv", file_path="sklearn-env.yml")

# --- Create a ScriptRunConfig: runs on the local compute target.
from trainyard.core import ScriptRunConfig

sklearnconfig = ScriptRunConfig(source_directory='.', script='train_iris.py')
# The seed writes `src.run_config.environment = myenv`; `src` is a typo there (no such variable
# exists in the article) — the config object is `sklearnconfig`.
sklearnconfig.run_config.environment = myenv

# --- Submit your run.
from trainyard.core import Experiment

run = Experiment(ws, 'train-sklearn').submit(config=sklearnconfig)
run.wait_for_completion(show_output=True)

# --- Save and register the model (train_iris.py wrote outputs/model.joblib).
from trainyard.core import Model
from trainyard.core.resource_configuration import ResourceConfiguration

try:  # the version this machine has; the seed pins '0.19.1'
    import sklearn
    sklearn_version = sklearn.__version__
except ImportError:
    sklearn_version = '0.19.1'

model = run.register_model(model_name='sklearn-iris',
                           model_path='outputs/model.joblib',
                           model_framework=Model.Framework.SCIKITLEARN,
                           model_framework_version=sklearn_version,
                           resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))

print('Run ID:', run.id)
print('Status:', run.get_status())
for name, value in sorted(run.get_metrics().items()):
    print('Metric: {} = {}'.format(name, value))
print('Model ID:', model.id)

# --- No-code deployment: a scikit-learn model registered with model_framework,
# model_framework_version and resource_configuration deploys without an entry script. The
# service runs on this machine (a `trainyard serve` process supervised by the workspace
# server); its environment has scikit-learn and numpy.
import json

previous = ws.webservices.get("scikit-learn-service")
if previous is not None:  # left over from an earlier run of this example
    previous.delete()

web_service = Model.deploy(ws, "scikit-learn-service", [model])
web_service.wait_for_deployment(show_output=True)
print('Scoring URI:', web_service.scoring_uri)

rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
print('Predictions:', web_service.run(json.dumps({"data": rows})))

primary_key, secondary_key = web_service.get_keys()
print('The same with curl:')
print("curl -s {} -H 'Content-Type: application/json' -H 'Authorization: Bearer {}' "
      "-d '{}'".format(web_service.scoring_uri, primary_key, json.dumps({"data": rows})))
