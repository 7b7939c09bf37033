"""P7 (full): the seed 004 AutoML experiment through the real submit path — a Trainyard
server on a loopback port, `Experiment.submit(AutoMLConfig(...))` with the seed's settings
(digits.data[10:] from a get_data.py, iterations=20, 5-fold CV, AUC_weighted, preprocess=False,
max_concurrent_iterations=2, model_explainability=True with X_valid = the first 10 digits),
each iteration a child run, ensembles and the explanation included — versus the naive
scikit-learn loop of the seed table's 20 pipelines (bench/p7_engine_seed_pipelines.py's
`sklearn_loop`), measured back to back. Goal (issue 3): wall time ratio <= 1/5, best
AUC_weighted >= 0.999.

    python3 bench/p7_automl_submit.py [--quick]
"""
import argparse
import os
import tempfile
import textwrap
import time
import warnings

import benchlib

from sklearn.datasets import load_digits

import p7_engine_seed_pipelines as p7e


def trainyard_side(iterations, folds):
    from trainyard.core import Experiment
    from trainyard.train.automl import AutoMLConfig
    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as project:
        with open(os.path.join(project, "get_data.py"), "w") as f:
            f.write(textwrap.dedent("""
                from sklearn import datasets

                def get_data():
                    digits = datasets.load_digits()
                    return {"X": digits.data[10:, :], "y": digits.target[10:]}
                """))
        ws = srv.workspace()
        cfg = AutoMLConfig(task="classification", debug_log="automl_errors.log", path=project,
                           compute_target="local", data_script=project + "/get_data.py",
                           iteration_timeout_minutes=10, iterations=iterations,
                           n_cross_validations=folds, primary_metric="AUC_weighted",
                           preprocess=False, max_concurrent_iterations=2,
                           model_explainability=True, X_valid=load_digits().data[:10, :])
        t0 = time.perf_counter()
        run = Experiment(ws, "p7").submit(cfg)
        run.wait_for_completion()
        wall = time.perf_counter() - t0
        props = run.get_properties()
        return wall, float(props["best_score"]), props["best_pipeline"], len(list(
            run.get_children()))


def main():
    warnings.filterwarnings("ignore", category=FutureWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="4 iterations and 4 peer pipelines, 3 folds (smoke; not the figure)")
    args = ap.parse_args()
    iterations, folds = (4, 3) if args.quick else (20, 5)
    digits = load_digits()
    X, y = digits.data[10:, :], digits.target[10:]
    pipelines = [p for p in p7e.SEED_PIPELINES if p[1] in ("KNN", "DecisionTree", "SGD")][:4] \
        if args.quick else p7e.SEED_PIPELINES
    print("P7: seed 004 AutoML through submit, %d iterations, %d-fold CV, %s" % (
        iterations, folds, benchlib.machine()), flush=True)
    t_ours, best, pipeline, children = trainyard_side(iterations, folds)
    print("  trainyard submit -> completed: %.2f s, %d child runs, best AUC_weighted %.4f (%s)"
          % (t_ours, children, best, pipeline), flush=True)
    t_sk, theirs = p7e.sklearn_loop(X, y, pipelines, folds)
    print("  scikit-learn loop (%d pipelines): %.2f s, best AUC_weighted %.4f" % (
        len(pipelines), t_sk, max(theirs)), flush=True)
    ratio = t_ours / t_sk
    met = ratio <= 0.2 and best >= 0.999
    benchlib.result_line(
        "P7", "seed 004 AutoML via submit (%d iterations, %d-fold): %.2f s vs scikit-learn "
        "loop %.2f s, best AUC_weighted %.4f vs %.4f" % (iterations, folds, t_ours, t_sk, best,
                                                         max(theirs)),
        "1/%.1f" % (1 / ratio), "<= 1/5 and best AUC_weighted >= 0.999", met)


if __name__ == "__main__":
    main()
