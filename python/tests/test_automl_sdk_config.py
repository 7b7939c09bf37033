"""AutoMLConfig validation, the driver's data checks and CSV reader, the live table's row
format — the parts of the AutoML driver that need no server (the search strategy's tests are
engine tests: python/tests/automl/test_automl_search.py, tests/cpp/automl/search_test.cc)."""
import math
import os

import pytest

from trainyard.exceptions import UserErrorException
from trainyard.train.automl import AutoMLConfig
from trainyard.train.automl import _data
from trainyard.train.automl.run import format_row

X = [[1.0, 2.0], [2.0, 1.0], [3.0, 0.0], [0.0, 3.0]]
Y = [0, 1, 0, 1]


def test_defaults_and_settings():
    cfg = AutoMLConfig(task="classification", X=X, y=Y, preprocess=False,
                       blacklist_models=["LightGBM"], n_cross_validations=3)
    s = cfg.settings()
    assert s["primary_metric"] == "accuracy" and s["iterations"] == 100
    assert s["featurization"] == "off" and s["blocked_models"] == ["XGBoostClassifier"]
    reg = AutoMLConfig(task="regression", X=X, y=[0.5, 1.5, 2.5, 3.5],
                       experiment_timeout_minutes=1, primary_metric="r2_score")
    assert reg.settings()["iterations"] is None and reg.primary_metric == "r2_score"


@pytest.mark.parametrize("kwargs,match", [
    (dict(task="classification", primary_metric="r2_score"), "not a classification metric"),
    (dict(task="forecasting"), "task must be"),
    (dict(task="classification", iterations=0), "iterations must be >= 1"),
    (dict(task="classification", iterations=2.5), "iterations must be an integer"),
    (dict(task="classification", n_cross_validations=1), "n_cross_validations must be >= 2"),
    (dict(task="classification", validation_size=1.5), r"validation_size must be in \(0, 1\)"),
    (dict(task="classification", experiment_timeout_minutes=-1), "must be >"),
    (dict(task="classification", allowed_models=["Nope"]), "unknown classification model"),
    (dict(task="classification", allowed_models=["KNN"], blocked_models=["KNN"]),
     "leave no model"),
    (dict(task="classification", n_cross_validations=3, validation_size=0.2), "not both"),
    (dict(task="classification", featurization="fancy"), "featurization must be"),
    (dict(task="classification", nonsense=1), "unknown setting"),
])
def test_bad_settings_are_refused(kwargs, match):
    kwargs = dict(kwargs)
    kwargs.setdefault("X", X)
    kwargs.setdefault("y", Y)
    with pytest.raises(UserErrorException, match=match):
        AutoMLConfig(**kwargs)


def test_data_sources(tmp_path):
    with pytest.raises(UserErrorException, match="no training data"):
        AutoMLConfig(task="classification")
    with pytest.raises(UserErrorException, match="X has 4 rows but y has 3"):
        AutoMLConfig(task="classification", X=X, y=Y[:3])
    with pytest.raises(UserErrorException, match="data_script .* was not found"):
        AutoMLConfig(task="classification", data_script=str(tmp_path / "get_data.py"))
    (tmp_path / "get_data.py").write_text("def get_data():\n    return {}\n")
    cfg = AutoMLConfig(task="classification", path=str(tmp_path), data_script="get_data.py")
    assert cfg.data_script == "get_data.py" and cfg.path == str(tmp_path)
    with pytest.raises(UserErrorException, match="training_data needs label_column_name"):
        AutoMLConfig(task="classification", training_data=str(tmp_path / "x.csv"))


def test_data_checks():
    with pytest.raises(_data.DataError, match="empty"):
        _data.check([], [], "classification")
    with pytest.raises(_data.DataError, match="missing"):
        _data.check(X, [0, float("nan"), 1, 0], "classification")
    with pytest.raises(_data.DataError, match="at least two classes"):
        _data.check(X, [1, 1, 1, 1], "classification")
    with pytest.raises(_data.DataError, match="row 1 of X has 1 values"):
        _data.check([[1.0, 2.0], [1.0]], [0, 1], "classification")
    assert _data.check(X, Y, "classification") == 2


def test_csv_reader(tmp_path):
    """The driver reads CSVs through the engine and featurizes them there."""
    p = tmp_path / "d.csv"
    p.write_text("num,color,label\n1.5,red,yes\n,blue,no\n3,red,yes\n")
    t = _data.read_table(str(p), "label", "classification")
    assert t.columns == ["num", "color"] and t.y == ["yes", "no", "yes"]
    f = _data.featurize(t, "auto")
    Xc = f["X"].tolist() if hasattr(f["X"], "tolist") else f["X"]
    assert f["names"] == ["num", "num_missing", "color_blue", "color_red"]
    assert Xc[0] == [1.5, 0.0, 0.0, 1.0] and math.isnan(Xc[1][0]) and Xc[1][1:] == [1.0, 1.0, 0.0]
    with pytest.raises(_data.DataError, match="column 'color'.*featurization='auto'"):
        _data.featurize(t, "off")
    with pytest.raises(_data.DataError, match="label column 'target' is not in the CSV"):
        _data.read_table(str(p), "target", "classification")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(_data.DataError, match="is empty"):
        _data.read_table(str(empty), "label", "classification")


def test_live_table_row_matches_the_seed():
    seed = "         2      Standardize SGD classifier            0:02:36                  " \
           "0.954     0.954"
    assert format_row(2, "Standardize SGD classifier", "0:02:36", 0.954, 0.954) == seed + "\n"
