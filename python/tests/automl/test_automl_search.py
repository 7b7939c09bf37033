"""The engine's search strategy: run for real (sequential, k-fold CV) on small data, and step
by step through ``Search`` as the AutoML driver uses it (concurrent, out-of-order results)."""
import math

import pytest


def test_search_tries_every_learner_first_and_finds_a_good_model(automl, iris_split):
    Xtr, _, ytr, _ = iris_split
    trials = automl.search(Xtr, ytr, "classification", "AUC_weighted", iterations=18, folds=3,
                           seed=2)
    assert [t["iteration"] for t in trials] == list(range(18))
    learners = automl.learners("classification")
    first_pass = [t["learner"] for t in trials[:len(learners)]]
    assert sorted(first_pass) == sorted(learners)  # every learner once before repeats
    assert first_pass[:3] == ["LogisticRegression", "KNN", "ExtremeRandomTrees"]  # strong, cheap
    assert all(t["seconds"] >= 0 for t in trials)
    best = max(t["score"] for t in trials if not t["failed"])
    assert best > 0.98
    for t in trials:  # every metric of the trial, the primary one among them
        assert t["failed"] or (t["scores"]["AUC_weighted"] == t["score"]
                               and "log_loss" in t["scores"] and "accuracy" in t["scores"])
    forest = next(t for t in trials if t["learner"] == "RandomForest")
    assert forest["params"]["n_estimators"] == 10  # starts at its cheapest configuration


def test_search_respects_allowed_and_blocked_models(automl, regression_split):
    Xtr, _, ytr, _ = regression_split
    trials = automl.search(Xtr, ytr, "regression", "normalized_root_mean_squared_error",
                           iterations=8, folds=3, allowed=["ElasticNet", "KNN", "DecisionTree"],
                           blocked=["DecisionTree"])
    assert {t["learner"] for t in trials} == {"ElasticNet", "KNN"}
    assert all(math.isfinite(t["score"]) for t in trials)
    with pytest.raises(ValueError, match="not a regression metric"):
        automl.search(Xtr, ytr, "regression", "AUC_weighted", iterations=1)
    with pytest.raises(ValueError, match="every allowed model is blocked"):
        automl.search(Xtr, ytr, "regression", "r2_score", allowed=["KNN"], blocked=["KNN"])


def test_search_stops_at_its_time_budget(automl, digits_split):
    Xtr, _, ytr, _ = digits_split
    trials = automl.search(Xtr, ytr, "classification", "accuracy", iterations=1000, folds=3,
                           time_budget=2.0, blocked=["SVM", "LinearSVM", "GradientBoosting"])
    assert 1 <= len(trials) < 1000
    # Every trial starts inside the budget: the ones before the last took less than it.
    assert sum(t["seconds"] for t in trials[:-1]) < 2.0
    # iterations=0: no cap under a time budget; without a budget it is refused.
    trials = automl.search(Xtr, ytr, "classification", "accuracy", iterations=0, folds=3,
                           time_budget=1.0, allowed=["NaiveBayes", "DecisionTree"])
    assert len(trials) > 1
    with pytest.raises(ValueError, match="iterations > 0 or time_budget > 0"):
        automl.search(Xtr, ytr, "classification", "accuracy", iterations=0)


def test_search_object_tries_every_learner_then_searches(automl):
    s = automl.Search("classification", "accuracy",
                      allowed=["KNN", "DecisionTree", "LogisticRegression"], seed=1)
    assert s.learners == ["LogisticRegression", "KNN", "DecisionTree"]
    assert s.best is None
    first = [s.next() for _ in range(3)]
    assert [t["learner"] for t in first] == ["LogisticRegression", "KNN", "DecisionTree"]
    assert [t["id"] for t in first] == [0, 1, 2]
    assert first[0]["label"] == "Standardize logistic regression"
    assert first[2]["label"] == "Scale MaxAbs 1 DT" and first[2]["scaler"] == "Scale MaxAbs 1"
    assert first[1]["params"] == {"n_neighbors": 5, "p": 2, "weights": "uniform"}
    assert isinstance(first[1]["params"]["n_neighbors"], int)
    truth = {"KNN": 0.9, "DecisionTree": 0.7, "LogisticRegression": 0.8}
    for t in reversed(first):  # results arrive out of order
        s.report(t["id"], truth[t["learner"]], 0.1)
    assert s.best == pytest.approx(0.9)
    picks = []
    for _ in range(40):
        t = s.next()
        picks.append(t["learner"])
        s.report(t["id"], truth[t["learner"]] - 0.01, 0.1)  # no trial improves
    assert picks.count("KNN") > picks.count("DecisionTree")  # the leader is exploited
    assert s.best == pytest.approx(0.9)


def test_search_object_regression_uses_regression_losses_and_labels(automl):
    s = automl.Search("regression", "normalized_root_mean_squared_error",
                      allowed=["SGD", "ElasticNet"], seed=4)
    seen = []
    for i in range(14):
        t = s.next()
        seen.append(t)
        s.report(t["id"], 0.2 + 0.01 * (i % 5), 0.05)
    sgd = [t for t in seen if t["learner"] == "SGD"]
    assert sgd and all(t["params"].get("loss", "squared_error") == "squared_error" for t in sgd)
    assert all(t["label"].endswith("SGD regressor") for t in sgd)
    assert s.best == pytest.approx(0.2)  # lower is better for an error


def test_search_object_validates_its_input(automl):
    with pytest.raises(ValueError, match="not a regression metric"):
        automl.Search("regression", "AUC_weighted")
    with pytest.raises(ValueError, match="model 'LightGBMX' is not available for classification; "
                                         "choose one of: LogisticRegression"):
        automl.Search("classification", "accuracy", allowed=["LightGBMX"])
    with pytest.raises(ValueError, match="every allowed model is blocked"):
        automl.Search("classification", "accuracy", allowed=["KNN"], blocked=["KNN"])
    with pytest.raises(ValueError, match="scaler 'Zscore' is unknown"):
        automl.Search("classification", "accuracy", scalers=["Zscore"])
    with pytest.raises(ValueError, match="'none' is not a scaler to search"):
        automl.Search("classification", "accuracy", scalers=["none"])
    s = automl.Search("classification", "accuracy", allowed=["KNN"])
    t = s.next()
    with pytest.raises(ValueError, match="trial 7 is not pending"):
        s.report(7, 0.5, 0.1)
    s.report(t["id"], 0.5, 0.1)
    with pytest.raises(ValueError, match="is not pending"):
        s.report(t["id"], 0.5, 0.1)  # reported twice
    with pytest.raises(ValueError, match="seconds must be"):
        s.report(s.next()["id"], 0.5, -1.0)


def test_search_object_keeps_to_the_time_left_and_searched_scalers(automl):
    s = automl.Search("classification", "accuracy", allowed=["KNN", "RandomForest"],
                      scalers=["Robust Scaler"], seed=2)
    t = s.next(seconds_left=0.5)  # nothing measured yet: the first trial always fits
    assert t["learner"] == "KNN" and t["scaler"] == "Robust Scaler"
    s.report(t["id"], 0.9, 2.0)
    assert s.next(seconds_left=0.5) is None  # KNN took 2 s; the forest is expected slower
    t = s.next(seconds_left=100.0)
    assert t["learner"] == "RandomForest" and t["expected_seconds"] > 2.0
    s.report(t["id"], None, 3.0, failed=True)  # a failed trial counts its seconds too
    for _ in range(10):
        t = s.next(seconds_left=100.0)
        assert t["learner"] != "KNN" or t["scaler"] == "Robust Scaler"
        s.report(t["id"], 0.85, 1.0)


def test_search_object_drives_real_trials_concurrently(automl, cancer_split):
    # The driver's shape: three trials in flight, results reported as they finish.
    Xtr, _, ytr, _ = cancer_split
    s = automl.Search("classification", "AUC_weighted", seed=3,
                      blocked=["SVM", "GradientBoosting", "MultinomialNaiveBayes"])
    in_flight, done = [s.next() for _ in range(3)], 0
    while done < 15:
        t = in_flight.pop(len(in_flight) // 2)  # not in proposal order
        score = automl.cross_validate(Xtr, ytr, "classification", t["learner"], t["params"],
                                      t["scaler"], folds=3)["AUC_weighted"]
        s.report(t["id"], score, 0.1)
        done += 1
        in_flight.append(s.next())
    assert s.best > 0.98
    assert len({t["id"] for t in in_flight}) == 3


def test_search_keeps_the_out_of_fold_predictions_of_its_best_trials(automl, iris_split):
    import numpy as np
    Xtr, _, ytr, _ = iris_split
    trials = automl.search(Xtr, ytr, "classification", "AUC_weighted", iterations=12, folds=4,
                           seed=5, keep_predictions=3)
    ok = [t for t in trials if not t["failed"]]
    kept = [t for t in trials if "predictions" in t]
    assert len(ok) >= 4 and len(kept) == 3
    # The kept trials: the best trial of each of the three best learners (ties allowed).
    best_of = {}
    for t in ok:
        best_of[t["learner"]] = max(best_of.get(t["learner"], -1.0), t["score"])
    assert len({t["learner"] for t in kept}) == 3
    assert all(t["score"] == best_of[t["learner"]] for t in kept)
    cut = sorted(best_of.values(), reverse=True)[2]
    assert all(t["score"] >= cut for t in kept)
    for t in kept:
        assert t["predictions"].shape == (len(ytr), 3)
        assert sorted(t["rows"]) == list(range(len(ytr)))
        # The same pipeline evaluated on the same folds gives the same predictions.
        ev = automl.evaluate(Xtr, ytr, "classification", t["learner"], params=t["params"],
                             scaler=t["scaler"], folds=4, seed=5)
        assert ev["rows"] == t["rows"]
        np.testing.assert_allclose(ev["predictions"], t["predictions"], rtol=0, atol=1e-12)


def test_search_object_starts_large_tables_with_a_cheap_tree(automl):
    """Issue 18: above 100,000 cells the first trial is one DecisionTree (max_depth 8)."""
    large = automl.Search("classification", "AUC_weighted", rows=58000, cols=54)
    t = large.next()
    assert t["learner"] == "DecisionTree" and t["params"]["max_depth"] == 8
    assert large.learners[0] == "DecisionTree"
    assert automl.Search("classification", "AUC_weighted", rows=300, cols=5).next()["learner"] \
        == "LogisticRegression"
    with pytest.raises(ValueError, match="cols must be >= 0"):
        automl.Search("classification", "accuracy", cols=-1)
