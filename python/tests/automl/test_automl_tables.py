"""Tables in the engine: CSV read by the C++ reader, featurization 'auto' (impute, one-hot,
hashing, ID/constant drops), predictions from raw rows, SHAP on the raw column names."""
import csv
import json
import math
import struct

import numpy as np
import pytest

COLORS = ["red", "green", "blue", "black"]


def write_mixed_csv(path, rows=300, seed=0, label=True, task="classification"):
    """Numeric x1, x2 (missing), categorical color (missing), city (60 values: hashed), a
    string ID, a constant column, and a label that depends on x1, color and x2."""
    rng = np.random.default_rng(seed)
    header = ["uid", "x1", "x2", "color", "city", "const"] + (["target"] if label else [])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(rows):
            x1 = rng.normal()
            x2 = rng.uniform(0, 10)
            color = COLORS[rng.integers(0, 4)]
            city = "c%d" % rng.integers(0, 60)
            score = x1 + (1.5 if color in ("red", "blue") else -1.0) + 0.1 * x2
            row = ["id-%05d" % i, "%.6f" % x1, "" if i % 9 == 4 else "%.4f" % x2,
                   "" if i % 11 == 5 else color, city, "same"]
            if label:
                row.append(("yes" if score > 0.5 else "no") if task == "classification"
                           else "%.6f" % (3 * score + rng.normal(0, 0.1)))
            w.writerow(row)
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    return {"cls": str(write_mixed_csv(d / "cls.csv")),
            "reg": str(write_mixed_csv(d / "reg.csv", seed=1, task="regression")),
            "new": str(write_mixed_csv(d / "new.csv", rows=40, seed=7, label=False)),
            "dir": d}


def test_read_csv_types_and_labels(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    assert t.columns == ["uid", "x1", "x2", "color", "city", "const"]
    assert t.types == ["string", "float", "float", "string", "string", "string"]
    assert t.rows == 300 and t.label_column == "target"
    assert set(t.y) == {"yes", "no"} and t.classes == ["no", "yes"]
    r = automl.read_csv(mixed["reg"], "target", "regression")
    assert r.task == "regression" and all(isinstance(v, float) for v in r.y)


def test_featurize_auto_names_drops_and_values(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    f = automl.featurize(t, "auto")
    names = f["names"]
    assert f["raw_names"] == t.columns
    # uid: every value distinct -> ID-like, dropped; const: one value -> dropped.
    assert not any(n.startswith("uid") or n.startswith("const") for n in names)
    assert names[:3] == ["x1", "x2", "x2_missing"]  # x1 has no missing values
    assert [n for n in names if n.startswith("color_")] == \
        ["color_black", "color_blue", "color_green", "color_red"]
    assert [n for n in names if n.startswith("city_")] == \
        ["city_hash%d" % b for b in range(64)] + ["city_count"]  # hashing + count encoding
    X = np.asarray(f["X"])
    with open(mixed["cls"]) as fh:
        rows = list(csv.DictReader(fh))
    # x2: NaN where missing (the pipeline mean-imputes), indicator 1 there.
    for i, r in enumerate(rows):
        if r["x2"] == "":
            assert math.isnan(X[i, 1]) and X[i, 2] == 1.0
        else:
            assert X[i, 1] == pytest.approx(float(r["x2"])) and X[i, 2] == 0.0
    # color: missing -> the most frequent value (ties: bytewise smallest).
    counts = {}
    for r in rows:
        if r["color"]:
            counts[r["color"]] = counts.get(r["color"], 0) + 1
    top = sorted(counts, key=lambda c: (-counts[c], c))[0]
    onehot = X[:, 3:7]
    assert np.all(onehot.sum(axis=1) == 1.0)
    for i, r in enumerate(rows):
        want = r["color"] or top
        assert onehot[i, ["black", "blue", "green", "red"].index(want)] == 1.0
    # city: FNV-1a 32 mod 64.
    def fnv(s):
        h = 2166136261
        for c in s.encode():
            h = ((h ^ c) * 16777619) & 0xFFFFFFFF
        return h
    for i, r in enumerate(rows):
        assert X[i, 7 + fnv(r["city"]) % 64] == 1.0
    assert f["source"][7] == t.columns.index("city")


def test_featurization_off_names_the_text_column(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    with pytest.raises(ValueError, match="column 'uid'.*featurization='auto'"):
        automl.featurize(t, "off")
    with pytest.raises(ValueError, match="column 'uid'.*featurization='auto'"):
        automl.fit(t, None, "classification", "RandomForest", featurization="off")
    numeric = automl.featurize(t.keep_columns(["x1", "x2"]), "off")
    assert numeric["names"] == ["x1", "x2"]


@pytest.mark.parametrize("learner", ["RandomForest", "LogisticRegression", "XGBoostClassifier"])
def test_predict_from_csv_equals_in_memory_table(automl, mixed, learner, tmp_path):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    model = automl.fit(t, None, "classification", learner, scaler="Standardize", seed=3)
    assert model.raw_columns == t.columns
    from_csv = model.predict_proba(mixed["new"])
    new = automl.read_csv(mixed["new"])
    assert np.array_equal(model.predict_proba(new), from_csv)
    with open(mixed["new"]) as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    # Raw rows (strings, "" missing) in the raw column order, and a dict of columns.
    assert np.array_equal(model.predict_proba(body), from_csv)
    cols = {h: [r[j] for r in body] for j, h in enumerate(header)}
    assert np.array_equal(model.predict_proba(cols), from_csv)
    # Reordered columns plus an extra one: matched by name, the extra ignored.
    shuffled = {k: cols[k] for k in reversed(header)}
    shuffled["unused"] = ["x"] * len(body)
    assert np.array_equal(model.predict_proba(shuffled), from_csv)
    # Typed Python values (floats, None) give the same features as their CSV text.
    typed = dict(cols)
    typed["x1"] = [float(v) for v in cols["x1"]]
    typed["x2"] = [float(v) if v else None for v in cols["x2"]]
    assert np.allclose(model.predict_proba(typed), from_csv)
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(mixed["new"])
    assert np.allclose(model.predict_proba(df), from_csv)
    labels = model.predict(mixed["new"])
    assert set(labels) <= {"yes", "no"}
    # The training data is learned well (the label depends on x1, color, x2).
    acc = np.mean(model.predict(mixed["cls"]) == np.asarray(t.y))
    assert acc > 0.8


def test_missing_column_is_named(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    model = automl.fit(t, None, "classification", "DecisionTree")
    with pytest.raises(ValueError, match="column 'color' the model was trained on is missing"):
        model.predict({"x1": [1.0], "x2": [2.0], "city": ["c1"]})
    # Dropped columns (uid, const) are not needed at predict time.
    out = model.predict({"x1": [1.0], "x2": [None], "color": ["purple"], "city": ["zz"]})
    assert len(out) == 1


def test_table_model_file_v2_roundtrip(automl, mixed, tmp_path):
    t = automl.read_csv(mixed["reg"], "target", "regression")
    model = automl.fit(t, None, "regression", "GradientBoosting", seed=1)
    path = tmp_path / "m.tyam"
    model.save(path)
    loaded = automl.load(path)
    assert loaded.header["version"] == 2
    assert [c["name"] for c in loaded.header["raw_columns"]] == t.columns
    assert {c["name"]: c["handling"] for c in loaded.header["raw_columns"]}["uid"] == \
        "dropped_id"
    assert np.array_equal(loaded.predict(mixed["reg"]), model.predict(t))
    assert loaded.to_bytes() == model.to_bytes()
    pred = np.asarray(model.predict(t))
    r2 = 1 - np.sum((pred - np.asarray(t.y)) ** 2) / np.sum((np.asarray(t.y) -
                                                              np.mean(t.y)) ** 2)
    assert r2 > 0.8


def v1_from_v2(blob):
    """A version-1 file: a version-2 matrix-model file without the has_table byte."""
    (hlen,) = struct.unpack_from("<Q", blob, 12)
    pos = 20 + hlen + 2  # kind, task
    for _ in range(2):  # class names, feature names
        (n,) = struct.unpack_from("<Q", blob, pos)
        pos += 8
        for _ in range(n):
            (ln,) = struct.unpack_from("<Q", blob, pos)
            pos += 8 + ln
    assert blob[pos] == 0
    body = bytearray(blob[:pos] + blob[pos + 1:-8])
    body[8:12] = struct.pack("<I", 1)
    h = 1469598103934665603
    for c in body:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return bytes(body) + struct.pack("<Q", h)


def test_version_1_model_files_still_load(automl):
    rng = np.random.default_rng(2)
    X = rng.random((80, 3))
    y = (X[:, 0] > 0.5).astype(int)
    model = automl.fit(X, y, "classification", "RandomForest", params={"n_estimators": 5},
                       feature_names=["a", "b", "c"])
    v1 = v1_from_v2(model.to_bytes())
    old = automl.loads(v1)
    assert old.raw_columns is None and old.feature_names == ["a", "b", "c"]
    assert np.array_equal(old.predict_proba(X), model.predict_proba(X))
    assert old.to_bytes() == model.to_bytes()


def test_shap_on_raw_names_is_additive(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    for learner, method in (("RandomForest", "tree"), ("LogisticRegression", "linear"),
                            ("KNN", "permutation")):
        model = automl.fit(t, None, "classification", learner, scaler="Standardize",
                           params={"n_estimators": 20} if learner == "RandomForest" else None)
        target = t.take(range(15))
        r = model.explain(target, background=t.take(range(0, 300, 10)), samples=4)
        assert r["method"] == method
        assert r["features"] == t.columns
        assert set(r["overall_imp"]) == set(t.columns)
        for k, vals in enumerate(r["values"]):
            vals = np.asarray(vals)
            assert vals.shape == (15, 6)
            total = r["expected_values"][k] + vals.sum(axis=1)
            assert np.allclose(total, r["model_output"][k], atol=1e-9)
            assert np.all(vals[:, 0] == 0) and np.all(vals[:, 5] == 0)  # uid, const dropped
    # The raw values are the sums of the engineered features' values.
    model = automl.fit(t, None, "classification", "DecisionTree")
    f = automl.featurize(t)
    # The binding takes numeric matrices as the engineered features of a table model.
    eng = automl.engine.explain(model._p, np.asarray(f["X"])[:15])
    raw = model.explain(t.take(range(15)))
    assert len(eng["features"]) == len(f["names"])
    assert eng["expected_values"] == raw["expected_values"]
    for k in range(2):
        e, rv = automl._matrix(eng["values"][k]), np.asarray(raw["values"][k])
        for c in range(6):
            cols = [j for j, s in enumerate(f["source"]) if s == c]
            want = e[:, cols].sum(axis=1) if cols else np.zeros(15)
            assert np.allclose(rv[:, c], want, atol=1e-12)


@pytest.mark.parametrize("content,label,task,message", [
    ("", "target", "classification", "is empty"),
    ("a,target\n", "target", "classification", "no data rows"),
    ("a,b\n1,2\n2,3\n", "target", "classification",
     "label column 'target' is not in the CSV.*its columns are: a, b"),
    ("a,target\n1,yes\n2,\n3,no\n", "target", "classification",
     r"1 label\(s\) in column 'target'.*missing"),
    ("a,target\n1,1.5\n2,NaN\n3,2\n", "target", "regression", "missing"),
    ("a,target\n1,yes\n2,yes\n", "target", "classification", "two classes"),
    ("a,target\n1,x\n2,y\n", "target", "regression", "numeric label column"),
])
def test_bad_csv_input_is_refused(automl, tmp_path, content, label, task, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        automl.read_csv(str(path), label, task)


def test_all_constant_features_are_refused(automl, tmp_path):
    path = tmp_path / "const.csv"
    path.write_text("a,b,target\n1,k,yes\n1,k,no\n1,k,yes\n")
    t = automl.read_csv(str(path), "target", "classification")
    with pytest.raises(ValueError, match="every feature column is constant"):
        automl.featurize(t)


def test_tabular_spec_reads_several_files_with_transforms(automl, tmp_path):
    from trainyard.train.automl import _data
    (tmp_path / "p1.csv").write_text("a,b,c,target\n1,x,9,yes\n2,y,8,no\n")
    (tmp_path / "p2.csv").write_text("a,b,c,target\n3,x,7,yes\n4,z,6,no\n5,x,5,yes\n")
    spec = {"files": ["p1.csv", "p2.csv"], "separator": ",", "header": True,
            "transforms": [{"drop_columns": ["c"]}, {"take": 4}]}
    (tmp_path / "train.json").write_text(json.dumps(spec))
    t = _data.read_table(str(tmp_path / "train.json"), "target", "classification")
    assert t.columns == ["a", "b"] and t.rows == 4
    assert t.y == ["yes", "no", "yes", "no"]
    with pytest.raises(_data.DataError, match="label column 'nope' is not in"):
        _data.read_table(str(tmp_path / "train.json"), "nope", "classification")


def test_raw_rows_follow_the_model_schema(automl, tmp_path):
    """Categorical text stays exact ("007" is not the number 7) and numeric text parses, for
    raw rows from Python as for the CSV."""
    path = tmp_path / "zip.csv"
    rows = ["zip,amount,target"]
    codes = ["007", "010", "ab1", "123"]
    for i in range(80):
        code = codes[i % 4]
        rows.append("{},{},{}".format(code, i % 7, "yes" if code in ("007", "ab1") else "no"))
    path.write_text("\n".join(rows) + "\n")
    t = automl.read_csv(str(path), "target", "classification")
    assert t.types == ["string", "int"]
    model = automl.fit(t, None, "classification", "DecisionTree")
    assert [c["handling"] for c in model.header["raw_columns"]] == ["onehot", "numeric"]
    assert "zip_007" in model.feature_names
    got = model.predict({"zip": ["007", "010", "123"], "amount": ["3", 4, 5.0]})
    assert list(got) == ["yes", "no", "no"]
    assert list(model.predict([["007", 1], ["ab1", None]])) == ["yes", "yes"]


def test_cross_validate_and_evaluate_take_a_table(automl, mixed):
    t = automl.read_csv(mixed["cls"], "target", "classification")
    f = automl.featurize(t)
    ev = automl.evaluate(t, None, "classification", "RandomForest",
                         params={"n_estimators": 10}, folds=3, seed=2)
    ref = automl.evaluate(f["X"], t.y, "classification", "RandomForest",
                          params={"n_estimators": 10}, folds=3, seed=2)
    assert ev["scores"] == ref["scores"] and sorted(ev["rows"]) == list(range(300))
    assert ev["scores"]["accuracy"] > 0.75
    cv = automl.cross_validate(t, None, "classification", "KNN", scaler="Standardize", folds=3)
    assert cv == automl.cross_validate(f["X"], t.y, "classification", "KNN",
                                       scaler="Standardize", folds=3)
    with pytest.raises(ValueError, match="labels were read for classification, not regression"):
        automl.evaluate(t, None, "regression", "ElasticNet", folds=3)


def test_evaluate_takes_text_validation_labels(automl):
    """Issue 18: a holdout of a table with string classes (the driver's path above 20,000
    rows) passes text y_valid; each label must be a training class."""
    X = [[float(i % 7), float(i % 3)] for i in range(60)]
    y = ["b" if i % 7 > 3 else "a" for i in range(60)]
    ev = automl.evaluate(X[:40], y[:40], "classification", "DecisionTree", X_valid=X[40:],
                         y_valid=y[40:])
    assert len(ev["rows"]) == 20 and ev["scores"]["accuracy"] == 1.0
    with pytest.raises(ValueError, match="y_valid has the label c that the training data"):
        automl.evaluate(X[:40], y[:40], "classification", "DecisionTree", X_valid=X[40:42],
                        y_valid=["a", "c"])
    with pytest.raises(ValueError, match="missing label"):
        automl.evaluate(X[:40], y[:40], "classification", "DecisionTree", X_valid=X[40:42],
                        y_valid=["a", None])
