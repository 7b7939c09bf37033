"""Python face of Trainyard's native AutoML engine (docs/AUTOML.md).

The engine is C++ (src/automl); `_engine` is its binding module, a CPython stable-ABI
extension (`_engine.abi3.so`) built by CMake into `<build>/python/trainyard/_automl/` and
installed next to this file. It is found, in order: next to this file, in
$TRAINYARD_AUTOML_ENGINE_DIR, then in `build/python/trainyard/_automl` of the source tree.

Inputs are lists or numpy arrays (any C-contiguous numeric buffer); numpy is optional: matrix
results come back as numpy arrays when numpy is importable, else as lists of lists.
"""
import importlib.machinery
import importlib.util
import json
import os
import sys

from . import handover  # noqa: F401  (stdlib writer/reader of the dataset handover format)

__all__ = ["engine", "Table", "read_csv", "table", "featurize", "transform_table", "fit",
           "cross_validate", "evaluate", "load", "loads", "FittedPipeline",
           "caruana_weights", "voting_ensemble", "stack_ensemble", "search", "Search",
           "search_space",
           "classification_scores", "regression_scores", "learners", "splits", "explain"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidate_dirs():
    yield _HERE
    env = os.environ.get("TRAINYARD_AUTOML_ENGINE_DIR")
    if env:
        yield env
    yield os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(_HERE))),
                       "build", "python", "trainyard", "_automl")


def _load_engine():
    name = __name__ + "._engine"
    if name in sys.modules:
        return sys.modules[name]
    tried = []
    for d in _candidate_dirs():
        path = os.path.join(d, "_engine.abi3.so")
        tried.append(path)
        if os.path.isfile(path):
            loader = importlib.machinery.ExtensionFileLoader(name, path)
            spec = importlib.util.spec_from_file_location(name, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            sys.modules[name] = module
            return module
    raise ImportError("Trainyard's AutoML engine (_engine.abi3.so) is not built; build the "
                      "project (cmake --build build) or set TRAINYARD_AUTOML_ENGINE_DIR. "
                      "Looked in: " + ", ".join(tried))


engine = _load_engine()


def _matrix(result):
    data, rows, cols = result
    try:
        import numpy as np
        return np.frombuffer(data, dtype="<f8").reshape(rows, cols).copy()
    except ImportError:
        import array
        a = array.array("d")
        a.frombytes(data)
        return [list(a[i * cols:(i + 1) * cols]) for i in range(rows)]


def _column(m, j):
    try:
        return m[:, j]
    except TypeError:
        return [row[j] for row in m]


def _label_value(name):
    """Class names are text inside the engine; give numbers back as numbers."""
    try:
        v = float(name)
    except ValueError:
        return name
    return int(v) if v.is_integer() and "." not in name and "e" not in name else v


class Table:
    """A raw table (numeric, bool, datetime and text columns with missing values) held by the
    engine, with its label column taken out when one was named. What fit / predict / explain
    accept besides numeric matrices (docs/AUTOML.md "Featurization of tables")."""

    def __init__(self, capsule):
        self._t = capsule
        info = engine.table_info(capsule)
        self.columns = info["columns"]
        self.types = info["types"]
        self.rows = info["rows"]
        self.label_column = info["label_column"] or None
        self.task = info["task"] or None
        self._y, self.classes = info["y"], info["classes"]

    def __len__(self):
        return self.rows

    def __repr__(self):
        return "Table(%d rows, columns=%r, label=%r)" % (self.rows, self.columns,
                                                       self.label_column)

    @property
    def y(self):
        """The labels: class labels (classification) or values (regression); None without a
        label column."""
        if self.label_column is None:
            return None
        if self.task == "classification":
            return [_label_value(self.classes[int(i)]) for i in self._y]
        return list(self._y)

    @property
    def y_encoded(self):
        """Class indices (classification) or values, as the engine sees them."""
        return None if self.label_column is None else list(self._y)

    def take(self, indices):
        return Table(engine.table_rows(self._t, [int(i) for i in indices]))

    def keep_columns(self, names):
        """A table of these columns only (an unknown name is an error listing the columns)."""
        return Table(engine.table_keep(self._t, list(names)))


def read_csv(path, label_column=None, task=None, separator=",", header=True, transforms=None):
    """CSV file(s) read by the engine's reader (types inferred per column; several files are
    appended by column name), then a TabularDataset's ``transforms`` ([{"keep_columns": [..]},
    {"drop_columns": [..]}, {"take": N}]) in order; ``label_column`` is taken out as the
    labels for ``task``."""
    paths = os.fspath(path) if isinstance(path, (str, os.PathLike)) else \
        [os.fspath(p) for p in path]
    return Table(engine.read_csv(paths, label_column, task, separator, bool(header),
                                 None if transforms is None else json.dumps(transforms)))


def table(data, columns=None, label_column=None, task=None, _model=None):
    """A Table from a pandas DataFrame, a dict of columns, or rows (lists) with ``columns``
    naming them. None / NaN / "" are missing values. Column types are inferred from the
    values' text as the CSV reader does (``_model``: typed by that table model's schema)."""
    if isinstance(data, Table):
        return data
    if hasattr(data, "columns") and hasattr(data, "__getitem__") and hasattr(data, "to_numpy"):
        names = [str(c) for c in data.columns]
        cols = [[None if _is_nan(v) else v for v in data[c].tolist()] for c in data.columns]
    elif isinstance(data, dict):
        names = [str(k) for k in data]
        cols = [list(v) for v in data.values()]
    else:
        rows = data.tolist() if hasattr(data, "tolist") else [list(r) for r in data]
        if columns is None:
            raise ValueError("rows need column names: pass columns=[...]")
        names = [str(c) for c in columns]
        for i, r in enumerate(rows):
            if len(r) != len(names):
                raise ValueError("row {} has {} values but there are {} columns ({})".format(
                    i, len(r), len(names), ", ".join(names)))
        cols = [[r[j] for r in rows] for j in range(len(names))]
    return Table(engine.table_from_columns(names, cols, label_column, task,
                                           None if _model is None else _model._p))


def _capsule(X):
    """The engine's handle of a Table; anything else as it is."""
    return X._t if isinstance(X, Table) else X


def _is_nan(v):
    return isinstance(v, float) and v != v


def transform_table(state, data):
    """The engineered features of a table through featurize()'s ``state``."""
    return _matrix(engine.transform_table(state, table(data)._t))


def featurize(data, featurization="auto"):
    """Fits the table featurizer: {"state": bytes, "X": engineered matrix, "names",
    "raw_names", "source" (raw column of each engineered feature)}."""
    r = engine.featurize(data._t, featurization)
    r["X"] = _matrix(r["X"])
    return r


class FittedPipeline:
    """A fitted featurizer + scaler + learner. Mirrors scikit-learn's predict/predict_proba."""

    def __init__(self, capsule):
        self._p = capsule
        info = engine.info(capsule)
        self.header = json.loads(info["header"])
        self.task = self.header["task"]
        self.classes_ = [_label_value(c) for c in info["classes"]]
        self.feature_names = info["feature_names"]
        self.label = info["label"]
        # Models trained on a table take raw rows: these are their columns (else None).
        raw = self.header.get("raw_columns")
        self.raw_columns = [c["name"] for c in raw] if raw else None

    def _input(self, X):
        """Raw input of a table model as a Table (DataFrame, dict of columns, rows in the raw
        column order) or a CSV path; numeric matrices pass through for matrix models."""
        if isinstance(X, Table):
            return X._t
        if self.raw_columns is None or isinstance(X, str):
            return X
        if isinstance(X, os.PathLike):
            return os.fspath(X)
        if isinstance(X, dict) or hasattr(X, "columns"):
            return table(X, _model=self)._t
        return table(X, columns=self.raw_columns, _model=self)._t

    def __repr__(self):
        return "FittedPipeline(%r)" % self.label

    def predict_raw(self, X):
        return _matrix(engine.predict_raw(self._p, self._input(X)))

    def predict_proba(self, X):
        if self.task != "classification":
            raise AttributeError("predict_proba is only available for classification models")
        return self.predict_raw(X)

    def predict(self, X):
        raw = self.predict_raw(X)
        if self.task == "regression":
            return _column(raw, 0)
        rows = raw.tolist() if hasattr(raw, "tolist") else raw
        labels = [self.classes_[max(range(len(r)), key=r.__getitem__)] for r in rows]
        try:
            import numpy as np
            return np.asarray(labels)
        except ImportError:
            return labels

    def explain(self, X, background=None, method="auto", samples=0, seed=0):
        """SHAP values: dict with values (per output: rows x features), expected_values,
        model_output, method, output ('probability' | 'margin' | 'value'), outputs."""
        r = engine.explain(self._p, self._input(X),
                           None if background is None else self._input(background), method,
                           samples, seed)
        r["values"] = [_matrix(v) for v in r["values"]]
        return r

    def set_table_featurizer(self, state):
        """Attach featurize()'s state: the model (fitted on its X) then takes raw tables."""
        engine.set_table_featurizer(self._p, state)
        self.__init__(self._p)

    def trees(self):
        return engine.trees(self._p)

    def to_bytes(self):
        return engine.serialize(self._p)

    def save(self, path):
        engine.save(self._p, os.fspath(path))


def fit(X, y, task, learner, params=None, scaler="", featurization="auto", threads=1, seed=0,
        feature_names=None):
    """X: a numeric matrix, or a Table (featurized by the engine; y None takes its labels)."""
    X = _capsule(X)
    return FittedPipeline(engine.fit(X, y, task, learner, params, scaler, featurization,
                                     threads, seed, feature_names))


def cross_validate(X, y, task, learner, params=None, scaler="", featurization="auto", folds=5,
                   threads=1, seed=0):
    """X: a numeric matrix, or a Table (featurized once on all its rows; y None: its labels)."""
    X = _capsule(X)
    return engine.cross_validate(X, y, task, learner, params, scaler, featurization, folds,
                                 threads, seed)


def evaluate(X, y, task, learner, params=None, scaler="", featurization="auto", folds=5,
             threads=1, seed=0, X_valid=None, y_valid=None):
    """Cross-validation (or explicit validation) scores plus the validation predictions:
    {"scores": {...}, "predictions": rows x outputs, "rows": training row of each prediction}.
    X may be a Table (featurized once on all its rows; y None: its labels; no X_valid)."""
    X = _capsule(X)
    r = engine.evaluate(X, y, task, learner, params, scaler, featurization, folds, threads,
                        seed, X_valid, y_valid)
    r["predictions"] = _matrix(r["predictions"])
    return r


def caruana_weights(predictions, y, task, metric, iterations=15, y_range=0.0):
    """Ensemble selection weights (Caruana et al. 2004) over validation predictions;
    y as class indices (classification) or values."""
    return engine.caruana_weights(predictions, y, task, metric, iterations, y_range)


def voting_ensemble(members, weights):
    return FittedPipeline(engine.voting_ensemble([m._p for m in members], weights))


def stack_ensemble(members, out_of_fold, y, seed=0):
    """members: fitted pipelines; out_of_fold: each member's predictions for every training
    row in row order; y: class indices or values."""
    return FittedPipeline(engine.stack_ensemble([m._p for m in members], out_of_fold, y, seed))


def search(X, y, task, metric, iterations=20, folds=5, time_budget=0.0, allowed=None,
           blocked=None, featurization="auto", threads=1, seed=0, keep_predictions=0):
    """The engine's cost-frugal search, run sequentially with k-fold CV scoring: a list of
    trials (iteration, pipeline, learner, scaler, params, score, scores — every metric, for
    tie-breaks such as log_loss when the primary metric saturates —, seconds, failed). With
    ``time_budget`` > 0 no trial starts that is expected to outlast the time left and the
    running one is stopped when it is spent (failed); ``iterations=0`` then means no cap.
    ``keep_predictions=k``: the best trial of each of the k best learners also carries its
    out-of-fold ``predictions`` (rows x outputs) and ``rows`` (the training row of each):
    diverse candidates for ensemble selection."""
    trials = engine.search(X, y, task, metric, iterations, folds, time_budget, allowed, blocked,
                           featurization, threads, seed, keep_predictions)
    for t in trials:
        if "predictions" in t:
            t["predictions"] = _matrix(t["predictions"])
    return trials


class Search:
    """The engine's search strategy step by step (src/automl/search.h), for a driver that runs
    trials itself (concurrently, in any order):

        s = Search("classification", "AUC_weighted", allowed=None, blocked=None, scalers=None,
                   featurization="auto", seed=0, budget_in_iterations=False, rows=0)
        t = s.next(seconds_left=None)  # {id, learner, params, scaler, label, expected_seconds}
        s.report(t["id"], score, seconds, failed=False)
        s.best, s.learners

    ``next`` returns None when no learner's next trial is expected to fit in ``seconds_left``.
    ``rows`` (the training rows, 0 unknown) scales the first-trial estimates of learners whose
    cost grows with rows squared (SVM, KNN); with ``cols`` (features) and rows x cols above
    100,000 the first trial is a DecisionTree (cheap and robust on large data). Unknown learners
    and a metric not of the task raise ValueError.
    """

    def __init__(self, task, metric, allowed=None, blocked=None, scalers=None,
                 featurization="auto", seed=0, budget_in_iterations=False, rows=0, cols=0):
        self._s = engine.search_new(task, metric, allowed, blocked, scalers, featurization,
                                    int(seed), bool(budget_in_iterations), int(rows), int(cols))

    def next(self, seconds_left=None):
        return engine.search_next(self._s, seconds_left)

    def report(self, id, score, seconds, failed=False):  # noqa: A002 - the trial's id
        score = float("nan") if score is None else float(score)
        engine.search_report(self._s, id, score, float(seconds), bool(failed or score != score))

    @property
    def best(self):
        """The best primary-metric score reported so far, or None."""
        return engine.search_state(self._s)["best"]

    @property
    def learners(self):
        """The learners in the search, in first-round order."""
        return engine.search_state(self._s)["learners"]


def search_space(learner, task):
    """How the search treats ``learner`` (registry.cc's SearchProfileOf): its searched
    hyperparameters (name, type, low, high, init, log, choices), relative cost, first-round
    place, whether it is scale-sensitive, and the fixed scaler otherwise."""
    return engine.search_space(learner, task)


def load(path):
    return FittedPipeline(engine.load(os.fspath(path)))


def loads(data):
    return FittedPipeline(engine.deserialize(bytes(data)))


def classification_scores(y_true, y_proba):
    return engine.classification_scores(y_true, y_proba)


def regression_scores(y_true, y_pred, y_range=0.0):
    return engine.regression_scores(y_true, y_pred, y_range)


def learners(task):
    return engine.learners(task)


def splits(y, task, folds=5, validation_size=0.0, seed=0):
    return engine.splits(y, task, folds, validation_size, seed)


def explain(model, X, background=None, method="auto", samples=0, seed=0):
    return model.explain(X, background, method, samples, seed)
