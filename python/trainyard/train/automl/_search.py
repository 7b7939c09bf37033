"""The driver's proposal strategy over the engine's learners (docs/AUTOML.md, "Search").

The engine's own ``SearchStrategy`` (src/automl/search.h) is not exposed step by step through
the binding, so the driver proposes with this cost-frugal strategy after FLAML: every learner
first at its cheapest configuration, cheap learners first; then a learner is drawn with
probability proportional to 1 / its estimated cost for improvement (gap to the best score /
its expected gain per trial x its trial cost), and a random direct-search step (CFO) is taken
from that learner's best point in the normalized space, halving the step after failures.
"""

import math
import random

# (name, low, high, cheap/init value, log scale, integer) or (name, [choices], default)
_SPACES = {
    "LogisticRegression": [("C", 1e-3, 1e3, 1.0, True, False), ("max_iter", 10, 1000, 100, True, True)],
    "LinearSVM": [("C", 1e-3, 1e3, 1.0, True, False)],
    "SGD": [("alpha", 1e-6, 1e-1, 1e-4, True, False), ("max_iter", 5, 1000, 20, True, True),
            ("eta0", 1e-4, 1.0, 0.01, True, False),
            ("loss", ["log_loss", "modified_huber", "hinge"], "log_loss")],
    "NaiveBayes": [("var_smoothing", 1e-12, 1e-3, 1e-9, True, False)],
    "MultinomialNaiveBayes": [("alpha", 1e-3, 10, 1.0, True, False)],
    "BernoulliNaiveBayes": [("alpha", 1e-3, 10, 1.0, True, False)],
    "KNN": [("n_neighbors", 1, 50, 5, True, True), ("p", 1, 2, 2, False, True),
            ("weights", ["uniform", "distance"], "uniform")],
    "DecisionTree": [("max_depth", 1, 64, 8, True, True), ("min_samples_split", 2, 40, 2, True, True),
                     ("min_samples_leaf", 1, 20, 1, True, True)],
    "RandomForest": [("n_estimators", 10, 500, 10, True, True), ("max_features", 0.05, 1.0, 0.2, False, False),
                     ("min_samples_leaf", 1, 20, 1, True, True)],
    "ExtremeRandomTrees": [("n_estimators", 10, 500, 10, True, True), ("max_features", 0.05, 1.0, 0.2, False, False),
                           ("min_samples_leaf", 1, 20, 1, True, True)],
    "GradientBoosting": [("n_estimators", 10, 500, 10, True, True), ("learning_rate", 0.01, 1.0, 0.1, True, False),
                         ("max_depth", 1, 10, 3, False, True)],
    "XGBoostClassifier": [("n_estimators", 4, 1000, 4, True, True), ("max_depth", 1, 12, 6, False, True),
                          ("learning_rate", 0.01, 1.0, 0.3, True, False),
                          ("colsample_bytree", 0.3, 1.0, 1.0, False, False)],
    "XGBoostRegressor": [("n_estimators", 4, 1000, 4, True, True), ("max_depth", 1, 12, 6, False, True),
                         ("learning_rate", 0.01, 1.0, 0.3, True, False),
                         ("colsample_bytree", 0.3, 1.0, 1.0, False, False)],
    "SVM": [("C", 1e-2, 1e3, 1.0, True, False)],
    "ElasticNet": [("alpha", 1e-4, 10.0, 1.0, True, False), ("l1_ratio", 0.0, 1.0, 0.5, False, False)],
}
# Relative cost of a cheap trial (the engine registry's estimates).
_COST = {"NaiveBayes": 0.2, "MultinomialNaiveBayes": 0.2, "BernoulliNaiveBayes": 0.2,
         "DecisionTree": 0.5, "SGD": 1.0, "LinearSVM": 1.0, "ElasticNet": 1.0,
         "LogisticRegression": 1.2, "KNN": 1.5, "ExtremeRandomTrees": 2.0, "RandomForest": 2.5,
         "XGBoostClassifier": 6.0, "XGBoostRegressor": 6.0, "GradientBoosting": 8.0, "SVM": 10.0}
_FIRST = ["LogisticRegression", "ElasticNet", "KNN", "ExtremeRandomTrees", "SGD",
          "RandomForest", "XGBoostClassifier", "XGBoostRegressor", "LinearSVM", "NaiveBayes",
          "DecisionTree", "SVM", "GradientBoosting"]
_SCALE_SENSITIVE = {"LogisticRegression", "LinearSVM", "SGD", "KNN", "SVM", "ElasticNet"}
SCALERS = ["Standardize", "Scale 0/1", "Scale MaxAbs 1", "Robust Scaler", "Normalizer"]
# Azure's pipeline label of each learner.
LABELS = {"LogisticRegression": "logistic regression", "SGD": "SGD classifier",
          "NaiveBayes": "naive Bayes", "MultinomialNaiveBayes": "multinomial naive Bayes",
          "BernoulliNaiveBayes": "Bernoulli naive Bayes", "KNN": "kNN", "DecisionTree": "DT",
          "RandomForest": "random forest", "ExtremeRandomTrees": "extra trees",
          "GradientBoosting": "gradient boosting", "XGBoostClassifier": "XGBoost classifier",
          "XGBoostRegressor": "XGBoost regressor", "LinearSVM": "linear SVM", "SVM": "SVM",
          "ElasticNet": "elastic net"}


def label(learner, scaler, task="classification"):
    name = LABELS.get(learner, learner)
    if task == "regression" and learner == "SGD":
        name = "SGD regressor"
    return (scaler + " " + name) if scaler else name


class Strategy:
    def __init__(self, learners, higher_is_better=True, seed=0, in_iterations=True,
                 task="classification"):
        self.task = task
        self.rng = random.Random(seed)
        self.higher = higher_is_better
        self.in_iterations = in_iterations
        # First round: strong, cheap learners first (Azure's and FLAML's experience), then
        # the rest by cost; afterwards the order only breaks ties.
        self.order = sorted(learners, key=lambda n: (_FIRST.index(n) if n in _FIRST
                                                     else len(_FIRST), _COST.get(n, 3.0)))
        self.state = {n: {"best": None, "point": None, "scaler": None, "step": 0.3,
                          "fails": 0, "trials": 0, "cost": _COST.get(n, 3.0), "gain": None}
                      for n in self.order}
        self.pending = {}
        self.next_initial = 0
        self.best = None

    def _better(self, a, b):
        return b is None or (a > b if self.higher else a < b)

    def _space(self, name):
        space = _SPACES.get(name, [])
        if self.task == "regression":  # classification losses only for classifiers
            space = [spec for spec in space if spec[0] != "loss"]
        return space

    def _point_to_params(self, name, point):
        params = {}
        for spec, x in zip(self._space(name), point):
            if isinstance(spec[1], list):
                params[spec[0]] = spec[1][min(int(x * len(spec[1])), len(spec[1]) - 1)]
                continue
            _, low, high, _, log, integer = spec
            v = math.exp(math.log(low) + x * (math.log(high) - math.log(low))) if log \
                else low + x * (high - low)
            params[spec[0]] = int(round(v)) if integer else v
        return params

    def _initial_point(self, name):
        point = []
        for spec in self._space(name):
            if isinstance(spec[1], list):
                point.append((spec[1].index(spec[2]) + 0.5) / len(spec[1]))
                continue
            _, low, high, init, log, _ = spec
            point.append((math.log(init) - math.log(low)) / (math.log(high) - math.log(low))
                         if log else (init - low) / (high - low))
        return point

    def next(self, trial_id):
        if self.next_initial < len(self.order):
            name = self.order[self.next_initial]
            self.next_initial += 1
            point = self._initial_point(name)
            scaler = "Standardize" if name in _SCALE_SENSITIVE else "Scale MaxAbs 1"
        else:
            name = self._choose()
            st = self.state[name]
            base = st["point"] if st["point"] is not None else self._initial_point(name)
            d = [self.rng.gauss(0, 1) for _ in base]
            norm = math.sqrt(sum(v * v for v in d)) or 1.0
            point = [min(1.0, max(0.0, b + st["step"] * v / norm)) for b, v in zip(base, d)]
            scaler = st["scaler"] or "Standardize"
            if name in _SCALE_SENSITIVE and self.rng.random() < 0.3:
                scaler = self.rng.choice(SCALERS)
        self.pending[trial_id] = (name, point, scaler)
        return name, self._point_to_params(name, point), scaler

    def _choose(self):
        weights = []
        for name in self.order:
            st = self.state[name]
            if st["best"] is None:
                weights.append(0.05 if st["trials"] else 1.0)
                continue
            gap = abs((self.best or 0) - st["best"]) + 1e-6
            gain = st["gain"] or max(1e-4, abs(1.0 - st["best"]) / 10.0) * (0.8 ** st["fails"])
            # Seconds per trial even under an iterations budget: the wall time is what the
            # user waits for, and a cheap learner that is close gets more tries (FLAML).
            cost = st["cost"]
            eci = max(gap / gain, 1.0) * cost
            if st["best"] == self.best:
                eci = max(1.0, st["fails"] + 1.0) * cost
            weights.append(1.0 / eci)
        return self.rng.choices(self.order, weights=weights)[0]

    def report(self, trial_id, score, seconds):
        name, point, scaler = self.pending.pop(trial_id, (None, None, None))
        if name is None:
            return
        st = self.state[name]
        st["trials"] += 1
        st["cost"] = 0.5 * st["cost"] + 0.5 * max(seconds, 1e-3) if st["trials"] > 1 \
            else max(seconds, 1e-3)
        ok = score is not None and not math.isnan(score)
        if ok and self._better(score, st["best"]):
            if st["best"] is not None:
                st["gain"] = abs(score - st["best"])
            st["best"], st["point"], st["scaler"] = score, point, scaler
            st["fails"] = 0
        else:
            st["fails"] += 1
            if st["fails"] >= 2 ** max(1, len(point or []) - 1):
                st["step"] = max(0.02, st["step"] / 2)
        if ok and self._better(score, self.best):
            self.best = score
