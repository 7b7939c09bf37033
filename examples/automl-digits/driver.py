# Seed 004 ("Train models with automated machine learning in the cloud") with `azureml`
# replaced by `trainyard`, on the local compute target:
#
#   bash examples/automl-digits/run.sh        (trainyard init + up, then this driver)
#
# The seed's DSVM becomes compute_target='local'; X_test (the explanation data the seed passes
# as X_valid) is the first 10 digits, the rows get_data.py leaves out.
import logging
import os
import time

from trainyard.core import Workspace

ws = Workspace.from_config()
project_folder = os.path.dirname(os.path.abspath(__file__))

from sklearn import datasets  # noqa: E402

X_test = datasets.load_digits().data[:10, :]

from trainyard.train.automl import AutoMLConfig  # noqa: E402

automl_settings = {
    "name": "AutoML_Demo_Experiment_{0}".format(time.time()),
    "iteration_timeout_minutes": 10,
    "iterations": 20,
    "n_cross_validations": 5,
    "primary_metric": 'AUC_weighted',
    "preprocess": False,
    "max_concurrent_iterations": 2,
    "verbosity": logging.INFO
}

automl_config = AutoMLConfig(task='classification',
                             debug_log='automl_errors.log',
                             path=project_folder,
                             compute_target='local',
                             data_script=project_folder + "/get_data.py",
                             **automl_settings,
                             model_explainability=True,
                             X_valid=X_test
                             )

from trainyard.core.experiment import Experiment  # noqa: E402

experiment = Experiment(ws, 'automl_remote')
remote_run = experiment.submit(automl_config, show_output=True)

best_run, fitted_model = remote_run.get_output()
print(best_run)
print(fitted_model)

from trainyard.train.automl.automlexplainer import retrieve_model_explanation  # noqa: E402

shap_values, expected_values, overall_summary, overall_imp, per_class_summary, per_class_imp = \
    retrieve_model_explanation(best_run)

print(overall_summary)
print(overall_imp)
print(per_class_summary)
print(per_class_imp)

digits = datasets.load_digits()
pred = fitted_model.predict(digits.data[:10, :])
print("predicted:", list(pred), "actual:", list(digits.target[:10]))
model = remote_run.register_model(description="AutoML digits, best pipeline")
print("registered:", model.name, model.version)
