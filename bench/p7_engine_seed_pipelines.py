"""P7 (engine part): the seed 004 experiment's 20 pipelines on digits (digits.data[10:]),
5-fold CV scored by AUC_weighted, through Trainyard's native AutoML engine with 2 iterations
at a time (max_concurrent_iterations=2, one core each) versus the naive scikit-learn loop of
the same 20 pipelines (same scalers, scikit-learn's same models with default settings,
StratifiedKFold(5), predict_proba + roc_auc_score, one after another). Both sides on the same
data in the same run. Goal (issue 3): wall time ratio <= 1/5 and best AUC_weighted >= 0.999.
The full P7 (the seed driver through AutoMLConfig/child runs) arrives with the driver.

    python3 bench/p7_engine_seed_pipelines.py [--quick]
"""
import argparse
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import benchlib  # noqa: F401  (puts python/ on sys.path)

import numpy as np
from sklearn import ensemble, linear_model, neighbors, svm, tree
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler,
                                   StandardScaler, label_binarize)

import trainyard._automl as automl

# The seed's table, in iteration order: (scaler, engine learner).
SEED_PIPELINES = [
    ("Scale MaxAbs 1", "ExtremeRandomTrees"), ("Normalizer", "KNN"), ("Standardize", "SGD"),
    ("Standardize", "GradientBoosting"), ("Robust Scaler", "SGD"), ("Robust Scaler", "DecisionTree"),
    ("Standardize", "SVM"), ("Normalizer", "DecisionTree"), ("Standardize", "KNN"),
    ("Normalizer", "ExtremeRandomTrees"), ("Scale MaxAbs 1", "DecisionTree"), ("Standardize", "SGD"),
    ("Robust Scaler", "LogisticRegression"), ("Scale MaxAbs 1", "GradientBoosting"),
    ("Scale MaxAbs 1", "SVM"), ("Robust Scaler", "KNN"), ("Standardize", "KNN"),
    ("Scale 0/1", "GradientBoosting"), ("Scale 0/1", "ExtremeRandomTrees"), ("Robust Scaler", "KNN"),
]

SK_SCALERS = {"Standardize": StandardScaler, "Scale 0/1": MinMaxScaler,
              "Scale MaxAbs 1": MaxAbsScaler, "Robust Scaler": RobustScaler,
              "Normalizer": Normalizer}
SK_MODELS = {
    "ExtremeRandomTrees": lambda: ensemble.ExtraTreesClassifier(random_state=0),
    "KNN": neighbors.KNeighborsClassifier,
    "SGD": lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0),
    "GradientBoosting": lambda: ensemble.GradientBoostingClassifier(random_state=0),
    "DecisionTree": lambda: tree.DecisionTreeClassifier(random_state=0),
    "SVM": lambda: svm.SVC(probability=True, random_state=0),
    "LogisticRegression": lambda: linear_model.LogisticRegression(max_iter=1000),
}


def sklearn_loop(X, y, pipelines, folds):
    classes = np.unique(y)
    scores = []
    t0 = time.perf_counter()
    for scaler, learner in pipelines:
        aucs = []
        for tr, va in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
            model = make_pipeline(SK_SCALERS[scaler](), SK_MODELS[learner]())
            model.fit(X[tr], y[tr])
            proba = model.predict_proba(X[va])
            aucs.append(roc_auc_score(label_binarize(y[va], classes=classes), proba,
                                      average="weighted"))
        scores.append(float(np.mean(aucs)))
    return time.perf_counter() - t0, scores


def engine_run(X, y, pipelines, folds, concurrent):
    def one(p):
        scaler, learner = p
        return automl.cross_validate(X, y, "classification", learner, scaler=scaler,
                                     featurization="off", folds=folds, threads=1, seed=0)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrent) as pool:
        results = list(pool.map(one, pipelines))
    return time.perf_counter() - t0, [r["AUC_weighted"] for r in results]


def main():
    warnings.filterwarnings("ignore", category=FutureWarning)  # SVC(probability=True) in 1.9
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="4 fast pipelines, 3 folds (smoke test; the ratio is not the figure)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--search", action="store_true",
                    help="also run the engine's own search for the same number of iterations "
                         "(sequential, reported beside the figure)")
    args = ap.parse_args()
    digits = load_digits()
    X, y = digits.data[10:, :], digits.target[10:]
    quick = [p for p in SEED_PIPELINES if p[1] in ("KNN", "DecisionTree", "SGD")][:4]
    pipelines = quick if args.quick else SEED_PIPELINES
    folds = 3 if args.quick else args.folds
    print("P7 engine: %d pipelines, %d-fold CV, digits %s, %s" % (
        len(pipelines), folds, X.shape, benchlib.machine()), flush=True)
    t_ours, ours = engine_run(X, y, pipelines, folds, args.concurrent)
    print("  trainyard engine: %.2f s (best AUC_weighted %.4f)" % (t_ours, max(ours)), flush=True)
    t_sk, theirs = sklearn_loop(X, y, pipelines, folds)
    print("  scikit-learn loop: %.2f s (best AUC_weighted %.4f)" % (t_sk, max(theirs)), flush=True)
    print("  %-36s %10s %10s" % ("pipeline", "trainyard", "sklearn"))
    for (scaler, learner), a, b in zip(pipelines, ours, theirs):
        print("  %-36s %10.4f %10.4f" % (scaler + " " + learner, a, b))
    if args.search:
        t0 = time.perf_counter()
        trials = automl.search(X, y, "classification", "AUC_weighted", iterations=len(pipelines),
                               folds=folds, featurization="off", seed=0)
        t_search = time.perf_counter() - t0
        best = max(trials, key=lambda t: t["score"])
        print("  engine search, %d iterations: %.2f s, best AUC_weighted %.4f (%s)" % (
            len(trials), t_search, best["score"], best["pipeline"]), flush=True)
    ratio = t_ours / t_sk
    met = ratio <= 0.2 and max(ours) >= 0.999
    benchlib.result_line(
        "P7-engine", "%d seed pipelines on digits, %d-fold CV: %.2f s vs scikit-learn %.2f s, "
        "best AUC_weighted %.4f vs %.4f" % (len(pipelines), folds, t_ours, t_sk, max(ours),
                                            max(theirs)),
        "1/%.1f" % (1 / ratio), "<= 1/5 and best AUC_weighted >= 0.999", met)


if __name__ == "__main__":
    main()
