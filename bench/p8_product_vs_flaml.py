"""P8 on the product path (issue 18): Trainyard AutoML through `Experiment.submit(AutoMLConfig(
task, training_data=<raw CSV>, label_column_name, primary_metric, experiment_timeout_minutes,
featurization='auto'))` and `get_output()`, versus FLAML on the same raw pandas data at the same
wall budget. No encoding is done by the bench: each side featurizes the raw table itself.

Protocol per table and budget B: one fixed 75/25 split (stratified for classification,
seed 0) of the raw table (text columns, missing values as they come); the training part is
written to train.csv, the test part to test.csv.
  ours:  a real Trainyard server on loopback; AutoMLConfig(task, training_data=train.csv,
         label_column_name, primary_metric='AUC_weighted' | 'r2_score',
         experiment_timeout_minutes=B/60, featurization='auto', max_concurrent_iterations=2,
         max_cores_per_iteration=1) (validation: the default for the rows); run to completion;
         get_output()'s model predicts test.csv. Wall time: submit to completion.
  FLAML: AutoML().fit(X_train (raw pandas frame, text columns as 'category'), y_train, task,
         time_budget=B, metric='roc_auc' | 'roc_auc_ovr_weighted' | 'r2', n_jobs=2, seed=0),
         default estimators; its predictions on the test part.
Test metric: AUC_weighted (weighted one-vs-rest roc_auc_score) for classification, r2 for
regression. The two run one after the other. Tables: scikit-learn's bundled ones, CSV files
shipped inside statsmodels and palmerpenguins, and generated ones of the issue's shapes (small
regression tables with categoricals and NaNs, a > 20,000-row table with 7 imbalanced STRING
classes, an imbalanced binary table with a high-cardinality text column). Needs bench/.venv
(bench/setup.sh).

    bench/.venv/bin/python bench/p8_product_vs_flaml.py [--budgets 10,60] [--tables a,b,...]
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import benchlib

import numpy as np
import pandas as pd
from sklearn import datasets as skd
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split


def _sk(loader, target="target"):
    b = loader(as_frame=True)
    df = b.frame.copy()
    if target != "target":
        df = df.rename(columns={"target": target})
    return df, target


def penguins(target):
    import palmerpenguins
    df = palmerpenguins.load_penguins().drop(columns=["year"])
    df = df.dropna(subset=[target])
    return df, target


def sm(name, target, transform=None):
    import statsmodels.api as smapi
    df = getattr(smapi.datasets, name).load_pandas().data.copy()
    if transform:
        df = transform(df)
    return df, target


def _fair(df):
    df["affairs"] = np.where(df["affairs"] > 0, "yes", "no")
    return df


def _anes(df):
    df["vote"] = df["vote"].map({0.0: "clinton", 1.0: "dole"})
    return df.drop(columns=["logpopul"])


def _grunfeld(df):
    df["firm"] = df["firm"].astype(str)
    return df.drop(columns=["year"])


def _modechoice(df):
    df = df[df["choice"] == 1].copy()
    df["mode"] = df["mode"].map({1: "air", 2: "train", 3: "bus", 4: "car"})
    return df.drop(columns=["individual", "choice"])


def _star98(df):
    y = df["NABOVE"] / (df["NABOVE"] + df["NBELOW"])
    df = df.drop(columns=["NABOVE", "NBELOW"])
    df["share_above"] = y
    return df


def gen_cat_reg(rows, seed):
    """The issue's small regression shape: numeric and text columns, missing values."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    kind = rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2])
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(0, 10, rows)
    eff = {"north": 2.0, "south": -1.0, "east": 0.5, "west": 0.0, "centre": 1.5}
    y = 3 * x1 + 0.8 * x2 + np.array([eff[r] for r in region]) + \
        np.where(kind == "c", x2 * 0.5, 0) + rng.normal(0, 1.0, rows)
    df = pd.DataFrame({"x1": x1, "x2": x2, "region": region, "kind": kind, "y": y})
    for col in ("x1", "x2", "region"):
        df.loc[rng.random(rows) < 0.08, col] = np.nan
    return df, "y"


def gen_cover(rows=25000, seed=0):
    """> 20,000 rows, 7 imbalanced STRING classes (the issue's failing table)."""
    rng = np.random.default_rng(seed)
    names = np.array(["Spruce", "Lodgepole", "Ponderosa", "Willow", "Aspen", "Douglas",
                      "Krummholz"])
    y = rng.choice(7, size=rows, p=[0.45, 0.3, 0.1, 0.06, 0.05, 0.03, 0.01])
    df = pd.DataFrame({
        "elevation": 2000 + 120 * y + rng.normal(0, 150, rows),
        "slope": rng.normal(10 + y, 4, rows),
        "aspect": rng.uniform(0, 360, rows),
        "soil": np.array(["s%d" % ((k * 3 + rng.integers(0, 3)) % 14) for k in y]),
        "cover": names[y]})
    df.loc[rng.random(rows) < 0.02, "slope"] = np.nan
    return df, "cover"


def gen_imbalanced(rows=5000, seed=0):
    """Imbalanced binary with a high-cardinality text column (200 levels)."""
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, 200, rows)
    risk = rng.normal(0, 1, 200)
    x = rng.normal(size=(rows, 4))
    logit = -4 + 1.5 * x[:, 0] + risk[shop] * 1.5
    y = rng.random(rows) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    df["shop"] = ["shop%03d" % s for s in shop]
    df["fraud"] = np.where(y, "fraud", "ok")
    return df, "fraud"


def gen_highcard_reg(rows=2000, seed=0):
    rng = np.random.default_rng(seed)
    city = rng.integers(0, 150, rows)
    eff = rng.normal(0, 3, 150)
    x = rng.normal(size=(rows, 3))
    y = eff[city] + 2 * x[:, 0] + rng.normal(0, 1, rows)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["city"] = ["c%03d" % c for c in city]
    df["price"] = y
    return df, "price"


TABLES = {
    "iris": ("classification", lambda: _sk(skd.load_iris)),
    "wine": ("classification", lambda: _sk(skd.load_wine)),
    "breast_cancer": ("classification", lambda: _sk(skd.load_breast_cancer)),
    "digits": ("classification", lambda: _sk(skd.load_digits)),
    "diabetes": ("regression", lambda: _sk(skd.load_diabetes)),
    "penguins_species": ("classification", lambda: penguins("species")),
    "penguins_sex": ("classification", lambda: penguins("sex")),
    "penguins_mass": ("regression", lambda: penguins("body_mass_g")),
    "fair_affairs": ("classification", lambda: sm("fair", "affairs", _fair)),
    "anes96_vote": ("classification", lambda: sm("anes96", "vote", _anes)),
    "grunfeld_invest": ("regression", lambda: sm("grunfeld", "invest", _grunfeld)),
    "modechoice_mode": ("classification", lambda: sm("modechoice", "mode", _modechoice)),
    "star98_share": ("regression", lambda: sm("star98", "share_above", _star98)),
    "engel_food": ("regression", lambda: sm("engel", "foodexp")),
    "randhie_mdvis": ("regression", lambda: sm("randhie", "mdvis")),
    "macro_realinv": ("regression", lambda: sm("macrodata", "realinv")),
    "cat_reg_250": ("regression", lambda: gen_cat_reg(250, 1)),
    "cat_reg_370": ("regression", lambda: gen_cat_reg(370, 2)),
    "cat_reg_170": ("regression", lambda: gen_cat_reg(170, 3)),
    "cover_strings_25k": ("classification", gen_cover),
    "imbalanced_highcard": ("classification", gen_imbalanced),
    "highcard_reg": ("regression", gen_highcard_reg),
}


def split(task, df, target):
    strat = df[target] if task == "classification" else None
    return train_test_split(df, test_size=0.25, random_state=0, stratify=strat)


def score(task, y_test, pred, classes=None):
    if task == "regression":
        return r2_score(y_test, pred)
    p = np.asarray(pred, dtype=float)
    classes = list(classes)
    if len(classes) == 2:
        return roc_auc_score(np.asarray([classes.index(v) for v in y_test]), p[:, 1])
    return roc_auc_score(np.asarray([classes.index(v) for v in y_test]), p, multi_class="ovr",
                         average="weighted", labels=list(range(len(classes))))


def ours(srv, task, name, train, test, target, budget, folder):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    tr, te = os.path.join(folder, "train.csv"), os.path.join(folder, "test.csv")
    train.to_csv(tr, index=False)
    test.drop(columns=[target]).to_csv(te, index=False)
    cfg = AutoMLConfig(task=task, training_data=tr, label_column_name=target,
                       primary_metric="AUC_weighted" if task == "classification" else "r2_score",
                       experiment_timeout_minutes=budget / 60.0, featurization="auto",
                       max_concurrent_iterations=2, max_cores_per_iteration=1)
    t0 = time.perf_counter()
    run = Experiment(srv.workspace(), "p8-" + name).submit(cfg)
    run.wait_for_completion(show_output=False, raise_on_error=False)
    wall = time.perf_counter() - t0
    if run.get_status() != "Completed":
        return None, wall, "FAILED: " + json.dumps(run.get_details().get("error"))[:300]
    _, model = run.get_output()
    if task == "classification":
        proba = model.predict_proba(te)
        s = score(task, test[target].astype(str).tolist(), proba,
                  [str(c) for c in model.classes_])
    else:
        s = score(task, test[target].to_numpy(), model.predict(te))
    return s, wall, run.get_properties().get("best_pipeline", "")


def flaml_side(task, train, test, target, budget):
    from flaml import AutoML
    X_tr, y_tr = train.drop(columns=[target]), train[target]
    X_te = test.drop(columns=[target])
    for X in (X_tr, X_te):
        for c in X.columns:
            if X[c].dtype == object:
                X[c] = X[c].astype("category")
    if task == "classification":
        y_tr = y_tr.astype(str)
        metric = "roc_auc" if y_tr.nunique() == 2 else "roc_auc_ovr_weighted"
    else:
        metric = "r2"
    a = AutoML()
    t0 = time.perf_counter()
    a.fit(X_tr, y_tr, task=task, time_budget=budget, metric=metric, n_jobs=2, seed=0, verbose=0)
    wall = time.perf_counter() - t0
    if task == "classification":
        return score(task, test[target].astype(str).tolist(), a.predict_proba(X_te),
                     a.classes_), wall, a.best_estimator
    return score(task, test[target].to_numpy(), a.predict(X_te)), wall, a.best_estimator


def main():
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # FLAML's joblib workers
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="10,60")
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--out", default=None, help="append JSON lines here")
    args = ap.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    names = args.tables.split(",")
    results = {b: [] for b in budgets}
    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as tmp:
        for name in names:
            task, load = TABLES[name]
            df, target = load()
            train, test = split(task, df, target)
            for b in budgets:
                folder = os.path.join(tmp, "%s-%g" % (name, b))
                os.makedirs(folder)
                o, o_wall, o_best = ours(srv, task, name, train, test, target, b, folder)
                f, f_wall, f_best = flaml_side(task, train, test, target, b)
                win = o is not None and o >= f - 1e-9
                row = {"table": name, "task": task, "rows": len(df), "cols": df.shape[1] - 1,
                       "budget": b, "ours": o, "flaml": f, "ours_wall": round(o_wall, 1),
                       "flaml_wall": round(f_wall, 1), "ours_best": o_best,
                       "flaml_best": f_best, "win": win}
                results[b].append(row)
                print("%-20s %-14s B=%3gs ours %s (%.1fs, %s)  flaml %.4f (%.1fs, %s)  %s" % (
                    name, task, b, "FAILED" if o is None else "%.4f" % o, o_wall, o_best[:40],
                    f, f_wall, f_best, "OK" if win else "behind %.4f" % (
                        (f - o) if o is not None else float("nan"))), flush=True)
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
    for b in budgets:
        rs = results[b]
        wins = sum(r["win"] for r in rs)
        fails = sum(r["ours"] is None for r in rs)
        benchlib.result_line(
            "P8-product B=%gs" % b,
            "%d/%d tables >= FLAML, %d failures (%s)" % (wins, len(rs), fails, benchlib.machine()),
            wins / max(1, len(rs)), ">= 90%, 0 failures", wins >= 0.9 * len(rs) and fails == 0)


if __name__ == "__main__":
    sys.exit(main())
