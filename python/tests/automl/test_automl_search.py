"""The engine's search strategy, run for real (sequential, k-fold CV) on small data."""
import math

import pytest


def test_search_tries_cheap_learners_first_and_finds_a_good_model(automl, iris_split):
    Xtr, _, ytr, _ = iris_split
    trials = automl.search(Xtr, ytr, "classification", "AUC_weighted", iterations=18, folds=3,
                           seed=2)
    assert [t["iteration"] for t in trials] == list(range(18))
    learners = automl.learners("classification")
    first_pass = [t["learner"] for t in trials[:len(learners)]]
    assert sorted(first_pass) == sorted(learners)  # every learner once before repeats
    assert first_pass[0] == "NaiveBayes"  # cheapest first
    assert all(t["seconds"] >= 0 for t in trials)
    best = max(t["score"] for t in trials if not t["failed"])
    assert best > 0.98
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
