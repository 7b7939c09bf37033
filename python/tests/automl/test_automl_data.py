"""Dataset handover format, validation splits and bad-input errors."""
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from trainyard._automl import handover


def test_handover_roundtrip_numpy_and_lists(automl, tmp_path):
    X = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -6.5]])
    path = tmp_path / "d.bin"
    handover.write(path, X, np.array([7, 3]), feature_names=["a", "b", "c"])
    got = automl.engine.read_handover(str(path), "classification")
    data, rows, cols = got["X"]
    flat = np.frombuffer(data, dtype="<f8")
    assert (rows, cols) == (2, 3)
    assert np.array_equal(flat.reshape(2, 3), X, equal_nan=True)
    assert got["feature_names"] == ["a", "b", "c"]
    assert got["classes"] == ["3", "7"] and got["y"] == [1.0, 0.0]
    # The same file from plain lists (no numpy in the data script).
    handover.write(tmp_path / "l.bin", [[1.0, float("nan"), 3.0], [4, 5, -6.5]], [7, 3],
                   feature_names=["a", "b", "c"])
    assert (tmp_path / "l.bin").read_bytes() == path.read_bytes()
    Xr, yr, names = handover.read(path)
    assert yr == [7.0, 3.0] and names == ["a", "b", "c"] and math.isnan(Xr[0][1])


def test_handover_string_labels_and_regression(automl, tmp_path):
    p = tmp_path / "s.bin"
    handover.write(p, [[0.0], [1.0], [2.0]], ["cat", "dog", "cat"])
    got = automl.engine.read_handover(str(p), "classification")
    assert got["classes"] == ["cat", "dog"] and got["y"] == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="regression needs numeric y"):
        automl.engine.read_handover(str(p), "regression")
    handover.write(p, [[0.0], [1.0]], [0.5, 2.5])
    assert automl.engine.read_handover(str(p), "regression")["y"] == [0.5, 2.5]


def test_handover_corrupt_files_are_rejected(automl, tmp_path):
    p = tmp_path / "bad.bin"
    good = handover.encode([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    p.write_bytes(b"NOPE" + good[4:])
    with pytest.raises(ValueError, match="not a Trainyard handover file"):
        automl.engine.read_handover(str(p), "classification")
    p.write_bytes(good[:-3])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        automl.engine.read_handover(str(p), "classification")
    p.write_bytes(good[:4] + b"\x09\x00\x00\x00" + good[8:])
    with pytest.raises(ValueError, match="version 9 is not supported"):
        automl.engine.read_handover(str(p), "classification")
    with pytest.raises(FileNotFoundError):
        automl.engine.read_handover(str(tmp_path / "missing.bin"), "classification")
    p.write_bytes(handover.encode([[1.0], [2.0]], [1, 1]))
    with pytest.raises(ValueError, match="at least two classes"):
        automl.engine.read_handover(str(p), "classification")


def test_stratified_folds_partition_and_keep_class_ratios(automl):
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    folds = automl.splits(y, "classification", folds=5, seed=3)
    assert len(folds) == 5
    seen = []
    for train, valid in folds:
        assert not set(train) & set(valid)
        assert len(train) + len(valid) == len(y)
        counts = np.bincount(y[valid], minlength=3)
        assert list(counts) == [10, 6, 4]
        seen += valid
    assert sorted(seen) == list(range(len(y)))
    assert automl.splits(y, "classification", folds=5, seed=3) == folds  # deterministic


def test_regression_kfold_and_holdout(automl):
    y = np.linspace(0, 1, 101)
    folds = automl.splits(y, "regression", folds=3)
    assert sorted(len(v) for _, v in folds) == [33, 34, 34]
    (train, valid), = automl.splits(y, "regression", validation_size=0.2)
    assert len(valid) == 20 and len(train) == 81
    yc = np.array([0] * 80 + [1] * 20)
    (train, valid), = automl.splits(yc, "classification", validation_size=0.25)
    assert list(np.bincount(yc[valid])) == [20, 5]


def test_default_validation_follows_azure(automl):
    dv = automl.engine.default_validation
    assert dv(500) == {"kind": "cv", "folds": 10, "fraction": 0.0}
    assert dv(5000)["folds"] == 3
    assert dv(20001) == {"kind": "holdout", "folds": 0, "fraction": 0.1}
    assert dv(100, True)["kind"] == "explicit"
    assert dv(100, False, 0.3) == {"kind": "holdout", "folds": 0, "fraction": 0.3}
    assert dv(100, False, 0.0, 5)["folds"] == 5
    with pytest.raises(ValueError, match="not both"):
        dv(100, False, 0.2, 5)


def test_bad_training_input_gives_clear_errors(automl):
    X = np.random.default_rng(0).random((20, 3))
    y = np.array([0, 1] * 10)
    with pytest.raises(ValueError, match="missing or infinite label at row 2"):
        automl.fit(X, np.where(np.arange(20) == 2, np.nan, y), "classification", "DecisionTree")
    with pytest.raises(ValueError, match="at least two classes"):
        automl.fit(X, np.zeros(20), "classification", "DecisionTree")
    with pytest.raises(ValueError, match="y has 19 values but X has 20 rows"):
        automl.fit(X, y[:19], "classification", "DecisionTree")
    with pytest.raises(ValueError, match="every feature column is constant"):
        automl.fit(np.ones((20, 3)), y, "classification", "DecisionTree")
    Xn = X.copy()
    Xn[4, 1] = np.nan
    with pytest.raises(ValueError, match="missing value .NaN. at row 4, column 1"):
        automl.fit(Xn, y, "classification", "DecisionTree", featurization="off")
    with pytest.raises(ValueError, match="X has no rows"):
        automl.fit(np.zeros((0, 3)), [], "regression", "DecisionTree")
    with pytest.raises(ValueError, match="model 'Nope' is not available for classification"):
        automl.fit(X, y, "classification", "Nope")
    with pytest.raises(ValueError, match="ElasticNet' is not available for classification"):
        automl.fit(X, y, "classification", "ElasticNet")
    with pytest.raises(ValueError, match="has no hyperparameter 'depth'"):
        automl.fit(X, y, "classification", "RandomForest", params={"depth": 3})
    with pytest.raises(ValueError, match="scaler 'Scale 2' is unknown"):
        automl.fit(X, y, "classification", "KNN", scaler="Scale 2")
    with pytest.raises(ValueError, match="non-negative"):
        automl.fit(X - 0.5, y, "classification", "MultinomialNaiveBayes")
    with pytest.raises(ValueError, match="row 1 has 2 values, row 0 has 3"):
        automl.fit([[1, 2, 3], [1, 2]], [0, 1], "classification", "KNN")


def test_featurization_imputes_and_drops_constant_columns(automl):
    rng = np.random.default_rng(1)
    X = rng.random((60, 4))
    X[:, 2] = 5.0  # constant: dropped
    y = (X[:, 0] > 0.5).astype(int)
    X[::7, 0] = np.nan  # imputed with the column mean
    m = automl.fit(X, y, "classification", "DecisionTree", featurization="auto")
    assert m.header["n_features"] == 4
    pred = m.predict(X)
    assert pred.shape == (60,)
    e = m.explain(X[:5], method="tree")
    assert all(np.all(v[:, 2] == 0) for v in e["values"])  # dropped column: no attribution


def _other_python(version):
    """An interpreter of `version` that actually runs (pyenv shims may not)."""
    candidates = []
    root = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(root):
        candidates += [os.path.join(root, d, "bin", "python3") for d in sorted(os.listdir(root))
                       if d.startswith(version + ".")]
    candidates += [shutil.which("python" + version)]
    for exe in candidates:
        if exe and os.path.exists(exe) and subprocess.run(
                [exe, "-c", "pass"], capture_output=True, timeout=30).returncode == 0:
            return exe
    return None


@pytest.mark.parametrize("version", ["3.13", "3.12"])
def test_stable_abi_module_loads_in_other_pythons(automl, version):
    exe = _other_python(version)
    if exe is None:
        pytest.skip("no Python %s on this machine" % version)
    engine_dir = os.path.dirname(automl.engine.__file__)
    assert automl.engine.__file__.endswith(".abi3.so")
    code = ("import trainyard._automl as a; "
            "m = a.fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1], 'classification', 'DecisionTree'); "
            "print(list(m.predict([[0.2], [2.8]])), a.classification_scores([0, 1], [[0.9, 0.1], [0.2, 0.8]])['accuracy'])")
    env = dict(os.environ, TRAINYARD_AUTOML_ENGINE_DIR=engine_dir,
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(automl.__file__))))
    out = subprocess.run([exe, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0, 1] 1.0"
