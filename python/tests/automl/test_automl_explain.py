"""Explainers: TreeSHAP equals the `shap` package's TreeExplainer; every explainer is additive
(expected value + sum of SHAP values = the model output it explains)."""
import numpy as np
import pytest


def _softmax(m):
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _shap_model(ens, n_features):
    """The engine's tree ensemble as the dict model shap.TreeExplainer accepts."""
    K = len(ens["base"])
    trees = []
    for t, tree in enumerate(ens["trees"]):
        n = len(tree["feature"])
        per = tree["n_outputs"]
        v = np.array(tree["value"]).reshape(n, per) * ens["scale"]
        if ens["tree_output"]:
            full = np.zeros((n, K))
            full[:, ens["tree_output"][t]] = v[:, 0]
            v = full
        left = np.array(tree["left"], dtype=np.int32)
        trees.append({
            "children_left": left,
            "children_right": np.array(tree["right"], dtype=np.int32),
            "children_default": left.copy(),
            "features": np.array(tree["feature"], dtype=np.int32),
            "thresholds": np.array(tree["threshold"], dtype=np.float64),
            "values": v,
            "node_sample_weight": np.array(tree["cover"], dtype=np.float64),
        })
    return {"trees": trees, "base_offset": np.array(ens["base"]), "input_dtype": np.float64,
            "internal_dtype": np.float64, "tree_output": "raw_value"}


def _as_outputs(values, K):
    """shap's result as a list of K (rows x features) arrays."""
    if isinstance(values, list):
        return values
    values = np.asarray(values)
    if values.ndim == 2:
        return [values]
    return [values[:, :, k] for k in range(values.shape[2])]


TREE_CASES = [
    ("classification", "DecisionTree", {"max_depth": 6}),
    ("classification", "RandomForest", {"n_estimators": 20, "max_depth": 8}),
    ("classification", "ExtremeRandomTrees", {"n_estimators": 20}),
    ("classification", "GradientBoosting", {"n_estimators": 15}),
    ("regression", "RandomForest", {"n_estimators": 10}),
    ("regression", "GradientBoosting", {"n_estimators": 20}),
]


@pytest.mark.parametrize("task,learner,params", TREE_CASES)
def test_tree_shap_equals_shap_package(automl, iris_split, regression_split, task, learner, params):
    shap = pytest.importorskip("shap")
    if task == "classification":
        Xtr, Xte, ytr, _ = iris_split
    else:
        Xtr, Xte, ytr, _ = regression_split
    model = automl.fit(Xtr, ytr, task, learner, params=params, featurization="off", threads=2)
    ours = model.explain(Xte, method="tree")
    ens = model.trees()
    explainer = shap.TreeExplainer(_shap_model(ens, Xtr.shape[1]),
                                   feature_perturbation="tree_path_dependent")
    theirs = _as_outputs(explainer.shap_values(Xte), len(ens["base"]))
    expected = np.atleast_1d(explainer.expected_value)
    offset = 1 if (task == "classification" and len(ens["base"]) == 1) else 0  # binary margin
    for k in range(len(theirs)):
        assert np.allclose(ours["values"][k + offset], theirs[k], atol=1e-6, rtol=0)
        assert ours["expected_values"][k + offset] == pytest.approx(expected[k], abs=1e-6)


def _check_additive(e, atol):
    for k, vals in enumerate(e["values"]):
        total = e["expected_values"][k] + np.asarray(vals).sum(axis=1)
        assert np.allclose(total, e["model_output"][k], atol=atol, rtol=0), (e["method"], k)


ADDITIVITY = [
    # (task, learner, scaler, method expected from 'auto', how model_output relates to proba)
    ("classification", "RandomForest", "Standardize", "tree", "probability"),
    ("classification", "DecisionTree", "", "tree", "probability"),
    ("classification", "GradientBoosting", "", "tree", "softmax"),
    ("classification", "XGBoostClassifier", "", "tree", "softmax"),
    ("classification", "LogisticRegression", "Standardize", "linear", "softmax"),
    ("classification", "LinearSVM", "Standardize", "linear", None),
    ("classification", "SGD", "Standardize", "linear", None),
    ("classification", "KNN", "Standardize", "permutation", "probability"),
    ("classification", "SVM", "Standardize", "permutation", "probability"),
    ("classification", "NaiveBayes", "", "permutation", "probability"),
    ("classification", "RandomForest", "Normalizer", "permutation", "probability"),
    ("regression", "ElasticNet", "Standardize", "linear", "value"),
    ("regression", "XGBoostRegressor", "", "tree", "value"),
    ("regression", "ExtremeRandomTrees", "Robust Scaler", "tree", "value"),
    ("regression", "KNN", "Scale 0/1", "permutation", "value"),
]


@pytest.mark.parametrize("task,learner,scaler,method,link", ADDITIVITY)
def test_every_explainer_is_additive(automl, iris_split, regression_split, task, learner,
                                     scaler, method, link):
    Xtr, Xte, ytr, _ = iris_split if task == "classification" else regression_split
    Xte = Xte[:12]
    model = automl.fit(Xtr, ytr, task, learner, scaler=scaler, seed=3,
                       params={"n_estimators": 20} if "Forest" in learner or "Trees" in learner else None)
    e = model.explain(Xte, background=Xtr, samples=4, seed=1)
    assert e["method"] == method
    # XGBoost computes in float32.
    _check_additive(e, 2e-5 if "XGBoost" in learner else 1e-9)
    out = np.column_stack(e["model_output"])
    raw = np.asarray(model.predict_raw(Xte))
    if link in ("probability", "value"):
        assert np.allclose(out, raw, atol=1e-6 if "XGBoost" in learner else 1e-12)
    elif link == "softmax":
        assert np.allclose(_softmax(out), raw, atol=1e-5)
    n_features = Xtr.shape[1]
    assert all(np.asarray(v).shape == (len(Xte), n_features) for v in e["values"])
    if task == "classification":
        assert e["outputs"] == ["0", "1", "2"] and len(e["values"]) == 3


def test_binary_margin_explanations_cover_both_classes(automl, cancer_split):
    Xtr, Xte, ytr, _ = cancer_split
    for learner in ("LogisticRegression", "GradientBoosting"):
        model = automl.fit(Xtr, ytr, "classification", learner, scaler="Standardize",
                           params={"n_estimators": 10} if learner == "GradientBoosting" else None)
        e = model.explain(Xte[:8])
        assert e["output"] == "margin" and len(e["values"]) == 2
        assert np.allclose(e["values"][0], -e["values"][1])
        _check_additive(e, 1e-9)
        p1 = 1 / (1 + np.exp(-np.asarray(e["model_output"][1])))
        assert np.allclose(p1, model.predict_proba(Xte[:8])[:, 1], atol=1e-9)


def test_permutation_explainer_finds_the_informative_feature(automl):
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = 5 * X[:, 2] + 0.01 * rng.normal(size=300)
    model = automl.fit(X, y, "regression", "KNN", scaler="Standardize")
    e = model.explain(X[:20], background=X, method="permutation", samples=6)
    importance = np.abs(e["values"][0]).mean(axis=0)
    assert importance.argmax() == 2 and importance[2] > 5 * importance[[0, 1, 3]].max()


def test_explainer_errors(automl, iris_split):
    Xtr, Xte, ytr, _ = iris_split
    knn = automl.fit(Xtr, ytr, "classification", "KNN")
    with pytest.raises(ValueError, match="needs background data"):
        knn.explain(Xte[:2])
    with pytest.raises(ValueError, match="is not a tree model"):
        knn.explain(Xte[:2], method="tree")
    with pytest.raises(ValueError, match="method 'magic' is unknown"):
        knn.explain(Xte[:2], background=Xtr, method="magic")


def test_summaries_follow_retrieve_model_explanation(automl, iris_split):
    Xtr, Xte, ytr, _ = iris_split
    names = ["sepal length", "sepal width", "petal length", "petal width"]
    model = automl.fit(Xtr, ytr, "classification", "RandomForest", params={"n_estimators": 20},
                       feature_names=names)
    e = model.explain(Xte)
    mean_abs = [np.abs(v).mean(axis=0) for v in e["values"]]
    overall = np.mean(mean_abs, axis=0)
    order = np.argsort(-overall, kind="stable")
    assert e["overall_imp"] == [names[j] for j in order]
    assert np.allclose(e["overall_summary"], overall[order])
    assert e["overall_summary"] == sorted(e["overall_summary"], reverse=True)
    assert len(e["per_class_summary"]) == 3 and len(e["per_class_imp"]) == 3
    for k in range(3):
        assert np.allclose(e["per_class_summary"][k], np.sort(mean_abs[k])[::-1])
    assert e["overall_imp"][0].startswith("petal")  # iris is decided by the petals
    reg = automl.fit(Xtr, Xtr[:, 0] * 2, "regression", "ElasticNet", params={"alpha": 0.01})
    er = reg.explain(Xte)
    assert er["per_class_summary"] == [] and er["overall_imp"][0] == "0"
