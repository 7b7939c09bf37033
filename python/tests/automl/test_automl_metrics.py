"""Every engine metric equals scikit-learn's definition to 1e-9 on random inputs with ties."""
import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

TOL = 1e-9


def _indicator(y, C):
    if C == 2:
        y = np.asarray(y)
        return np.column_stack([1 - y, y])
    return label_binarize(y, classes=list(range(C)))


def _reference(y, proba):
    C = proba.shape[1]
    pred = proba.argmax(axis=1)
    ind = _indicator(y, C)
    labels = list(range(C))
    recall_macro = skm.recall_score(y, pred, average="macro", labels=labels, zero_division=0)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "AUC_weighted": skm.roc_auc_score(ind, proba, average="weighted"),
        "AUC_macro": skm.roc_auc_score(ind, proba, average="macro"),
        "average_precision_score_weighted": skm.average_precision_score(ind, proba, average="weighted"),
        "average_precision_score_macro": skm.average_precision_score(ind, proba, average="macro"),
        "precision_score_weighted": skm.precision_score(y, pred, average="weighted", labels=labels, zero_division=0),
        "precision_score_macro": skm.precision_score(y, pred, average="macro", labels=labels, zero_division=0),
        "recall_score_weighted": skm.recall_score(y, pred, average="weighted", labels=labels, zero_division=0),
        "recall_score_macro": recall_macro,
        "f1_score_weighted": skm.f1_score(y, pred, average="weighted", labels=labels, zero_division=0),
        "f1_score_macro": skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0),
        "norm_macro_recall": max(0.0, (recall_macro - 1.0 / C) / (1 - 1.0 / C)),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "log_loss": skm.log_loss(y, proba, labels=labels),
    }


def _random_case(rng, C, n, levels):
    y = rng.integers(0, C, n)
    y[:C] = np.arange(C)  # every class present (scikit-learn's multiclass AUC requires it)
    raw = rng.integers(0, levels, (n, C)).astype(float) + rng.integers(0, 2, (n, 1))
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    return y, raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("C", [2, 3, 5, 10])
def test_classification_metrics_equal_sklearn_with_ties(automl, C):
    rng = np.random.default_rng(C)
    for trial in range(15):
        n = int(rng.integers(C + 5, 300))
        levels = int(rng.choice([2, 3, 5, 1000]))  # few levels: many tied scores
        y, proba = _random_case(rng, C, n, levels)
        ours = automl.classification_scores(y, proba)
        ref = _reference(y, proba)
        assert set(ref) <= set(ours)
        for name, expected in ref.items():
            assert ours[name] == pytest.approx(expected, abs=TOL), (name, C, trial)


def test_classification_metrics_accept_lists(automl):
    y = [0, 1, 1, 0, 2, 2]
    proba = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4],
             [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]]
    ours = automl.classification_scores(y, proba)
    ref = _reference(np.array(y), np.array(proba))
    for name, expected in ref.items():
        assert ours[name] == pytest.approx(expected, abs=TOL), name


def test_log_loss_clips_zero_probabilities(automl):
    y = np.array([0, 1, 1])
    proba = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # one certain mistake
    ours = automl.classification_scores(y, proba)["log_loss"]
    assert ours == pytest.approx(skm.log_loss(y, proba), abs=TOL)
    assert math.isfinite(ours)


def test_regression_metrics_equal_sklearn_with_ties(automl):
    rng = np.random.default_rng(7)
    for trial in range(20):
        n = int(rng.integers(5, 400))
        y = rng.integers(-5, 6, n).astype(float) * rng.choice([0.5, 3.0])
        pred = y + np.round(rng.normal(0, 2, n))  # rounded: tied predictions
        ours = automl.regression_scores(y, pred)
        rng_y = y.max() - y.min()
        rmse = math.sqrt(skm.mean_squared_error(y, pred))
        ref = {
            "r2_score": skm.r2_score(y, pred),
            "explained_variance": skm.explained_variance_score(y, pred),
            "root_mean_squared_error": rmse,
            "mean_absolute_error": skm.mean_absolute_error(y, pred),
            "normalized_root_mean_squared_error": rmse / rng_y,
            "normalized_mean_absolute_error": skm.mean_absolute_error(y, pred) / rng_y,
            "spearman_correlation": spearmanr(y, pred).statistic,
        }
        for name, expected in ref.items():
            assert ours[name] == pytest.approx(expected, abs=TOL), (name, trial)


def test_normalized_metrics_use_the_given_range(automl):
    y, pred = [1.0, 2.0, 3.0], [1.5, 2.0, 2.0]
    ours = automl.regression_scores(y, pred, 10.0)
    assert ours["normalized_mean_absolute_error"] == pytest.approx(0.5 / 10, abs=TOL)


def test_metric_input_errors_are_clear(automl):
    with pytest.raises(ValueError, match="y_true has 2 values but the predictions have 3 rows"):
        automl.classification_scores([0, 1], [[0.5, 0.5]] * 3)
    with pytest.raises(ValueError, match="class index outside"):
        automl.classification_scores([0, 3], [[0.5, 0.5]] * 2)
    with pytest.raises(ValueError, match="same, non-zero length"):
        automl.regression_scores([1.0], [1.0, 2.0])
