"""VotingEnsemble (Caruana selection, weighted soft voting) and StackEnsemble."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

MEMBERS = [("KNN", "Standardize"), ("LogisticRegression", "Standardize"),
           ("RandomForest", ""), ("NaiveBayes", ""), ("DecisionTree", "")]


def _oof_in_row_order(ev, n):
    out = np.zeros((n, ev["predictions"].shape[1]))
    out[np.asarray(ev["rows"])] = ev["predictions"]
    return out


@pytest.fixture(scope="module")
def fitted(automl, digits_split):
    Xtr, Xte, ytr, yte = digits_split
    oof, models, scores = [], [], []
    for learner, scaler in MEMBERS:
        params = {"n_estimators": 30} if learner == "RandomForest" else None
        ev = automl.evaluate(Xtr, ytr, "classification", learner, params=params, scaler=scaler,
                             folds=3, seed=0)
        assert sorted(ev["rows"]) == list(range(len(ytr)))  # every row predicted once
        oof.append(_oof_in_row_order(ev, len(ytr)))
        scores.append(ev["scores"]["AUC_weighted"])
        models.append(automl.fit(Xtr, ytr, "classification", learner, params=params,
                                 scaler=scaler, threads=2))
    return oof, models, scores


def _auc(y, proba):
    return roc_auc_score(label_binarize(y, classes=list(range(proba.shape[1]))), proba,
                         average="weighted")


def test_caruana_selection_beats_or_matches_the_best_member(automl, digits_split, fitted):
    _, _, ytr, _ = digits_split
    oof, _, scores = fitted
    w = automl.caruana_weights(oof, ytr, "classification", "AUC_weighted", 15)
    assert len(w) == len(MEMBERS) and sum(w) == pytest.approx(1.0)
    assert all(x * 15 == pytest.approx(round(x * 15)) for x in w)  # counts of 15 picks
    blended = sum(wi * o for wi, o in zip(w, oof))
    assert _auc(ytr, blended) >= max(scores) - 1e-12
    # The first pick is the best single candidate: it has weight.
    assert w[int(np.argmax([_auc(ytr, o) for o in oof]))] > 0


def test_caruana_gives_a_perfect_candidate_all_weight(automl):
    y = np.array([0, 1, 2, 1, 0, 2])
    perfect = np.eye(3)[y]
    noisy = np.full((6, 3), 1 / 3)
    w = automl.caruana_weights([noisy, perfect], y, "classification", "log_loss", 5)
    assert w == [0.0, 1.0]
    with pytest.raises(ValueError, match="not a classification metric"):
        automl.caruana_weights([perfect], y, "classification", "r2_score")
    with pytest.raises(ValueError, match="class indices"):
        automl.caruana_weights([perfect], [0, 5, 1, 1, 1, 1], "classification", "accuracy")


def test_voting_ensemble_soft_votes_and_round_trips(automl, digits_split, fitted, tmp_path):
    _, Xte, ytr, yte = digits_split
    oof, models, _ = fitted
    w = automl.caruana_weights(oof, ytr, "classification", "AUC_weighted", 15)
    ens = automl.voting_ensemble(models, w)
    assert ens.label == "VotingEnsemble"
    expected = sum(wi * m.predict_proba(Xte) for wi, m in zip(w, models) if wi > 0)
    assert np.allclose(ens.predict_proba(Xte), expected, atol=1e-12)
    assert float(np.mean(ens.predict(Xte) == yte)) > 0.95
    ens.save(tmp_path / "vote.tyam")
    back = automl.load(tmp_path / "vote.tyam")
    assert np.array_equal(back.predict_proba(Xte), ens.predict_proba(Xte))
    members = back.header["members"]
    assert [m["weight"] for m in members] == pytest.approx([x for x in w if x > 0])
    e = back.explain(Xte[:3], background=Xte, samples=2)
    assert e["method"] == "permutation"
    for k, vals in enumerate(e["values"]):
        assert np.allclose(e["expected_values"][k] + vals.sum(axis=1), e["model_output"][k],
                           atol=1e-10)


def test_stack_ensemble_learns_from_out_of_fold_outputs(automl, digits_split, fitted, tmp_path):
    _, Xte, ytr, yte = digits_split
    oof, models, _ = fitted
    stack = automl.stack_ensemble(models, oof, ytr)
    assert stack.label == "StackEnsemble"
    acc = float(np.mean(stack.predict(Xte) == yte))
    best_single = max(float(np.mean(m.predict(Xte) == yte)) for m in models)
    assert acc >= best_single - 0.02
    blob = stack.to_bytes()
    assert np.array_equal(automl.loads(blob).predict_proba(Xte), stack.predict_proba(Xte))
    assert automl.loads(blob).header["meta_learner"] == "LogisticRegression"


def test_regression_ensembles(automl, regression_split):
    Xtr, Xte, ytr, yte = regression_split
    specs = [("ElasticNet", "Standardize", {"alpha": 0.01}), ("KNN", "Standardize", None),
             ("GradientBoosting", "", None)]
    oof, models = [], []
    for learner, scaler, params in specs:
        ev = automl.evaluate(Xtr, ytr, "regression", learner, params=params, scaler=scaler, folds=3)
        oof.append(_oof_in_row_order(ev, len(ytr)))
        models.append(automl.fit(Xtr, ytr, "regression", learner, params=params, scaler=scaler))
    w = automl.caruana_weights(oof, ytr, "regression", "normalized_root_mean_squared_error", 10)
    vote = automl.voting_ensemble(models, w)
    stack = automl.stack_ensemble(models, oof, ytr)
    from sklearn.metrics import r2_score
    best = max(r2_score(yte, m.predict(Xte)) for m in models)
    assert r2_score(yte, vote.predict(Xte)) >= best - 0.03
    assert r2_score(yte, stack.predict(Xte)) >= best - 0.03
    assert stack.header["meta_learner"] == "ElasticNet"


def test_explicit_validation_data(automl, iris_split):
    Xtr, Xte, ytr, yte = iris_split
    ev = automl.evaluate(Xtr, ytr, "classification", "KNN", scaler="Standardize",
                         X_valid=Xte, y_valid=yte)
    assert ev["rows"] == list(range(len(yte)))
    assert ev["predictions"].shape == (len(yte), 3)
    with pytest.raises(ValueError, match="label 7 that the training data does not have"):
        automl.evaluate(Xtr, ytr, "classification", "KNN", X_valid=Xte[:2], y_valid=[0, 7])
