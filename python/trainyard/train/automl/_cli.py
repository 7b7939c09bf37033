"""``trainyard automl submit|predict`` (the C++ CLI runs this module with the SDK on its path)."""

import argparse
import csv
import json
import os
import sys

from trainyard.exceptions import UserErrorException


def _models(value):
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def _config_file(path):
    if not os.path.isfile(path):
        raise UserErrorException("config file {!r} not found".format(path))
    with open(path) as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise UserErrorException("{}: not valid JSON: {}".format(path, e)) from None
    else:
        from trainyard import _yaml
        try:
            cfg = _yaml.loads(text)
        except Exception as e:  # noqa: BLE001 - reported with the file name
            raise UserErrorException("{}: not valid YAML: {}".format(path, e)) from None
    if not isinstance(cfg, dict):
        raise UserErrorException("{}: the config must be a mapping of AutoMLConfig keyword "
                                 "arguments".format(path))
    base = os.path.dirname(os.path.abspath(path))
    for key in ("path", "data_script", "training_data", "validation_data"):
        v = cfg.get(key)
        if isinstance(v, str) and not os.path.isabs(v):
            cfg[key] = os.path.join(base, v)
    return cfg


def submit(argv):
    p = argparse.ArgumentParser(prog="trainyard automl submit")
    p.add_argument("config", nargs="?")
    p.add_argument("--csv")
    p.add_argument("--label-column")
    p.add_argument("--task")
    p.add_argument("--primary-metric")
    p.add_argument("--iterations", type=int)
    p.add_argument("--experiment-timeout-minutes", type=float)
    p.add_argument("--iteration-timeout-minutes", type=float)
    p.add_argument("--experiment-exit-score", type=float)
    p.add_argument("--n-cross-validations", type=int)
    p.add_argument("--validation-size", type=float)
    p.add_argument("--max-concurrent-iterations", type=int)
    p.add_argument("--blocked-models")
    p.add_argument("--allowed-models")
    p.add_argument("--experiment", default=None)
    p.add_argument("--register-model")
    p.add_argument("--no-wait", action="store_true")
    a = p.parse_args(argv)
    if a.config and a.csv:
        raise UserErrorException("give a CONFIG file or --csv, not both")
    cfg = _config_file(a.config) if a.config else {}
    if a.csv:
        if not a.label_column:
            raise UserErrorException("--csv needs --label-column (the column to predict)")
        if not os.path.isfile(a.csv):
            raise UserErrorException("CSV file {!r} not found".format(a.csv))
        cfg["training_data"] = os.path.abspath(a.csv)
    if not a.config and not a.csv:
        raise UserErrorException("give a CONFIG.yml|json or --csv DATA.csv --label-column COL "
                                 "--task classification|regression")
    for key in ("label_column", "task", "primary_metric", "iterations",
                "experiment_timeout_minutes", "iteration_timeout_minutes",
                "experiment_exit_score", "n_cross_validations", "validation_size",
                "max_concurrent_iterations"):
        v = getattr(a, key)
        if v is not None:
            cfg["label_column_name" if key == "label_column" else key] = v
    if a.blocked_models:
        cfg["blocked_models"] = _models(a.blocked_models)
    if a.allowed_models:
        cfg["allowed_models"] = _models(a.allowed_models)
    experiment_name = a.experiment or cfg.pop("experiment", None) or "automl"
    cfg.pop("experiment", None)
    if "task" not in cfg:
        raise UserErrorException("the task is missing: --task classification|regression (or "
                                 "task: in the config)")
    from trainyard.core import Experiment, Workspace
    from trainyard.train.automl import AutoMLConfig
    config = AutoMLConfig(**cfg)
    ws = Workspace.from_config()
    run = Experiment(ws, experiment_name).submit(config, show_output=not a.no_wait)
    if a.no_wait:
        print(run.id)
        return 0
    status = run.get_status()
    if status != "Completed":
        print("AutoML run {} ended {}".format(run.id, status), file=sys.stderr)
        return 1
    props = run.get_properties()
    print("\nbest: iteration {} {} {}={}\nrun: {}".format(
        props.get("best_iteration"), props.get("best_pipeline"), props.get("primary_metric"),
        props.get("best_score"), run.id))
    if a.register_model:
        model = run.register_model(model_name=a.register_model)
        print("registered model {}:{}".format(model.name, model.version))
    return 0


def _resolve_model(spec):
    from trainyard import _automl as engine
    if os.path.isfile(spec):
        return engine.load(spec)
    if os.sep in spec or spec.endswith(".tyam"):
        raise UserErrorException("model file {!r} not found".format(spec))
    from trainyard.core import Model, Workspace
    name, _, version = spec.partition(":")
    ws = Workspace.from_config()
    model = Model(ws, name, version=int(version)) if version else Model(ws, name)
    import tempfile
    d = tempfile.mkdtemp(prefix="trainyard-automl-model-")
    root = model.download(target_dir=d, exist_ok=True)
    for base, _, files in os.walk(root if os.path.isdir(root) else d):
        for f in files:
            if f.endswith(".tyam"):
                return engine.load(os.path.join(base, f))
    raise UserErrorException("model {} has no AutoML model file (.tyam)".format(spec))


def predict(argv):
    p = argparse.ArgumentParser(prog="trainyard automl predict")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--label-column")
    p.add_argument("--proba", action="store_true")
    p.add_argument("--output")
    a = p.parse_args(argv)
    if not os.path.isfile(a.data):
        raise UserErrorException("data file {!r} not found".format(a.data))
    from trainyard import _automl as engine
    model = _resolve_model(a.model)
    # The engine reads the CSV: a model trained on a table matches its raw columns by name
    # (extra columns such as the label are ignored) and featurizes the raw values; a model
    # trained on a numeric matrix takes the numeric columns (by feature name when it has them).
    if model.raw_columns is not None:
        X = os.path.abspath(a.data)
    else:
        X = engine.read_csv(a.data)
        if a.label_column and a.label_column in X.columns:
            X = X.keep_columns([c for c in X.columns if c != a.label_column])
    out = open(a.output, "w", newline="") if a.output else sys.stdout
    w = csv.writer(out)
    pred = model.predict(X)
    if a.proba and model.task == "classification":
        proba = model.predict_proba(X)
        w.writerow(["prediction"] + ["proba_{}".format(c) for c in model.classes_])
        for y, pr in zip(pred, proba):
            w.writerow([y] + ["{:.6g}".format(v) for v in pr])
    else:
        w.writerow(["prediction"])
        for y in pred:
            w.writerow([y])
    if a.output:
        out.close()
    return 0


def main(argv):
    if not argv or argv[0] not in ("submit", "predict"):
        print("usage: trainyard automl submit|predict ... (trainyard automl --help)",
              file=sys.stderr)
        return 2
    try:
        return (submit if argv[0] == "submit" else predict)(argv[1:])
    except UserErrorException as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    except ValueError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
