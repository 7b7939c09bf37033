# Deploying a model with an entry script (Azure ML's "deploy and where" flow), with `azureml`
# replaced by `trainyard` in the import lines:
#   register a model -> InferenceConfig(entry_script, environment) -> a deployment
#   configuration -> Model.deploy -> wait_for_deployment -> run / curl with the key.
#
#   cd examples/entry-script && python driver.py      (after `trainyard init` + `trainyard up`)
import json

import joblib
from sklearn import datasets, svm

from trainyard.core import Environment, Model, Workspace
from trainyard.core.model import InferenceConfig
from trainyard.core.webservice import AciWebservice

ws = Workspace.from_config()

# A model file to register (trained here for the example; usually a run's output).
X, y = datasets.load_iris(return_X_y=True)
joblib.dump(svm.SVC(kernel="linear", C=1.0).fit(X, y), "model.joblib")
model = Model.register(ws, model_path="model.joblib", model_name="iris-entry-script",
                       model_framework=Model.Framework.SCIKITLEARN,
                       description="iris SVC for the entry-script example")

# How to score: score.py's init() loads the model with Model.get_model_path(), run() predicts.
env = Environment.from_conda_specification(name="iris-inference-env",
                                           file_path="inference-env.yml")
inference_config = InferenceConfig(entry_script="score.py", source_directory=".",
                                   environment=env)

# Where and how big: keys required, two scoring worker processes.
deployment_config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1,
                                                       auth_enabled=True, workers=2,
                                                       description="iris with score.py")

previous = ws.webservices.get("iris-entry-script")
if previous is not None:  # left over from an earlier run of this example
    previous.delete()

service = Model.deploy(ws, "iris-entry-script", [model], inference_config, deployment_config)
service.wait_for_deployment(show_output=True)
print("State:", service.state)
print("Scoring URI:", service.scoring_uri)
print("Swagger URI:", service.swagger_uri)

rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
result = service.run(json.dumps({"data": rows}))
print("Result:", result)

primary_key, secondary_key = service.get_keys()
print("The same with curl:")
print("curl -s {} -H 'Content-Type: application/json' -H 'Authorization: Bearer {}' "
      "-d '{}'".format(service.scoring_uri, primary_key, json.dumps({"data": rows})))
print("Logs (tail):")
print(service.get_logs(num_lines=5))
