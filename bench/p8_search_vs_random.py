"""P8 (search part): the engine's search strategy versus random search of the same spaces at
equal time. Both sides evaluate pipelines one after another with the engine's k-fold CV (the
same folds for a seed) on the same data: the strategy through `automl.search(time_budget=T)`
(cost-frugal, after FLAML: src/automl/search.h), random search by drawing a learner uniformly,
each searched hyperparameter uniformly (log-uniformly where the range is log) from the same
spaces (`automl.search_space`, registry.cc's SearchProfileOf) and, for scale-sensitive
learners, a scaler uniformly, until T seconds are spent (a trial that started inside T
counts, as for the strategy). Reports the mean best CV score of each side per dataset and
over all. Goal (issue 3): the strategy is better than random search.

    python3 bench/p8_search_vs_random.py [--seconds 15] [--seeds 2] [--quick]
"""
import argparse
import math
import random
import statistics
import time

import benchlib  # noqa: F401  (puts python/ on sys.path)

from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification

import trainyard._automl as automl

SCALERS = ["Standardize", "Scale 0/1", "Scale MaxAbs 1", "Robust Scaler", "Normalizer"]
METRIC = "accuracy"
TASK = "classification"


def datasets():
    Xc, yc = make_classification(n_samples=1500, n_features=20, n_informative=8,
                                 n_redundant=4, n_classes=3, random_state=0)
    return [("digits", *load_digits(return_X_y=True)),
            ("breast_cancer", *load_breast_cancer(return_X_y=True)),
            ("wine", *load_wine(return_X_y=True)),
            ("make_classification", Xc, yc)]


def draw(rng, dim):
    if dim["type"] == "choice":
        return rng.choice(dim["choices"])
    lo, hi = dim["low"], dim["high"]
    if dim["log"] and lo > 0:
        v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        v = rng.uniform(lo, hi)
    return int(round(v)) if dim["type"] == "int" else v


def random_search(X, y, seconds, folds, seed, learners):
    rng = random.Random(seed)
    profiles = {n: automl.search_space(n, TASK) for n in learners}
    best, trials, t0 = None, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        name = rng.choice(learners)
        p = profiles[name]
        params = {d["name"]: draw(rng, d) for d in p["space"]}
        scaler = rng.choice(SCALERS) if p["scale_sensitive"] else p["fixed_scaler"]
        trials += 1
        try:
            score = automl.cross_validate(X, y, TASK, name, params, scaler, folds=folds,
                                          seed=seed)[METRIC]
        except (ValueError, RuntimeError):
            continue
        if not math.isnan(score) and (best is None or score > best):
            best = score
    return best, trials


def strategy_search(X, y, seconds, folds, seed):
    trials = automl.search(X, y, TASK, METRIC, iterations=100000, folds=folds,
                           time_budget=seconds, seed=seed)
    scores = [t["score"] for t in trials if not t["failed"] and not math.isnan(t["score"])]
    return max(scores), len(trials)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0, help="budget per search")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 s budgets, one seed (smoke test)")
    args = ap.parse_args()
    seconds, seeds = (3.0, 1) if args.quick else (args.seconds, args.seeds)
    learners = automl.learners(TASK)
    print("P8 search vs random: %g s per search, %d seed(s), %d-fold CV, %s, %s" % (
        seconds, seeds, args.folds, METRIC, benchlib.machine()), flush=True)
    print("  %-20s %12s %8s %12s %8s" % ("dataset", "strategy", "trials", "random", "trials"))
    ours_all, theirs_all = [], []
    for name, X, y in datasets():
        ours, theirs, n_ours, n_theirs = [], [], 0, 0
        for seed in range(seeds):
            best, n = strategy_search(X, y, seconds, args.folds, seed)
            ours.append(best)
            n_ours += n
            best, n = random_search(X, y, seconds, args.folds, seed, learners)
            theirs.append(best if best is not None else float("nan"))
            n_theirs += n
        ours_all += ours
        theirs_all += theirs
        print("  %-20s %12.4f %8d %12.4f %8d" % (name, statistics.mean(ours), n_ours // seeds,
                                                 statistics.mean(theirs), n_theirs // seeds),
              flush=True)
    mean_ours, mean_theirs = statistics.mean(ours_all), statistics.mean(theirs_all)
    wins = sum(a > b for a, b in zip(ours_all, theirs_all))
    ties = sum(a == b for a, b in zip(ours_all, theirs_all))
    print("  %-20s %12.4f %8s %12.4f" % ("mean", mean_ours, "", mean_theirs))
    benchlib.result_line(
        "P8-search", "engine strategy vs random search of the same spaces, %g s each, %d "
        "datasets x %d seeds, mean best CV %s %.4f vs %.4f (strategy better in %d, tied in "
        "%d of %d)" % (seconds, len(ours_all) // seeds, seeds, METRIC, mean_ours, mean_theirs,
                       wins, ties, len(ours_all)),
        "%+.4f" % (mean_ours - mean_theirs), "strategy > random", mean_ours > mean_theirs)


if __name__ == "__main__":
    main()
