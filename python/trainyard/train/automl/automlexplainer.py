"""``azureml.train.automl.automlexplainer``: the explanation the AutoML driver computed for
the best model (``model_explainability=True``)."""

import json
import os
import tempfile

from trainyard.exceptions import UserErrorException

EXPLANATION_FILE = "outputs/explanation.json"


def _load(run):
    names = run.get_file_names()
    if EXPLANATION_FILE not in names:
        parent = run.parent
        if parent is not None and EXPLANATION_FILE in parent.get_file_names() and \
                parent.get_properties().get("best_run_id") == run.id:
            run = parent
        else:
            raise UserErrorException(
                "run {} has no model explanation: submit the AutoMLConfig with "
                "model_explainability=True and pass the best run (get_output()[0])".format(
                    run.id))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "explanation.json")
        run.download_file(EXPLANATION_FILE, path)
        with open(path) as f:
            return json.load(f)


def _array(value):
    try:
        import numpy as np
        return np.asarray(value)
    except ImportError:
        return value


def retrieve_model_explanation(child_run):
    """(shap_values, expected_values, overall_summary, overall_imp, per_class_summary,
    per_class_imp): SHAP values per class (classes x rows x features; one matrix for
    regression), the expected values, the mean |SHAP| per feature in descending order with
    the feature names in that order, and the same per class (None for regression)."""
    e = _load(child_run)
    shap = e["shap_values"]
    shap_values = _array(shap if len(shap) != 1 else shap[0])
    expected = e["expected_values"]
    expected_values = _array(expected) if len(expected) != 1 else expected[0]
    per_class_summary = e.get("per_class_summary")
    per_class_imp = e.get("per_class_imp")
    return (shap_values, expected_values, e["overall_summary"], e["overall_imp"],
            per_class_summary, per_class_imp)


def explain_model(*args, **kwargs):
    raise UserErrorException("explain_model is not supported: set model_explainability=True "
                             "in AutoMLConfig and use retrieve_model_explanation(best_run)")
