"""Model file: versioned, self-contained, save/load round trip for every learner."""
import json
import struct

import numpy as np
import pytest

CASES = [
    ("classification", "LogisticRegression", "Standardize"),
    ("classification", "SGD", "Robust Scaler"),
    ("classification", "NaiveBayes", ""),
    ("classification", "MultinomialNaiveBayes", "Scale 0/1"),
    ("classification", "BernoulliNaiveBayes", "Scale MaxAbs 1"),
    ("classification", "KNN", "Normalizer"),
    ("classification", "DecisionTree", ""),
    ("classification", "RandomForest", "Standardize"),
    ("classification", "ExtremeRandomTrees", ""),
    ("classification", "GradientBoosting", ""),
    ("classification", "XGBoostClassifier", ""),
    ("classification", "LinearSVM", "Standardize"),
    ("classification", "SVM", "Standardize"),
    ("regression", "ElasticNet", "Standardize"),
    ("regression", "SGD", "Standardize"),
    ("regression", "XGBoostRegressor", ""),
    ("regression", "GradientBoosting", ""),
    ("regression", "SVM", "Scale 0/1"),
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((150, 5))
    X[3, 2] = np.nan  # featurization 'auto' imputes
    y_cls = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 3] > 0.8)
    y_reg = 3 * X[:, 0] - 2 * X[:, 1] + rng.normal(0, 0.1, 150)
    return X, y_cls, y_reg


@pytest.mark.parametrize("task,learner,scaler", CASES)
def test_save_load_roundtrip_predicts_identically(automl, data, tmp_path, task, learner, scaler):
    X, y_cls, y_reg = data
    y = y_cls if task == "classification" else y_reg
    names = ["f%d" % i for i in range(5)]
    model = automl.fit(X, y, task, learner, scaler=scaler, feature_names=names, seed=1)
    path = tmp_path / "model.tyam"
    model.save(path)
    loaded = automl.load(path)
    assert np.array_equal(loaded.predict_raw(X), model.predict_raw(X))
    assert loaded.label == model.label
    assert loaded.feature_names == names
    assert loaded.header["learner"] == learner and loaded.header["version"] == 2
    assert loaded.header["scaler"] == scaler
    again = automl.loads(loaded.to_bytes())  # bytes round trip is stable
    assert again.to_bytes() == loaded.to_bytes()


def test_model_file_layout_and_header(automl, data):
    X, y, _ = data
    model = automl.fit(X, y, "classification", "DecisionTree", scaler="Standardize")
    blob = model.to_bytes()
    assert blob[:8] == b"TYAUTOML"
    (version,) = struct.unpack_from("<I", blob, 8)
    (hlen,) = struct.unpack_from("<Q", blob, 12)
    header = json.loads(blob[20:20 + hlen])
    assert version == 2
    assert header["format"] == "trainyard-automl-model"
    assert header["pipeline"] == "Standardize DT"
    assert header["classes"] == ["0", "1", "2"]


def test_damaged_model_files_are_refused(automl, data, tmp_path):
    X, y, _ = data
    blob = bytearray(automl.fit(X, y, "classification", "RandomForest",
                                params={"n_estimators": 5}).to_bytes())
    with pytest.raises(ValueError, match="not a Trainyard AutoML model"):
        automl.loads(b"XXXXXXXX" + bytes(blob[8:]))
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="checksum mismatch"):
        automl.loads(bytes(bad))
    with pytest.raises(ValueError):
        automl.loads(bytes(blob[:len(blob) // 3]))
    newer = bytearray(blob)
    newer[8:12] = struct.pack("<I", 99)
    with pytest.raises(ValueError, match="version 99 is not supported.*upgrade"):
        automl.loads(bytes(newer))
    with pytest.raises(FileNotFoundError):
        automl.load(tmp_path / "none.tyam")


def test_predict_checks_the_width(automl, data):
    X, y, _ = data
    model = automl.fit(X, y, "classification", "KNN")
    with pytest.raises(ValueError, match="X has 4 columns but the model expects 5"):
        model.predict(X[:, :4])


def test_predict_accepts_lists_and_non_contiguous_arrays(automl, data):
    X, y, _ = data
    model = automl.fit(X, y, "classification", "RandomForest", params={"n_estimators": 10})
    ref = model.predict_proba(X[:10])
    assert np.array_equal(model.predict_proba(X[:10].tolist()), ref)
    wide = np.hstack([X, X])[:10, ::2][:, :5]  # strided view
    assert np.array_equal(model.predict_proba(np.ascontiguousarray(wide)),
                          model.predict_proba(wide))
    assert np.array_equal(model.predict_proba(X[:10].astype(np.float32)),
                          model.predict_proba(X[:10].astype(np.float32).astype(float)))
