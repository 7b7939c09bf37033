"""Each learner fits real data about as well as scikit-learn's same model (within 0.03
accuracy / 0.05 R^2 on a held-out split), with valid probabilities."""
import numpy as np
import pytest
from sklearn import ensemble, linear_model, naive_bayes, neighbors, svm, tree
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

SCALERS = {"Standardize": StandardScaler, "Scale 0/1": MinMaxScaler, "": None}

# learner -> (dataset fixture, scaler, scikit-learn's same model)
CLASSIFIERS = {
    "LogisticRegression": ("digits_split", "Standardize", lambda: linear_model.LogisticRegression(max_iter=1000)),
    "SGD": ("digits_split", "Standardize", lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0)),
    "NaiveBayes": ("digits_split", "", naive_bayes.GaussianNB),
    "MultinomialNaiveBayes": ("digits_split", "Scale 0/1", naive_bayes.MultinomialNB),
    "BernoulliNaiveBayes": ("digits_split", "", naive_bayes.BernoulliNB),
    "KNN": ("digits_split", "Standardize", neighbors.KNeighborsClassifier),
    "DecisionTree": ("digits_split", "", lambda: tree.DecisionTreeClassifier(random_state=0)),
    "RandomForest": ("digits_split", "", lambda: ensemble.RandomForestClassifier(random_state=0)),
    "ExtremeRandomTrees": ("digits_split", "", lambda: ensemble.ExtraTreesClassifier(random_state=0)),
    "GradientBoosting": ("iris_split", "", lambda: ensemble.GradientBoostingClassifier(random_state=0)),
    # No xgboost wheel here: scikit-learn's histogram gradient boosting is the same model family.
    "XGBoostClassifier": ("cancer_split", "", lambda: ensemble.HistGradientBoostingClassifier(random_state=0)),
    "LinearSVM": ("cancer_split", "Standardize", svm.LinearSVC),
    "SVM": ("iris_split", "Standardize", svm.SVC),
}

REGRESSORS = {
    "ElasticNet": ("Standardize", lambda: linear_model.ElasticNet(alpha=0.1), {"alpha": 0.1}),
    "SGD": ("Standardize", lambda: linear_model.SGDRegressor(random_state=0), {}),
    "KNN": ("Standardize", neighbors.KNeighborsRegressor, {}),
    "DecisionTree": ("", lambda: tree.DecisionTreeRegressor(random_state=0), {}),
    "RandomForest": ("", lambda: ensemble.RandomForestRegressor(random_state=0), {}),
    "ExtremeRandomTrees": ("", lambda: ensemble.ExtraTreesRegressor(random_state=0), {}),
    "GradientBoosting": ("", lambda: ensemble.GradientBoostingRegressor(random_state=0), {}),
    # Same boosting setup as scikit-learn's GradientBoostingRegressor defaults.
    "XGBoostRegressor": ("", lambda: ensemble.GradientBoostingRegressor(random_state=0),
                         {"learning_rate": 0.1, "max_depth": 3}),
    "SVM": ("Standardize", svm.SVR, {}),
}


def _sklearn(scaler, make):
    steps = [SCALERS[scaler]()] if SCALERS[scaler] else []
    return make_pipeline(*steps, make())


def test_registry_lists_azure_names(automl):
    cls = automl.learners("classification")
    reg = automl.learners("regression")
    assert set(CLASSIFIERS) <= set(cls)
    assert set(REGRESSORS) <= set(reg)
    assert "ElasticNet" not in cls and "LogisticRegression" not in reg


@pytest.mark.parametrize("learner", sorted(CLASSIFIERS))
def test_classifier_matches_sklearn(automl, request, learner):
    data, scaler, make = CLASSIFIERS[learner]
    Xtr, Xte, ytr, yte = request.getfixturevalue(data)
    model = automl.fit(Xtr, ytr, "classification", learner, scaler=scaler, threads=2, seed=0)
    proba = model.predict_proba(Xte)
    assert proba.shape == (len(Xte), len(np.unique(ytr)))
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0)
    pred = model.predict(Xte)
    assert np.array_equal(pred, np.asarray(model.classes_)[proba.argmax(axis=1)])
    ours = float(np.mean(pred == yte))
    theirs = float(np.mean(_sklearn(scaler, make).fit(Xtr, ytr).predict(Xte) == yte))
    assert ours >= theirs - 0.03, (learner, ours, theirs)
    assert ours > 0.8


@pytest.mark.parametrize("learner", sorted(REGRESSORS))
def test_regressor_matches_sklearn(automl, regression_split, learner):
    scaler, make, params = REGRESSORS[learner]
    Xtr, Xte, ytr, yte = regression_split
    model = automl.fit(Xtr, ytr, "regression", learner, params=params, scaler=scaler, threads=2)
    pred = np.asarray(model.predict(Xte))
    assert pred.shape == (len(Xte),)
    ours = r2_score(yte, pred)
    theirs = r2_score(yte, _sklearn(scaler, make).fit(Xtr, ytr).predict(Xte))
    assert ours >= theirs - 0.05, (learner, ours, theirs)


def test_elastic_net_coefficients_equal_sklearn(automl, regression_split):
    Xtr, _, ytr, _ = regression_split
    model = automl.fit(Xtr, ytr, "regression", "ElasticNet",
                       params={"alpha": 0.05, "l1_ratio": 0.7, "tol": 1e-10, "max_iter": 10000},
                       featurization="off")
    ref = linear_model.ElasticNet(alpha=0.05, l1_ratio=0.7, tol=1e-10, max_iter=10000).fit(Xtr, ytr)
    e = model.explain(Xtr[:3], method="linear")
    # Linear SHAP values are coef * (x - mean): recover coef from two rows.
    mean = Xtr.mean(axis=0)
    coef = e["values"][0][0] / (Xtr[0] - mean)
    assert np.allclose(coef, ref.coef_, atol=1e-6)
    assert np.allclose(model.predict(Xtr[:20]), ref.predict(Xtr[:20]), atol=1e-6)


def test_string_labels_come_back_as_labels(automl, iris_split):
    Xtr, Xte, ytr, _ = iris_split
    names = np.array(["setosa", "versicolor", "virginica"])
    model = automl.fit(Xtr, names[ytr], "classification", "RandomForest", threads=2)
    assert model.classes_ == ["setosa", "versicolor", "virginica"]
    assert set(model.predict(Xte)) <= set(names)


def test_parallel_forest_is_deterministic_for_a_seed(automl, digits_split):
    Xtr, Xte, ytr, _ = digits_split
    a = automl.fit(Xtr, ytr, "classification", "RandomForest", params={"n_estimators": 30},
                   threads=2, seed=5).predict_proba(Xte)
    b = automl.fit(Xtr, ytr, "classification", "RandomForest", params={"n_estimators": 30},
                   threads=1, seed=5).predict_proba(Xte)
    assert np.array_equal(a, b)


def test_cross_validate_scores_every_metric(automl, iris_split):
    Xtr, _, ytr, _ = iris_split
    s = automl.cross_validate(Xtr, ytr, "classification", "KNN", scaler="Standardize", folds=5)
    for name in ("accuracy", "AUC_weighted", "norm_macro_recall",
                 "average_precision_score_weighted", "precision_score_weighted", "log_loss"):
        assert 0.0 <= s[name] and (name == "log_loss" or s[name] <= 1.0)
    assert s["AUC_weighted"] > 0.95


@pytest.mark.parametrize("learner,params", [("KNN", {}), ("RandomForest", {"n_estimators": 12}),
                                            ("LogisticRegression", {})])
def test_folds_in_parallel_give_the_same_evaluation(automl, iris_split, learner, params):
    # With threads > 1 the folds are fitted side by side; scores and out-of-fold predictions
    # must be exactly those of the one-thread run (merged in fold order).
    Xtr, _, ytr, _ = iris_split
    one = automl.evaluate(Xtr, ytr, "classification", learner, params=params,
                          scaler="Standardize", folds=5, threads=1, seed=3)
    two = automl.evaluate(Xtr, ytr, "classification", learner, params=params,
                          scaler="Standardize", folds=5, threads=2, seed=3)
    assert one["scores"] == two["scores"]
    assert one["rows"] == two["rows"]
    assert np.array_equal(np.asarray(one["predictions"]), np.asarray(two["predictions"]))
    assert sorted(one["rows"]) == list(range(len(ytr)))


@pytest.mark.parametrize("rows,classes", [(2400, 2), (1500, 4), (600, 3)])
def test_svm_probabilities_match_libsvm_platt(automl, rows, classes):
    """The SVM's own out-of-fold Platt calibration (5/3/2 folds by size, folds and final model
    in parallel) gives probabilities as good as libsvm's probability=1 (scikit-learn's
    SVC(probability=True)): same ranking quality, log loss within 0.03; the same for 1 and 2
    threads, rows summing to 1."""
    import warnings
    from sklearn.datasets import make_classification
    from sklearn.metrics import log_loss, roc_auc_score
    X, y = make_classification(n_samples=rows, n_features=12, n_informative=6, n_classes=classes,
                               flip_y=0.05, random_state=3)
    tr, te = np.arange(rows) % 4 != 0, np.arange(rows) % 4 == 0
    ours = [automl.fit(X[tr], y[tr], "classification", "SVM", scaler="Standardize", threads=t,
                       seed=0).predict_proba(X[te]) for t in (1, 2)]
    assert np.array_equal(ours[0], ours[1])
    p = ours[0]
    assert p.shape == (te.sum(), classes)
    assert np.allclose(p.sum(axis=1), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), 1.9
        ref = make_pipeline(StandardScaler(), svm.SVC(probability=True, random_state=0)).fit(
            X[tr], y[tr]).predict_proba(X[te])

    def auc(q):
        return roc_auc_score(y[te], q[:, 1]) if classes == 2 else roc_auc_score(
            y[te], q, multi_class="ovr", average="weighted")
    assert auc(p) > auc(ref) - 0.005, (auc(p), auc(ref))
    assert log_loss(y[te], p) < log_loss(y[te], ref) + 0.03, (log_loss(y[te], p), log_loss(y[te], ref))


def test_linear_svm_uses_the_primal_solver_on_tall_data_as_sklearn(automl):
    """More rows than features: LinearSVM solves the primal as scikit-learn's dual='auto' does
    (the dual hits liblinear's iteration cap on non-separable data); the fitted model predicts
    as scikit-learn's LinearSVC with the same tolerance."""
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=3000, n_features=10, n_informative=5, flip_y=0.1,
                               random_state=4)
    tr, te = np.arange(3000) % 4 != 0, np.arange(3000) % 4 == 0
    ours = automl.fit(X[tr], y[tr], "classification", "LinearSVM", params={"tol": 1e-4},
                      scaler="Standardize").predict(X[te])
    ref = make_pipeline(StandardScaler(), svm.LinearSVC(tol=1e-4, dual=False)).fit(
        X[tr], y[tr]).predict(X[te])
    assert np.mean(np.asarray(ours) == ref) >= 0.99


def test_extra_trees_split_at_the_drawn_threshold_as_sklearn(automl):
    """Extra trees keep the random threshold itself (scikit-learn's ExtraTrees), not the
    midpoint of the gap it fell in: on a heavy-tailed feature with wide gaps the midpoint
    gave a step function (grunfeld: 0.965 vs scikit-learn's 0.989 test R^2)."""
    from sklearn.metrics import r2_score
    rng = np.random.default_rng(7)
    x = rng.lognormal(0.0, 1.5, size=(240, 1))
    X = np.hstack([x, rng.normal(size=(240, 1))])
    y = 3.0 * x[:, 0] + rng.normal(scale=0.1, size=240)
    tr, te = np.arange(240) % 4 != 0, np.arange(240) % 4 == 0
    ours = np.mean([r2_score(y[te], automl.fit(X[tr], y[tr], "regression", "ExtremeRandomTrees",
                                               seed=s).predict(X[te])) for s in range(3)])
    ref = np.mean([r2_score(y[te], ensemble.ExtraTreesRegressor(random_state=s).fit(
        X[tr], y[tr]).predict(X[te])) for s in range(3)])
    assert ours > ref - 0.01, (ours, ref)
    # The thresholds themselves: drawn values, not midpoints between neighbouring training values.
    m = automl.fit(X[tr], y[tr], "regression", "ExtremeRandomTrees", seed=0)
    xs = np.unique(X[tr][:, 0])
    mids = (xs[:-1] + xs[1:]) / 2
    thr = [t for tree in m.trees()["trees"] for f, t in zip(tree["feature"], tree["threshold"])
           if f == 0]
    assert len(thr) > 100
    at_mid = sum(np.isclose(mids, t, rtol=0, atol=1e-12).any() for t in thr)
    assert at_mid < 0.05 * len(thr), (at_mid, len(thr))
