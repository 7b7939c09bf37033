# Entry script of the deployed iris classifier (Azure ML's init()/run() contract).
# init() runs once per worker process; run() gets the request body as a str.
import json

import joblib
import numpy as np
from azureml.core.model import Model

CLASSES = ["setosa", "versicolor", "virginica"]
model = None


def init():
    global model
    # In a deployment this resolves under AZUREML_MODEL_DIR (the model's files).
    model_path = Model.get_model_path("iris-entry-script")
    model = joblib.load(model_path)


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    y_hat = model.predict(data)
    return {"predictions": y_hat.tolist(), "classes": [CLASSES[i] for i in y_hat]}
