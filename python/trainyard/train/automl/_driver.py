"""The AutoML driver: what the agent executes for a run of kind ``automl``.

``python -m trainyard.train.automl._driver automl_settings.json`` in the run's snapshot. It
loads the data (data script / handover / CSV), proposes pipelines with the engine's search
strategy (``engine.Search``), evaluates each as a CHILD run in a forked worker process (so an
iteration past its timeout, a canceled iteration, or the experiment timeout stops it at once),
logs every metric, uploads each child's model to ``outputs/model.tyam``, adds VotingEnsemble /
StackEnsemble as the final iterations, saves the best model on the parent and, with
``model_explainability``, the explanation of the best model as ``outputs/explanation.json``.
"""

import json
import logging
import math
import multiprocessing
import os
import signal
import socket
import sys
import time
import traceback

from trainyard import _automl as engine
from trainyard.core.run import Run
from trainyard.train.automl import _data

MODEL_FILE = "model.tyam"
EXPLANATION_FILE = "explanation.json"
EXACT_EXPLAINERS = ("DecisionTree", "RandomForest", "ExtremeRandomTrees", "GradientBoosting",
                    "XGBoostClassifier", "XGBoostRegressor", "LogisticRegression", "LinearSVM",
                    "SGD", "ElasticNet")
FINISH_SECONDS = 2.0  # uploading the best model and finishing the run, under load
MINIMIZED = ("normalized_root_mean_squared_error", "normalized_mean_absolute_error")
log = logging.getLogger("trainyard.automl")

# Data shared with forked workers (inherited, never pickled).
_W = {}


def _work(conn, learner, params, scaler, model_path):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a cancel ends the worker at once
    try:
        w = _W
        ev = engine.evaluate(w["X"], w["y"], w["task"], learner, params, scaler,
                             w["featurization"], w["folds"], w["threads"], w["seed"],
                             w.get("X_valid"), w.get("y_valid"))
        model = engine.fit(w["X"], w["y"], w["task"], learner, params, scaler,
                           w["featurization"], w["threads"], w["seed"], w.get("feature_names"))
        if w.get("table_state"):  # tabular data: the model takes raw rows
            model.set_table_featurizer(w["table_state"])
        model.save(model_path)
        preds = ev["predictions"]
        preds = preds.tolist() if hasattr(preds, "tolist") else preds
        conn.send({"ok": True, "scores": ev["scores"], "predictions": preds,
                   "rows": list(ev["rows"])})
    except BaseException as e:  # noqa: BLE001 - reported to the driver
        conn.send({"ok": False, "error": "{}: {}".format(type(e).__name__, e)})
    finally:
        conn.close()


def _where():
    """Where an iteration executes: the forked worker (or, for ensembles, the driver) runs on
    this host, in this directory: the compute target's node."""
    return {"host": socket.gethostname(), "working_dir": os.getcwd()}


def _rows(m):
    """Engine matrices (numpy arrays or lists of lists) as lists of rows."""
    return m.tolist() if hasattr(m, "tolist") else m


def _fmt_duration(seconds):
    s = int(round(seconds))
    return "{}:{:02d}:{:02d}".format(s // 3600, s // 60 % 60, s % 60)


class Driver:
    def __init__(self, settings, parent):
        self.s = settings
        self.parent = parent
        self.task = settings["task"]
        self.metric = settings["primary_metric"]
        self.higher = self.metric not in MINIMIZED
        self.results = []  # dicts: iteration, learner, scaler, params, score, scores, ...
        self.best = None
        self.canceled = False
        self.in_loop = False
        self.start = time.monotonic()
        # The experiment's clock starts when the run started (interpreter start-up and the
        # data script count against experiment_timeout_minutes, as in Azure).
        started = (parent._run_dto or {}).get("start_time_utc") if hasattr(parent, "_run_dto") \
            else None
        if started:
            try:
                from datetime import datetime
                t0 = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
                self.start -= max(0.0, min(time.time() - t0, 600.0))
            except ValueError:
                pass
        self.workdir = os.path.abspath("automl_iterations")
        os.makedirs(self.workdir, exist_ok=True)

    # ----- data --------------------------------------------------------------------------
    def load_data(self):
        s, files = self.s, self.s.get("data_files") or {}
        names = None
        X_valid = y_valid = None
        # Tabular data (CSV / TabularDataset): the engine featurizes the raw table once; the
        # search runs on the engineered rows and every model carries the featurizer.
        self.table = self.table_state = self.explain_table = None
        self.table_rows = None
        if s.get("data_script"):
            d = _data.from_script(s["data_script"])
            X, y, names = d["X"], d["y"], d["feature_names"]
            X_valid, y_valid = d.get("X_valid"), d.get("y_valid")
        elif files.get("train"):
            X, y, names = _data.from_handover(files["train"])
        elif files.get("train_csv"):
            self.table = _data.read_table(files["train_csv"], s["label_column_name"], self.task)
            feat = _data.featurize(self.table, s["featurization"])
            self.table_state = feat["state"]
            X, y, names = _rows(feat["X"]), self.table.y, feat["names"]
            self.table_rows = list(range(len(X)))
        else:
            raise _data.DataError("the AutoML run has no training data")
        if files.get("valid"):
            X_valid, y_valid, _ = _data.from_handover(files["valid"])
        elif files.get("valid_csv"):
            vt = _data.read_table(files["valid_csv"], s["label_column_name"], self.task)
            try:
                X_valid = _rows(engine.transform_table(self.table_state, vt))
            except ValueError as e:
                raise _data.DataError("validation data: {}".format(e)) from None
            y_valid, self.explain_table = vt.y, vt
        _data.check(X, y, self.task)
        if X_valid is not None and y_valid is not None:
            _data.check(X_valid, y_valid, self.task, "validation data")
        self.X, self.y, self.names = X, y, names
        # X_valid without labels (the seed's form) is only what the explanation explains.
        self.X_explain = X_valid
        use_valid = X_valid is not None and y_valid is not None
        folds = s.get("n_cross_validations")
        if use_valid:
            folds = 0
        elif s.get("validation_size"):
            split = engine.splits(y, self.task, 0, s["validation_size"], s.get("seed", 0))
            train_idx, valid_idx = split[0][0], split[0][1]
            X_valid = [X[i] for i in valid_idx]
            y_valid = [y[i] for i in valid_idx]
            self.X = X = [X[i] for i in train_idx]
            self.y = y = [y[i] for i in train_idx]
            if self.table is not None:
                self.table_rows = [self.table_rows[i] for i in train_idx]
            use_valid, folds = True, 0
        elif not folds:
            folds = 10 if len(X) < 1000 else 3 if len(X) <= 20000 else 0
            if folds == 0:  # Azure: holdout of 10% above 20k rows
                return self._holdout(0.1)
        self.folds = folds
        self.X_valid, self.y_valid = (X_valid, y_valid) if use_valid else (None, None)
        self._share()

    def _holdout(self, size):
        self.s["validation_size"] = size
        self.s["n_cross_validations"] = None
        return self.load_data()

    def _share(self):
        try:
            import numpy as np
            X = np.ascontiguousarray(self.X, dtype=np.float64)
            Xv = None if self.X_valid is None else np.ascontiguousarray(self.X_valid,
                                                                        dtype=np.float64)
        except ImportError:
            X, Xv = self.X, self.X_valid
        _W.update(X=X, y=self.y, X_valid=Xv, y_valid=self.y_valid, task=self.task,
                  featurization=self.s["featurization"], folds=self.folds or 5,
                  threads=self.s["max_cores_per_iteration"], seed=self.s.get("seed", 0),
                  feature_names=self.names, table_state=self.table_state)
        self.Xarr = X

    # ----- budgets -----------------------------------------------------------------------
    def deadline(self):
        t = self.s.get("experiment_timeout_minutes")
        return self.start + t * 60.0 if t else None

    def past_deadline(self, need=0.0):
        """True when less than ``need`` seconds (plus ~2 s to finish the run) are left."""
        return self.deadline() is not None and \
            time.monotonic() + need + FINISH_SECONDS >= self.deadline()

    def better(self, a, b):
        return b is None or (a > b if self.higher else a < b)

    def exit_score_reached(self):
        e = self.s.get("experiment_exit_score")
        if e is None or self.best is None:
            return False
        return self.best["score"] >= e if self.higher else self.best["score"] <= e

    def early_stop(self):
        if not self.s.get("enable_early_stopping"):
            return False
        done = [r for r in self.results if r.get("score") is not None]
        if len(done) < 20:
            return False
        best_at = max(range(len(done)), key=lambda i: done[i]["score"] if self.higher
                      else -done[i]["score"])
        return len(done) - 1 - best_at >= 10

    # ----- one iteration -----------------------------------------------------------------
    def start_iteration(self, i, trial):
        learner, params, scaler, label = (trial["learner"], trial["params"], trial["scaler"],
                                          trial["label"])
        child = self.parent.child_run(name=label, run_id="{}_{}".format(self.parent.id, i))
        spec = {"learner": learner, "scaler": scaler, "params": params,
                "featurization": self.s["featurization"]}
        child.add_properties({"iteration": str(i), "pipeline": label,
                              "run_algorithm": learner, "run_preprocessor": scaler or "",
                              "pipeline_spec": json.dumps(spec, sort_keys=True),
                              "primary_metric": self.metric, **_where()})
        model_path = os.path.join(self.workdir, "model_{}.tyam".format(i))
        parent_conn, child_conn = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.get_context("fork").Process(
            target=_work, args=(child_conn, learner, params, scaler, model_path), daemon=True)
        proc.start()
        child_conn.close()
        return {"iteration": i, "trial": trial["id"], "learner": learner, "scaler": scaler,
                "params": params, "label": label, "child": child, "proc": proc,
                "conn": parent_conn, "model_path": model_path, "t0": time.monotonic(), "spec": spec}

    def finish_iteration(self, it, msg, status=None, error=None):
        seconds = time.monotonic() - it["t0"]
        it["seconds"] = seconds
        child = it["child"]
        if msg is not None and msg.get("ok"):
            scores = msg["scores"]
            score = scores.get(self.metric)
            if score is None or (isinstance(score, float) and math.isnan(score)):
                score = None
            it.update(predictions=msg["predictions"], rows=msg["rows"])
            self._record_success(it, score, scores, seconds)
            self.note_first_result(it, None)
        else:
            it["score"] = None
            reason = error or (msg or {}).get("error") or "the iteration's worker ended"
            child.add_properties({"score": "nan", "duration": _fmt_duration(seconds),
                                  "seconds": "{:.3f}".format(seconds)})
            if status == "Canceled":
                child.cancel() if child.get_status() not in ("Canceled",) else None
            else:
                child.fail(reason)
                if error is None:  # the worker's own error (not a timeout)
                    self.note_first_result(it, reason)
            log.info("iteration %s (%s): %s", it["iteration"], it["label"], reason)
        self.results.append(it)
        self.strategy.report(it["trial"], it["score"], seconds, failed=it["score"] is None)

    def _stop_at(self, deadline, reserve, it):
        """When a running iteration is stopped: at the search's stop (the reserve is for the
        ensembles and the explanation), except while no iteration has a model — then the
        reserve has no use, and the running iterations may finish until just before the
        experiment timeout (never without a model when one fits in the budget)."""
        if self.best is None:
            return deadline - FINISH_SECONDS - 0.5
        return deadline - reserve

    def note_first_result(self, it, error):
        """The outcome of a learner's first finished trial (an error, or None when it worked).
        Stopped iterations (timeouts, cancels) say nothing about the data and do not count."""
        if it["learner"] not in self.first_errors:
            self.first_errors[it["learner"]] = error

    def check_first_errors(self, running):
        """Fail the experiment at once when the first trial of every learner failed: the
        error is the data's or the environment's, not a learner's, and more trials would only
        repeat it (the issue's storm of hundreds of identical failed children)."""
        learners = self.strategy.learners
        if self.best is not None or not learners or \
                any(self.first_errors.get(m, "") is None for m in learners) or \
                not all(m in self.first_errors for m in learners):
            return
        for it in list(running):
            self.stop_worker(it)
            running.remove(it)
            self.finish_iteration(it, None, status="Canceled",
                                  error="stopped: every learner's first trial failed")
        raise FirstTrialsFailed(_common_error(self.first_errors))

    def stop_worker(self, it):
        if it["proc"].is_alive():
            it["proc"].kill()
        it["proc"].join(5)
        it["conn"].close()

    def canceled_children(self, running):
        """Iterations canceled by cancel_iteration (a Canceled child, or a parent tag)."""
        out = []
        for it in running:
            if time.monotonic() - it.get("checked", 0) < 1.0:
                continue
            it["checked"] = time.monotonic()
            try:
                if it["child"].get_status() in ("Canceled", "CancelRequested"):
                    out.append(it)
            except Exception:  # noqa: BLE001 - a status poll must not end the search
                pass
        return out

    def canceled_before_start(self, i):
        try:
            tags = self.parent._refresh().get("tags") or {}
        except Exception:  # noqa: BLE001
            return False
        return "cancel_iteration_{}".format(i) in tags

    # ----- the search --------------------------------------------------------------------
    def search(self):
        s = self.s
        known = [m for m in engine.learners(self.task)]
        allowed = s.get("allowed_models") or known
        learners = [m for m in allowed if m in known and m not in (s.get("blocked_models") or [])]
        if self.task == "classification" and s["featurization"] == "off":
            learners = [m for m in learners if m != "MultinomialNaiveBayes" or
                        all(v >= 0 for row in self.X for v in row)]
        if not learners:
            raise _data.DataError("no learner is left after blocked_models/allowed_models")
        # The engine's strategy with cost in seconds under every budget: an `iterations`
        # budget counts trials, but the strategy still prefers improvement per second, so the
        # experiment stays fast (P7; docs/AUTOML.md, "Search strategy").
        self.strategy = engine.Search(
            self.task, self.metric, allowed=learners, featurization=s["featurization"],
            seed=s.get("seed", 0), budget_in_iterations=False, rows=len(self.y),
            cols=len(self.X[0]) if len(self.X) else 0)
        self.first_errors = {}  # learner -> the error of its first trial (None: it worked)
        n_ens = (1 if s.get("enable_voting_ensemble") else 0) + \
            (1 if s.get("enable_stack_ensemble") else 0)
        total = s.get("iterations")
        search_its = max(1, total - n_ens) if total and total > n_ens + 1 else total
        per_it = (s.get("iteration_timeout_minutes") or 0) * 60.0
        deadline = self.deadline()
        # Leave time for the ensembles and the explanation inside the experiment timeout
        # (15%, 2.5 s to 60 s: a 10 s budget searched ~3 s with the former 4 s minimum).
        reserve = min(60.0, max(2.5, 0.15 * (deadline - self.start))) if deadline else 0.0
        running, next_i = [], 0
        self.in_loop = True
        while True:
            now = time.monotonic()
            stop = self.canceled or self.exit_score_reached() or self.early_stop() or \
                (deadline is not None and now >= deadline - reserve)
            while not stop and len(running) < s["max_concurrent_iterations"] and \
                    (search_its is None or next_i < search_its):
                # No trial starts whose expected seconds exceed the time left.
                left = deadline - reserve - time.monotonic() if deadline is not None else None
                trial = self.strategy.next(left)
                if trial is None:
                    break  # nothing fits in the time left: the running ones finish
                i = next_i
                next_i += 1
                if self.canceled_before_start(i):
                    self.strategy.report(trial["id"], None, 0.0, failed=True)
                    continue
                running.append(self.start_iteration(i, trial))
            if not running:
                break
            for it in list(running):
                msg = None
                if self.canceled:  # the run was canceled: its workers got SIGTERM too
                    self.stop_worker(it)
                    running.remove(it)
                    self.finish_iteration(it, None, status="Canceled",
                                          error="the AutoML run was canceled")
                    continue
                if it["conn"].poll(0.0):
                    try:
                        msg = it["conn"].recv()
                    except EOFError:
                        msg = {"ok": False, "error": "the iteration's worker ended "
                               "(exit code {})".format(it["proc"].exitcode)}
                elif not it["proc"].is_alive():
                    it["proc"].join(0.1)
                    if it["conn"].poll(0.0):
                        continue
                    msg = {"ok": False, "error": "the iteration's worker ended (exit code "
                           "{})".format(it["proc"].exitcode)}
                elapsed = time.monotonic() - it["t0"]
                if msg is not None:
                    self.stop_worker(it)
                    running.remove(it)
                    self.finish_iteration(it, msg)
                elif per_it and elapsed > per_it:
                    self.stop_worker(it)
                    running.remove(it)
                    self.finish_iteration(it, None, error="iteration_timeout_minutes ({:g}) "
                                          "reached: the iteration was stopped".format(
                                              per_it / 60))
                elif (deadline is not None and time.monotonic() >= self._stop_at(
                        deadline, reserve, it)) or self.canceled:
                    self.stop_worker(it)
                    running.remove(it)
                    self.finish_iteration(it, None, status="Canceled",
                                          error="experiment_timeout_minutes reached" if not
                                          self.canceled else "the AutoML run was canceled")
            for it in self.canceled_children(running):
                self.stop_worker(it)
                running.remove(it)
                self.finish_iteration(it, None, status="Canceled",
                                      error="canceled by cancel_iteration")
            self.check_first_errors(running)
            time.sleep(0.02)
        self.in_loop = False
        return next_i

    # ----- ensembles ---------------------------------------------------------------------
    def _ordered_predictions(self, it):
        n = len(self.y_valid) if self.y_valid is not None else len(self.y)
        out = [None] * n
        for r, p in zip(it["rows"], it["predictions"]):
            out[r] = p
        return out if all(p is not None for p in out) else None

    def ensembles(self, next_i):
        s = self.s
        if self.canceled or (self.deadline() and time.monotonic() >= self.deadline()):
            return
        done = [r for r in self.results if r.get("score") is not None and r.get("rows")]
        done.sort(key=lambda r: r["score"], reverse=self.higher)
        cands = []
        seen = set()
        for r in done:
            key = r["label"] + json.dumps(r["params"], sort_keys=True)
            if key not in seen:
                seen.add(key)
                cands.append(r)
            if len(cands) >= 8:
                break
        if len(cands) < 2:
            return
        y_true = self.y_valid if self.y_valid is not None else self.y
        # An ensemble's cost grows with its members' model files (read, the ensemble written,
        # uploaded to its child and to the parent) and their validation predictions: one that
        # is not expected to end before the experiment timeout is skipped (a 25,000-row
        # table's VotingEnsemble of 8 large tree models took 26 s past a 60 s budget).
        est = self._ensemble_seconds(cands)
        if self.past_deadline(est):
            log.info("ensembles skipped: about %.1f s needed, not left in the budget", est)
            return
        ens_started = time.monotonic()
        members = [engine.load(r["model_path"]) for r in cands]
        log.info("ensembles: %d members loaded in %.1f s (estimate %.1f s)", len(cands),
                 time.monotonic() - ens_started, est)
        if self.task == "classification":
            index = {c: k for k, c in enumerate(members[0].classes_)}
            y_enc = [index[engine._label_value(_label_text(v))] for v in y_true]
        else:
            y_enc = [float(v) for v in y_true]
        preds = [self._ordered_predictions(r) for r in cands]
        if any(p is None for p in preds):
            return
        y_range = 0.0
        if self.task == "regression":
            y_range = max(float(v) for v in self.y) - min(float(v) for v in self.y)
        if s.get("enable_voting_ensemble") and not self.past_deadline(
                est - (time.monotonic() - ens_started)):
            i = next_i
            next_i += 1
            t0 = time.monotonic()
            it = {"iteration": i, "learner": "VotingEnsemble", "scaler": "", "params": {},
                  "label": "VotingEnsemble", "t0": t0, "spec": {"ensemble": "voting"}}
            child = self.parent.child_run(name="VotingEnsemble",
                                          run_id="{}_{}".format(self.parent.id, i))
            it["child"] = child
            try:
                weights = engine.caruana_weights(preds, y_enc, self.task, self.metric, 15,
                                                 y_range)
                kept = [(m, w, r) for m, w, r in zip(members, weights, cands) if w > 0]
                model = engine.voting_ensemble([k[0] for k in kept], [k[1] for k in kept])
                blend = _blend(preds, weights)
                scores = self._blend_scores(y_enc, blend, y_range)
                it["model_path"] = os.path.join(self.workdir, "model_{}.tyam".format(i))
                model.save(it["model_path"])
                spec = {"ensemble": "voting", "members": [k[2]["iteration"] for k in kept],
                        "weights": [k[1] for k in kept]}
                child.add_properties({**_where(), "iteration": str(i),
                                      "pipeline": "VotingEnsemble",
                                      "run_algorithm": "VotingEnsemble",
                                      "pipeline_spec": json.dumps(spec),
                                      "primary_metric": self.metric,
                                      "ensembled_iterations": json.dumps(spec["members"]),
                                      "ensemble_weights": json.dumps(spec["weights"])})
                self.finish_iteration_direct(it, scores)
            except Exception as e:  # noqa: BLE001
                it["score"] = None
                it["seconds"] = time.monotonic() - t0
                child.add_properties({**_where(), "iteration": str(i),
                                      "pipeline": "VotingEnsemble",
                                      "score": "nan", "duration": _fmt_duration(it["seconds"])})
                child.fail("VotingEnsemble failed: {}".format(e))
                self.results.append(it)
        if s.get("enable_stack_ensemble") and len(cands) >= 2 and \
                not self.past_deadline(time.monotonic() - ens_started):
            i = next_i
            next_i += 1
            t0 = time.monotonic()
            it = {"iteration": i, "learner": "StackEnsemble", "scaler": "", "params": {},
                  "label": "StackEnsemble", "t0": t0, "spec": {"ensemble": "stack"}}
            child = self.parent.child_run(name="StackEnsemble",
                                          run_id="{}_{}".format(self.parent.id, i))
            it["child"] = child
            try:
                model = engine.stack_ensemble(members, preds, y_enc, s.get("seed", 0))
                # The stack's score: its meta learner cross-validated on the members'
                # out-of-fold outputs side by side.
                meta_X = [sum((p[row] for p in preds), []) for row in range(len(y_enc))]
                meta = "LogisticRegression" if self.task == "classification" else "ElasticNet"
                meta_params = None if self.task == "classification" else {"alpha": 1e-3}
                ev = engine.evaluate(meta_X, y_true, self.task, meta, meta_params, "", "auto",
                                     max(2, min(5, self.folds or 5)), 1, s.get("seed", 0))
                it["model_path"] = os.path.join(self.workdir, "model_{}.tyam".format(i))
                model.save(it["model_path"])
                spec = {"ensemble": "stack", "members": [r["iteration"] for r in cands],
                        "meta_learner": meta}
                child.add_properties({**_where(), "iteration": str(i),
                                      "pipeline": "StackEnsemble",
                                      "run_algorithm": "StackEnsemble",
                                      "pipeline_spec": json.dumps(spec),
                                      "primary_metric": self.metric,
                                      "ensembled_iterations": json.dumps(spec["members"])})
                self.finish_iteration_direct(it, ev["scores"])
            except Exception as e:  # noqa: BLE001
                it["score"] = None
                it["seconds"] = time.monotonic() - t0
                child.add_properties({**_where(), "iteration": str(i),
                                      "pipeline": "StackEnsemble",
                                      "score": "nan", "duration": _fmt_duration(it["seconds"])})
                child.fail("StackEnsemble failed: {}".format(e))
                self.results.append(it)

    def _ensemble_seconds(self, cands):
        """Expected seconds of one ensemble step over `cands` (disk and upload at ~15 MB/s on
        a loaded machine, 3 us per prediction value handled in Python, Caruana selection's 15
        rounds over every candidate at 0.3 us per value, 1 s fixed)."""
        size = 0
        for r in cands:
            try:
                size += os.path.getsize(r["model_path"])
            except OSError:
                pass
        values = sum(len(r.get("predictions") or []) * len((r.get("predictions") or [[0]])[0])
                     for r in cands)
        return 1.0 + 4.0 * size / 15e6 + 3e-6 * values + 15 * 0.3e-6 * values

    def _scores(self, y_enc, blend, y_range):
        if self.task == "classification":
            return engine.classification_scores(y_enc, blend)
        return engine.regression_scores(y_enc, [row[0] for row in blend], y_range)

    def _blend_scores(self, y_enc, blend, y_range):
        """An ensemble's scores measured as a single pipeline's are: on explicit validation
        data over its rows; under cross-validation the mean over the folds of each fold's
        scores (one metric over all out-of-fold rows at once would favour the ensemble: r2 or
        AUC over pooled rows is not the mean of the folds' values)."""
        if self.y_valid is not None:
            return self._scores(y_enc, blend, y_range)
        folds = engine.splits(self.y, self.task, self.folds, 0, self.s.get("seed", 0))
        per = [self._scores([y_enc[r] for r in valid], [blend[r] for r in valid], y_range)
               for _, valid in folds]
        return {k: sum(p[k] for p in per) / len(per) for k in per[0]}

    def finish_iteration_direct(self, it, scores):
        seconds = time.monotonic() - it["t0"]
        it["seconds"] = seconds
        self._record_success(it, scores.get(self.metric), scores, seconds)
        self.results.append(it)

    def _record_success(self, it, score, scores, seconds):
        """A finished iteration: its metrics, model file and properties on its child run,
        the child completed, and the best iteration updated."""
        it.update(score=score, scores=scores)
        child = it["child"]
        for k, v in sorted(scores.items()):
            if isinstance(v, (int, float)) and not math.isnan(v):
                child.log(k, v)
        child.upload_file("outputs/" + MODEL_FILE, it["model_path"])
        child.add_properties({"score": repr(score), "duration": _fmt_duration(seconds),
                              "seconds": "{:.3f}".format(seconds)})
        child.complete()
        if score is not None and self.better(score, (self.best or {}).get("score")):
            self.best = it

    # ----- the best model and its explanation --------------------------------------------
    def explanation(self, model):
        n = len(self.X)
        exact = model.header.get("learner") in EXACT_EXPLAINERS
        # Sampling (permutation) SHAP costs a model evaluation per feature, sample and row:
        # a smaller background, fewer rows and 4 antithetic permutations keep it in seconds.
        nb = 100 if exact else 20
        step = max(1, n // nb)
        limit = 200 if exact else 20
        if self.table is not None and model.raw_columns is not None:
            # On the raw columns: the engine sums each raw column's engineered features.
            background = self.table.take([self.table_rows[i] for i in range(0, n, step)][:nb])
            target = self.explain_table if self.explain_table is not None else background
            target = target.take(range(min(limit, len(target))))
        else:
            background = [self.X[i] for i in range(0, n, step)][:nb]
            target = self.X_explain if self.X_explain is not None else background
            target = list(target)[:limit]
        r = model.explain(target, background=background, samples=0 if exact else 4)
        values = [v.tolist() if hasattr(v, "tolist") else v for v in r["values"]]
        features = r["features"] if model.raw_columns is not None else \
            self.names or model.feature_names or \
            ["feature_{}".format(j) for j in range(len(self.X[0]))]

        def mean_abs(mats):
            cols = len(features)
            tot = [0.0] * cols
            count = 0
            for m in mats:
                for row in m:
                    for j in range(cols):
                        tot[j] += abs(row[j])
                    count += 1
            return [t / max(1, count) for t in tot]

        overall = mean_abs(values)
        order = sorted(range(len(features)), key=lambda j: -overall[j])
        out = {"features": features, "method": r.get("method"), "output": r.get("output"),
               "classes": [str(c) for c in model.classes_] if self.task == "classification"
               else None,
               "shap_values": values, "expected_values": list(r["expected_values"]),
               "model_output": [[float(x) for x in m] for m in r.get("model_output", [])],
               "overall_summary": [overall[j] for j in order],
               "overall_imp": [features[j] for j in order]}
        if self.task == "classification":
            per_sum, per_imp = [], []
            for m in values:
                imp = mean_abs([m])
                o = sorted(range(len(features)), key=lambda j: -imp[j])
                per_sum.append([imp[j] for j in o])
                per_imp.append([features[j] for j in o])
            out["per_class_summary"], out["per_class_imp"] = per_sum, per_imp
        return out

    def finish(self):
        if self.best is None:
            errors = {k: v for k, v in getattr(self, "first_errors", {}).items() if v}
            if errors:
                raise RuntimeError("no iteration finished: no model to return; the iterations "
                                   "failed: " + _common_error(errors, every=False))
            raise RuntimeError("no iteration finished within the budget: no model to return "
                               "(raise experiment_timeout_minutes, or see the child runs)")
        b = self.best
        self.parent.upload_file("outputs/" + MODEL_FILE, b["model_path"])
        props = {"best_iteration": str(b["iteration"]), "best_run_id": b["child"].id,
                 "best_score": repr(b["score"]), "best_pipeline": b["label"],
                 "iterations_run": str(len(self.results))}
        if self.s.get("model_explainability"):
            try:
                model = engine.load(b["model_path"])
                exp = self.explanation(model)
                path = os.path.join(self.workdir, EXPLANATION_FILE)
                with open(path, "w") as f:
                    json.dump(exp, f)
                b["child"].upload_file("outputs/" + EXPLANATION_FILE, path)
                self.parent.upload_file("outputs/" + EXPLANATION_FILE, path)
                props["model_explanation"] = "True"
            except Exception as e:  # noqa: BLE001 - the model is still returned
                log.error("model explanation failed: %s", e)
                props["model_explanation_error"] = str(e)[:500]
        self.parent.add_properties(props)


class FirstTrialsFailed(RuntimeError):
    pass


def _common_error(errors, every=True):
    """One message for the learners' first-trial errors: the shared error once when they
    agree."""
    who = "every learner" if every else "the learners"
    by_text = {}
    for learner, e in sorted(errors.items()):
        by_text.setdefault(e, []).append(learner)
    if len(by_text) == 1:
        (text, names), = by_text.items()
        return "the first trial of {} ({}) failed with the same error: {}".format(
            who, ", ".join(names), text)
    return "the first trial of {} failed: ".format(who) + "; ".join(
        "{}: {}".format(", ".join(names), text) for text, names in
        sorted(by_text.items(), key=lambda kv: -len(kv[1])))


def _blend(preds, weights):
    """The weighted average of the members' validation predictions (rows x outputs)."""
    try:
        import numpy as np
        return (np.tensordot(np.asarray(weights, dtype=float),
                             np.asarray(preds, dtype=float), axes=1)).tolist()
    except ImportError:
        outs = len(preds[0][0])
        return [[sum(w * preds[j][row][c] for j, w in enumerate(weights))
                 for c in range(outs)] for row in range(len(preds[0]))]


def _label_text(v):
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def main(argv):
    settings_path = argv[1] if len(argv) > 1 else "automl_settings.json"
    with open(settings_path) as f:
        settings = json.load(f)
    os.makedirs("outputs", exist_ok=True)
    debug_log = os.path.basename(settings.get("debug_log") or "automl.log")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=[logging.StreamHandler(sys.stdout),
                                  logging.FileHandler(os.path.join("outputs", debug_log))])
    parent = Run.get_context(allow_offline=False)
    driver = Driver(settings, parent)

    def on_term(signum, frame):
        # Inside the search loop the flag is enough (it is polled every 20 ms and stops the
        # workers); elsewhere (data script, ensembles, explanation) stop right away.
        driver.canceled = True
        if not driver.in_loop:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        log.info("AutoML run %s: loading data", parent.id)
        driver.load_data()
        log.info("data: %d rows x %d columns; validation: %s", len(driver.X), len(driver.X[0]),
                 "X_valid" if driver.X_valid is not None else "{}-fold CV".format(driver.folds))
        next_i = driver.search()
        if driver.canceled:
            raise KeyboardInterrupt
        driver.ensembles(next_i)
        driver.finish()
        log.info("best: iteration %s %s %s=%s", driver.best["iteration"], driver.best["label"],
                 driver.metric, driver.best["score"])
    except KeyboardInterrupt:
        driver.canceled = True
        _cancel_open_children(parent)
        sys.exit(143)
    except Exception:
        # The agent takes the run's error message from the traceback's last line.
        traceback.print_exc()
        sys.stderr.flush()
        _cancel_open_children(parent)
        sys.exit(1)


def _cancel_open_children(parent):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the cleanup; SIGKILL still ends it
    try:
        for child in parent.get_children():
            if child.get_status() in ("Running", "Queued", "NotStarted", "Starting"):
                child.cancel()
    except Exception:  # noqa: BLE001
        pass
    for p in multiprocessing.active_children():
        p.kill()


if __name__ == "__main__":
    main(sys.argv)
