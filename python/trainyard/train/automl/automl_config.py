"""``AutoMLConfig`` (``azureml.train.automl.AutoMLConfig``): what an AutoML experiment searches
and under which budgets. ``Experiment.submit(config)`` creates a parent run of kind ``automl``
whose driver (:mod:`trainyard.train.automl._driver`) the local agent executes."""

import logging
import os
import shutil
import tempfile

from trainyard._json import jsonable
from trainyard.exceptions import UserErrorException

CLASSIFICATION_METRICS = ("accuracy", "AUC_weighted", "norm_macro_recall",
                          "average_precision_score_weighted", "precision_score_weighted")
REGRESSION_METRICS = ("spearman_correlation", "normalized_root_mean_squared_error",
                      "r2_score", "normalized_mean_absolute_error")
MINIMIZED_METRICS = ("normalized_root_mean_squared_error", "normalized_mean_absolute_error")
CLASSIFICATION_MODELS = ("LogisticRegression", "SGD", "NaiveBayes", "MultinomialNaiveBayes",
                         "BernoulliNaiveBayes", "KNN", "DecisionTree", "RandomForest",
                         "ExtremeRandomTrees", "GradientBoosting", "XGBoostClassifier",
                         "LinearSVM", "SVM")
REGRESSION_MODELS = ("SGD", "KNN", "DecisionTree", "RandomForest", "ExtremeRandomTrees",
                     "GradientBoosting", "XGBoostRegressor", "SVM", "ElasticNet")
# Azure's older names for the same learners.
MODEL_ALIASES = {"LightGBM": "XGBoostClassifier", "XGBoost": "XGBoostClassifier",
                 "BernoulliNB": "BernoulliNaiveBayes", "MultinomialNB": "MultinomialNaiveBayes",
                 "GaussianNB": "NaiveBayes", "LinearSVC": "LinearSVM", "SVC": "SVM",
                 "KNeighbors": "KNN", "ExtraTrees": "ExtremeRandomTrees",
                 "ElasticNetCV": "ElasticNet"}
SETTINGS_FILE = "automl_settings.json"
DATA_DIR = ".automl_data"


def _error(msg):
    raise UserErrorException("AutoMLConfig: " + msg)


def _positive_number(name, value, integer=False, allow_none=True, minimum=None):
    if value is None:
        if allow_none:
            return None
        _error("{} is required".format(name))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (integer and int(value) != value):
        _error("{} must be {}, got {!r}".format(name, "an integer" if integer else "a number",
                                                value))
    low = minimum if minimum is not None else (1 if integer else 0)
    if value < low or (minimum is None and not integer and value <= 0):
        _error("{} must be {} {}, got {!r}".format(
            name, ">=" if minimum is not None or integer else ">", low, value))
    return int(value) if integer else float(value)


def _shape(name, data):
    if data is None:
        return None
    shape = getattr(data, "shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    try:
        rows = list(data)
    except TypeError:
        _error("{} must be a matrix (numpy array or list of rows), got {}".format(
            name, type(data).__name__))
    if rows and isinstance(rows[0], (list, tuple)):
        return (len(rows), len(rows[0]))
    return (len(rows),)


class AutoMLConfig:
    """Settings of an AutoML experiment; every keyword is checked here, before anything is
    submitted."""

    def __init__(self, task, path=None, iterations=None, data_script=None, primary_metric=None,
                 compute_target=None, spark_context=None, X=None, y=None, sample_weight=None,
                 X_valid=None, y_valid=None, sample_weight_valid=None, cv_splits_indices=None,
                 validation_size=None, n_cross_validations=None, y_min=None, y_max=None,
                 num_classes=None, preprocess=None, featurization=None,
                 max_cores_per_iteration=1, max_concurrent_iterations=1,
                 iteration_timeout_minutes=None, mem_in_mb=None, enforce_time_on_windows=None,
                 experiment_timeout_minutes=None, experiment_exit_score=None,
                 enable_early_stopping=False, blacklist_models=None, whitelist_models=None,
                 blocked_models=None, allowed_models=None, auto_blacklist=None,
                 exclude_nan_labels=True, verbosity=logging.INFO, enable_tf=False,
                 enable_onnx_compatible_models=False, enable_voting_ensemble=True,
                 enable_stack_ensemble=None, debug_log="automl.log", training_data=None,
                 validation_data=None, label_column_name=None, weight_column_name=None,
                 model_explainability=False, run_configuration=None, name=None, seed=0,
                 **kwargs):
        if task not in ("classification", "regression"):
            _error("task must be 'classification' or 'regression', got {!r} (forecasting is "
                   "not supported)".format(task))
        unknown = sorted(k for k in kwargs if k not in ("environment", "enable_cache",
                                                         "verbosity", "show_warnings"))
        if unknown:
            _error("unknown setting(s) {}: see shared/API.md's AutoML section for the "
                   "accepted keywords".format(", ".join(unknown)))
        self.task = task
        self.path = os.path.abspath(os.fspath(path)) if path else None
        if self.path is not None and not os.path.isdir(self.path):
            _error("path {!r} is not a folder (resolved to {!r}: a relative path is relative "
                   "to the working directory)".format(os.fspath(path), self.path))
        metrics = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
        if primary_metric is None:
            primary_metric = metrics[0] if task == "classification" else metrics[0]
        if primary_metric not in metrics:
            _error("primary_metric {!r} is not a {} metric; use one of {}".format(
                primary_metric, task, ", ".join(metrics)))
        self.primary_metric = primary_metric
        self.iterations = _positive_number("iterations", iterations, integer=True)
        self.iteration_timeout_minutes = _positive_number("iteration_timeout_minutes",
                                                          iteration_timeout_minutes)
        self.experiment_timeout_minutes = _positive_number("experiment_timeout_minutes",
                                                           experiment_timeout_minutes)
        if self.iterations is None and self.experiment_timeout_minutes is None:
            self.iterations = 100  # Azure's default
        if self.iterations is not None and self.iterations > 1000:
            _error("iterations must be <= 1000, got {}".format(self.iterations))
        if experiment_exit_score is not None:
            if isinstance(experiment_exit_score, bool) or \
                    not isinstance(experiment_exit_score, (int, float)):
                _error("experiment_exit_score must be a number, got {!r}".format(
                    experiment_exit_score))
            experiment_exit_score = float(experiment_exit_score)
        self.experiment_exit_score = experiment_exit_score
        self.max_concurrent_iterations = _positive_number(
            "max_concurrent_iterations", max_concurrent_iterations, integer=True,
            allow_none=False)
        if max_cores_per_iteration == -1:
            max_cores_per_iteration = os.cpu_count() or 1
        self.max_cores_per_iteration = _positive_number(
            "max_cores_per_iteration", max_cores_per_iteration, integer=True, allow_none=False)
        self.n_cross_validations = _positive_number("n_cross_validations", n_cross_validations,
                                                    integer=True, minimum=2)
        if validation_size is not None:
            validation_size = _positive_number("validation_size", validation_size)
            if validation_size >= 1:
                _error("validation_size must be in (0, 1), got {}".format(validation_size))
        self.validation_size = validation_size
        if cv_splits_indices is not None:
            _error("cv_splits_indices is not supported; use n_cross_validations")
        if sample_weight is not None or weight_column_name is not None:
            _error("sample weights are not supported")
        known = CLASSIFICATION_MODELS if task == "classification" else REGRESSION_MODELS

        def models(name, value):
            if value is None:
                return None
            if isinstance(value, str):
                value = [value]
            out = []
            for m in value:
                m = MODEL_ALIASES.get(m, m)
                if task == "regression" and m == "XGBoostClassifier":
                    m = "XGBoostRegressor"
                if m not in known:
                    _error("{}: unknown {} model {!r}; known: {}".format(
                        name, task, m, ", ".join(known)))
                out.append(m)
            return out

        self.blocked_models = models("blocked_models", blocked_models if blocked_models
                                     is not None else blacklist_models)
        self.allowed_models = models("allowed_models", allowed_models if allowed_models
                                     is not None else whitelist_models)
        left = [m for m in (self.allowed_models or known) if m not in (self.blocked_models or [])]
        if not left:
            _error("blocked_models/allowed_models leave no model to try")
        if featurization is None:
            featurization = "off" if preprocess is False else "auto"
        if featurization not in ("auto", "off"):
            _error("featurization must be 'auto' or 'off', got {!r}".format(featurization))
        self.featurization = featurization
        self.enable_early_stopping = bool(enable_early_stopping)
        self.enable_voting_ensemble = bool(enable_voting_ensemble)
        self.enable_stack_ensemble = bool(enable_stack_ensemble) if enable_stack_ensemble \
            is not None else True
        self.model_explainability = bool(model_explainability)
        self.debug_log = debug_log
        self.verbosity = verbosity
        self.name = name
        self.seed = int(seed)
        self.compute_target = compute_target
        self.run_configuration = run_configuration
        self.environment = kwargs.get("environment")
        self.label_column_name = label_column_name
        # Data: a data script, inline X/y, or a dataset/CSV with a label column.
        self.data_script = None
        if data_script is not None:
            script = os.fspath(data_script)
            # As Azure: a relative data_script is relative to the working directory (the seed
            # writes path=project_folder, data_script=project_folder + "/get_data.py"); one
            # that is not there is looked up inside `path` (data_script="get_data.py").
            tried = [os.path.abspath(script)]
            if not os.path.isabs(script) and self.path:
                tried.append(os.path.join(self.path, script))
            full = next((t for t in tried if os.path.isfile(t)), None)
            if full is None:
                _error("data_script {!r} was not found: tried {} (a relative data_script is "
                       "relative to the working directory {}, then to path)".format(
                           data_script, " and ".join(repr(t) for t in dict.fromkeys(tried)),
                           os.getcwd()))
            if self.path is None:
                self.path = os.path.dirname(os.path.abspath(full))
            rel = os.path.relpath(os.path.abspath(full), self.path)
            if rel.startswith(".."):
                _error("data_script {!r} must be inside path {!r}".format(data_script,
                                                                          self.path))
            self.data_script = rel
        if training_data is not None:
            if label_column_name is None:
                _error("training_data needs label_column_name")
            if X is not None or data_script is not None:
                _error("give training_data, X/y or data_script, not several")
        sources = sum(s is not None for s in (data_script, X, training_data))
        if sources == 0:
            _error("no training data: give data_script (a get_data.py returning "
                   "{'X': ..., 'y': ...}), X and y, or training_data with label_column_name")
        if sources > 1:
            _error("give one of data_script, X/y or training_data")
        if X is not None and y is None:
            _error("X needs y")
        self.X, self.y, self.X_valid, self.y_valid = X, y, X_valid, y_valid
        self.training_data, self.validation_data = training_data, validation_data
        xs, ys = _shape("X", X), _shape("y", y)
        if xs is not None and ys is not None and xs[0] != ys[0]:
            _error("X has {} rows but y has {}".format(xs[0], ys[0]))
        vs = _shape("X_valid", X_valid)
        if (X_valid is None) != (y_valid is None) and not (X_valid is not None and
                                                          model_explainability):
            _error("X_valid and y_valid go together")
        if vs is not None and xs is not None and len(vs) > 1 and len(xs) > 1 and vs[1] != xs[1]:
            _error("X_valid has {} columns but X has {}".format(vs[1], xs[1]))
        # X_valid without y_valid (the seed's form) is the explanation data only.
        self.validate_with_valid = X_valid is not None and y_valid is not None
        if self.validate_with_valid and (n_cross_validations or validation_size):
            _error("give X_valid/y_valid or n_cross_validations/validation_size, not both")
        if n_cross_validations and validation_size:
            _error("give n_cross_validations or validation_size, not both")

    def settings(self):
        """The JSON settings the driver reads."""
        return {
            "task": self.task, "primary_metric": self.primary_metric,
            "iterations": self.iterations,
            "iteration_timeout_minutes": self.iteration_timeout_minutes,
            "experiment_timeout_minutes": self.experiment_timeout_minutes,
            "experiment_exit_score": self.experiment_exit_score,
            "enable_early_stopping": self.enable_early_stopping,
            "max_concurrent_iterations": self.max_concurrent_iterations,
            "max_cores_per_iteration": self.max_cores_per_iteration,
            "n_cross_validations": self.n_cross_validations,
            "validation_size": self.validation_size,
            "blocked_models": self.blocked_models, "allowed_models": self.allowed_models,
            "featurization": self.featurization,
            "enable_voting_ensemble": self.enable_voting_ensemble,
            "enable_stack_ensemble": self.enable_stack_ensemble,
            "model_explainability": self.model_explainability,
            "data_script": self.data_script, "label_column_name": self.label_column_name,
            "debug_log": self.debug_log, "seed": self.seed, "name": self.name,
        }

    def _write_data(self, folder):
        handover = _handover_module()
        os.makedirs(os.path.join(folder, DATA_DIR), exist_ok=True)
        files = {}
        if self.X is not None:
            handover.write(os.path.join(folder, DATA_DIR, "train.tyds"), self.X,
                           _labels(self.y))
            files["train"] = DATA_DIR + "/train.tyds"
        if self.training_data is not None:
            files["train_csv"] = _csv_into(self.training_data, folder, "train")
        if self.validation_data is not None:
            files["valid_csv"] = _csv_into(self.validation_data, folder, "valid")
        if self.X_valid is not None:
            handover.write(os.path.join(folder, DATA_DIR, "valid.tyds"), self.X_valid,
                           _labels(self.y_valid) if self.y_valid is not None else None)
            files["valid"] = DATA_DIR + "/valid.tyds"
        return files

    def _environment(self):
        """The run's environment: the one given, else this interpreter as is (the engine
        binding and the data script's packages are what the submitting Python has)."""
        env = self.environment or getattr(self.run_configuration, "environment", None)
        if env is not None:
            return env
        import sys
        from trainyard.core.environment import Environment
        target = getattr(self.compute_target, "name", self.compute_target) or "local"
        if target != "local":
            # On an attached machine this interpreter's path means nothing: use the node's
            # python3 (with the packages the data script needs installed there, as on a DSVM).
            env = Environment("automl-remote")
            env.python.user_managed_dependencies = True
            env.python.interpreter_path = "python3"
            return env
        env = Environment("automl-local")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
        return env

    def _submit_to_experiment(self, experiment, tags=None, show_output=False, **kwargs):
        from trainyard.core.script_run_config import _environment_spec
        staging = tempfile.mkdtemp(prefix="trainyard-automl-")
        try:
            if self.path:
                shutil.copytree(self.path, staging, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".git", "__pycache__",
                                                              "outputs", "logs"))
            settings = self.settings()
            settings["data_files"] = self._write_data(staging)
            import json
            with open(os.path.join(staging, SETTINGS_FILE), "w") as f:
                json.dump(jsonable(settings), f, indent=1)
            target = self.compute_target
            target = getattr(target, "name", target) or "local"
            config = {
                "source_directory": staging,
                "script": None,
                "command": ["python", "-m", "trainyard.train.automl._driver", SETTINGS_FILE],
                "arguments": [],
                "compute_target": target,
                "environment": _environment_spec(self._environment()),
                "max_run_duration_seconds": None,
            }
            body = {"kind": "automl", "run_id": kwargs.get("run_id"), "parent_id": None,
                    "display_name": self.name,
                    "tags": {str(k): "" if v is None else str(v)
                             for k, v in (tags or {}).items()},
                    "properties": {"primary_metric": self.primary_metric, "task": self.task,
                                   "iterations": str(self.iterations or ""),
                                   "experiment_timeout_minutes":
                                       str(self.experiment_timeout_minutes or "")},
                    "status": None, "config": config}
            run = experiment._create_run(body)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if show_output:
            run._show_live_table()
        return run


def _handover_module():
    """trainyard/_automl/handover.py (standard library only) without loading the engine
    binding: submitting needs no compiled code."""
    import importlib.util
    import sys
    name = "trainyard._automl.handover"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "_automl", "handover.py")
    spec = importlib.util.spec_from_file_location("trainyard_automl_handover", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _labels(y):
    if y is None:
        return None
    if hasattr(y, "tolist"):
        y = y.tolist()
    return [v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v for v in y]


def _csv_into(data, folder, name):
    """Training/validation data into the snapshot for the engine to read: a CSV path is
    copied; a TabularDataset's delimited files are downloaded (no pandas) next to a JSON spec
    with its reading options and column transforms (keep/drop columns, take), which the
    driver hands to the engine's CSV reader."""
    if isinstance(data, (str, os.PathLike)):
        dest = os.path.join(folder, DATA_DIR, name + ".csv")
        if not os.path.isfile(data):
            _error("training data {!r} is not a file".format(os.fspath(data)))
        shutil.copyfile(data, dest)
        return DATA_DIR + "/" + name + ".csv"
    definition = getattr(data, "_definition", None)
    if not isinstance(definition, dict) or definition.get("type") != "tabular":
        _error("training_data must be a CSV path or a TabularDataset "
               "(Dataset.Tabular.from_delimited_files), got {}".format(type(data).__name__))
    import json
    from trainyard._http import quote_path
    ws = data._require_workspace("AutoML training data")
    files = ws._client.post("/api/v1/dataset-files", {"definition": definition},
                            idempotent=True, timeout=3600)["files"]
    if not files:
        _error("the TabularDataset given as {} data has no files".format(name))
    rel = []
    for i, f in enumerate(files):
        local = "{}_files/{}_{}".format(name, i, os.path.basename(f["path"]) or "part.csv")
        ws._client.download("/api/v1/blobs/{}".format(quote_path(f["sha256"])),
                            os.path.join(folder, DATA_DIR, *local.split("/")))
        rel.append(local)
    options = definition.get("options") or {}
    spec = {"files": rel, "separator": options.get("separator", ","),
            "header": bool(options.get("header", True)),
            "transforms": definition.get("transforms") or []}
    with open(os.path.join(folder, DATA_DIR, name + ".json"), "w") as f:
        json.dump(spec, f, indent=1)
    return DATA_DIR + "/" + name + ".json"
