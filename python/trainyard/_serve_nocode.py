"""The built-in entry script of no-code deployments of scikit-learn models.

``init()`` loads the one model file under ``$AZUREML_MODEL_DIR`` (joblib, or pickle when
joblib is not installed); ``run(raw_data)`` takes ``{"data": [[...], ...]}`` (a list of rows)
and returns ``model.predict(rows).tolist()``. Input errors are raised with
``http_status = 400`` so the service answers 400 with the message.
"""
import json
import os

model = None
_np = None
_MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")


class InputError(ValueError):
    """The request body was wrong (answered 400)."""

    http_status = 400


def _model_file(root):
    files = []
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            files.append(os.path.join(folder, name))
    preferred = [f for f in files if f.lower().endswith(_MODEL_SUFFIXES)]
    pick = preferred or files
    if len(pick) != 1:
        raise RuntimeError("no-code deployment needs exactly one model file (.joblib, .pkl); "
                           "found {} under {}: {}".format(len(pick), root, ", ".join(pick)))
    return pick[0]


def init():
    global model, _np
    import numpy
    _np = numpy
    path = _model_file(os.environ["AZUREML_MODEL_DIR"])
    try:
        import joblib
    except ImportError:
        import pickle
        with open(path, "rb") as f:
            model = pickle.load(f)
    else:
        model = joblib.load(path)
    print("no-code scorer: loaded {} ({})".format(os.path.basename(path),
                                                  type(model).__name__), flush=True)


def run(raw_data):
    try:
        payload = json.loads(raw_data)
    except ValueError as exc:
        raise InputError("the request body is not valid JSON: {}".format(exc)) from None
    if not isinstance(payload, dict) or "data" not in payload:
        raise InputError('the request body must be {"data": [[...], ...]}: a list of rows')
    try:
        rows = _np.asarray(payload["data"], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError("'data' must be a list of rows of numbers: {}".format(exc)) from None
    if rows.ndim != 2:
        raise InputError("'data' must be a list of rows (2 dimensions), e.g. "
                         "[[5.1, 3.5, 1.4, 0.2]]; got {} dimension(s)".format(rows.ndim))
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and rows.shape[1] != expected:
        raise InputError("each row needs {} values (the model's features); got {}".format(
            expected, rows.shape[1]))
    try:
        predictions = model.predict(rows)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return predictions.tolist()
