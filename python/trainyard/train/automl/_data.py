"""Training data for the AutoML driver: a data script's ``get_data()``, a handover file
(X/y passed inline to AutoMLConfig), or a CSV / TabularDataset with a label column (read and
featurized by the engine). Everything is checked before the search starts, with messages that
say what to fix."""

import importlib.util
import json
import math
import os

from trainyard.exceptions import UserErrorException


class DataError(UserErrorException):
    pass


def _tolist(a):
    if a is None:
        return None
    if hasattr(a, "to_numpy"):  # pandas
        a = a.to_numpy()
    if hasattr(a, "tolist"):
        return a.tolist()
    return list(a)


def _flatten_y(y):
    out = []
    for v in y:
        if isinstance(v, (list, tuple)):
            if len(v) != 1:
                raise DataError("y must be one column, got rows of {} values".format(len(v)))
            v = v[0]
        out.append(v)
    return out


def _is_missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v)) or \
        (isinstance(v, str) and v.strip() == "")


def check(X, y, task, what="training data"):
    """X as a list of rows of floats, y as a list; raises DataError on anything wrong."""
    if X is None or len(X) == 0:
        raise DataError("the {} is empty: no rows to train on".format(what))
    if y is None:
        raise DataError("the {} has no labels (y)".format(what))
    if len(y) != len(X):
        raise DataError("the {} has {} rows of X but {} labels".format(what, len(X), len(y)))
    cols = len(X[0]) if isinstance(X[0], (list, tuple)) else None
    if cols is None:
        raise DataError("X must be a matrix (rows of features), got a flat list")
    if cols == 0:
        raise DataError("X has no feature columns")
    for i, row in enumerate(X):
        if len(row) != cols:
            raise DataError("row {} of X has {} values, the first row {}".format(i, len(row), cols))
    missing = [i for i, v in enumerate(y) if _is_missing(v)]
    if missing:
        raise DataError("{} label(s) are missing (NaN/empty), first at row {}: drop those rows "
                        "or fill in their labels".format(len(missing), missing[0]))
    if task == "classification":
        classes = set(str(v) for v in y)
        if len(classes) < 2:
            raise DataError("classification needs at least two classes in y; all {} labels "
                            "are {!r}".format(len(y), y[0]))
    else:
        try:
            [float(v) for v in y]
        except (TypeError, ValueError):
            raise DataError("regression needs numeric labels (y)") from None
    return cols


def from_script(path):
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise DataError("data_script {!r} was not found in the snapshot".format(path))
    spec = importlib.util.spec_from_file_location("automl_get_data", full)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, "get_data", None)
    if not callable(fn):
        raise DataError("{} must define get_data() returning {{'X': ..., 'y': ...}}".format(path))
    data = fn()
    if not isinstance(data, dict) or "X" not in data:
        raise DataError("get_data() must return a dict with 'X' and 'y' (and optionally "
                        "'X_valid', 'y_valid'), got {}".format(type(data).__name__))
    names = None
    X = data["X"]
    if hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
    out = {"X": _tolist(X), "y": _flatten_y(_tolist(data.get("y")) or []) if data.get("y")
           is not None else None, "feature_names": names}
    if data.get("X_valid") is not None:
        out["X_valid"] = _tolist(data["X_valid"])
        out["y_valid"] = _flatten_y(_tolist(data.get("y_valid"))) \
            if data.get("y_valid") is not None else None
    return out


def from_handover(path):
    from trainyard._automl import handover
    X, y, names = handover.read(path)
    return X, y, names or None


def read_table(source, label_column, task):
    """Training/validation rows as an engine Table: ``source`` is a CSV path, or the path of a
    JSON spec a TabularDataset became at submit time ({"files": [...], "separator",
    "header", "transforms"}, paths relative to the spec). The engine reads, types and checks
    it (empty file, unknown label column, missing labels, one class)."""
    from trainyard import _automl as engine
    try:
        if source.endswith(".json"):
            with open(source) as f:
                spec = json.load(f)
            base = os.path.dirname(os.path.abspath(source))
            return engine.read_csv([os.path.join(base, p) for p in spec["files"]], label_column,
                                   task, spec.get("separator", ","), spec.get("header", True),
                                   spec.get("transforms") or None)
        return engine.read_csv(source, label_column, task)
    except (ValueError, FileNotFoundError) as e:
        raise DataError(str(e)) from None


def featurize(table, featurization):
    """The engine's table featurizer ('auto' / 'off') fitted on the training table:
    {"state", "X" (engineered rows), "names", "raw_names", "source"}."""
    from trainyard import _automl as engine
    try:
        return engine.featurize(table, featurization)
    except ValueError as e:
        raise DataError(str(e)) from None
