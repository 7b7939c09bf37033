"""``AutoMLRun`` (``azureml.train.automl.run.AutoMLRun``): the parent run of an AutoML
experiment; its children are the iterations."""

import math
import os
import re
import sys
import tempfile
import time

from trainyard.core.run import Run
from trainyard.exceptions import UserErrorException

MODEL_FILE = "outputs/model.tyam"
_TERMINAL = {"Completed", "Failed", "Canceled"}
_MINIMIZED = ("normalized_root_mean_squared_error", "normalized_mean_absolute_error",
              "log_loss", "root_mean_squared_error", "mean_absolute_error")

HEADER = (
    "*" * 95 + "\n"
    "ITERATION: The iteration being evaluated.\n"
    "PIPELINE:  A summary description of the pipeline being evaluated.\n"
    "DURATION: Time taken for the current iteration.\n"
    "METRIC: The result of computing score on the fitted pipeline.\n"
    "BEST: The best observed score thus far.\n" + "*" * 95 + "\n\n"
    " ITERATION     PIPELINE                               DURATION                METRIC"
    "      BEST\n")


def format_row(iteration, pipeline, duration, metric, best):
    def num(v):
        return "   nan" if v is None or (isinstance(v, float) and math.isnan(v)) \
            else "{:.3f}".format(v)
    return "{:>10}      {:<38}{:<7}{:>23}{:>10}\n".format(iteration, pipeline[:37], duration,
                                                        num(metric), num(best))


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class AutoMLRun(Run):
    """An AutoML parent run."""

    def _children_by_iteration(self):
        out = {}
        for child in self.get_children():
            it = child.properties.get("iteration")
            if it is not None and it.isdigit():
                out[int(it)] = child
        return out

    @property
    def primary_metric(self):
        return self.properties.get("primary_metric")

    def _higher(self, metric):
        return metric not in _MINIMIZED

    # ----- live output -------------------------------------------------------------------
    def _show_live_table(self, out=None, poll_seconds=0.5):
        out = out or sys.stdout
        target = self._run_dto.get("compute_target") or "local"
        out.write("Running on {} compute: {}\nParent Run ID: {}\n".format(
            "local" if target == "local" else "remote", target, self.id))
        out.write(HEADER)
        out.flush()
        shown = set()
        best = None
        higher = self._higher(self.primary_metric)
        while True:
            status = self._refresh()["status"]
            rows = []
            for child in self.get_children():
                if child.status not in _TERMINAL or child.id in shown:
                    continue
                props = child.properties
                if "duration" not in props:
                    continue
                shown.add(child.id)
                rows.append((child._run_dto.get("end_time_utc") or "", child, props))
            rows.sort(key=lambda r: r[0])
            for _, child, props in rows:
                score = _float(props.get("score"))
                if score is not None and math.isnan(score):
                    score = None
                if score is not None and (best is None or (score > best if higher
                                                           else score < best)):
                    best = score
                out.write(format_row(props.get("iteration", "?"), props.get("pipeline", ""),
                                     props.get("duration", ""), score, best))
            out.flush()
            if status in _TERMINAL:
                break
            time.sleep(poll_seconds)
        if status == "Failed":
            err = (self._run_dto.get("error") or {})
            out.write("\nAutoML run failed: {}\n".format(err.get("message", err)))
        elif status == "Canceled":
            out.write("\nAutoML run canceled.\n")
        out.flush()

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        if show_output:
            self._show_live_table()
            show_output = False
        return super().wait_for_completion(show_output=False,
                                           wait_post_processing=wait_post_processing,
                                           raise_on_error=raise_on_error)

    # ----- results -----------------------------------------------------------------------
    def _pick(self, metric=None, iteration=None):
        if iteration is not None:
            if isinstance(iteration, bool) or not isinstance(iteration, int):
                raise UserErrorException("iteration must be an integer, got {!r}".format(
                    iteration))
            child = self._children_by_iteration().get(iteration)
            if child is None:
                raise UserErrorException("run {} has no iteration {}".format(self.id,
                                                                             iteration))
            if child.status != "Completed":
                raise UserErrorException("iteration {} did not complete (status {}): it has "
                                         "no model".format(iteration, child.status))
            return child
        children = [c for c in self.get_children() if c.status == "Completed" and
                    c.properties.get("iteration") is not None]
        if not children:
            raise UserErrorException("run {} has no completed iteration yet (status {})".format(
                self.id, self.get_status()))
        metric = metric or self.primary_metric
        higher = self._higher(metric)
        scored = []
        for c in children:
            if metric == self.primary_metric:
                v = _float(c.properties.get("score"))
            else:
                v = c.get_metrics().get(metric)
                v = _float(v[-1] if isinstance(v, list) else v)
            if v is not None and not math.isnan(v):
                scored.append((v, -int(c.properties["iteration"]), c))
        if not scored:
            raise UserErrorException("no completed iteration has metric {!r}".format(metric))
        scored.sort(key=lambda t: (t[0] if higher else -t[0], t[1]), reverse=True)
        return scored[0][2]

    def get_best_child(self, metric=None, onnx_compatible=False, **kwargs):
        return self._pick(metric=metric)

    def get_output(self, metric=None, iteration=None, return_onnx_model=False):
        """(best_run, fitted_model): the best iteration by the primary metric (or by
        ``metric``), or iteration ``iteration``, and its model loaded through the engine
        binding (``predict`` / ``predict_proba``)."""
        if self.get_status() not in _TERMINAL and iteration is None:
            self.wait_for_completion(raise_on_error=False)
        child = self._pick(metric=metric, iteration=iteration)
        return child, _load_model(child)

    def cancel_iteration(self, iteration):
        """Cancels iteration ``iteration``: a running one is stopped, one not started yet is
        skipped."""
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise UserErrorException("iteration must be a non-negative integer")
        child = self._children_by_iteration().get(iteration)
        if child is None:
            self.tag("cancel_iteration_{}".format(iteration), "true")
            return
        if child.status in _TERMINAL:
            raise UserErrorException("iteration {} already ended ({})".format(iteration,
                                                                             child.status))
        child.cancel()

    def summary(self):
        """Per algorithm: (algorithm, iterations, best score), best first; also printed."""
        rows = {}
        higher = self._higher(self.primary_metric)
        for c in self.get_children():
            algo = c.properties.get("run_algorithm") or c.properties.get("pipeline", "?")
            score = _float(c.properties.get("score"))
            n, best = rows.get(algo, (0, None))
            if score is not None and not math.isnan(score) and \
                    (best is None or (score > best if higher else score < best)):
                best = score
            rows[algo] = (n + 1, best)
        table = sorted(((a, n, b) for a, (n, b) in rows.items()),
                       key=lambda r: (r[2] is None, -(r[2] or 0) if higher else (r[2] or 0)))
        return table

    def register_model(self, model_name=None, description=None, tags=None, iteration=None,
                       metric=None, **kwargs):
        """Registers the best iteration's model (or ``iteration``'s / best by ``metric``)."""
        child = self._pick(metric=metric, iteration=iteration)
        if model_name is None:
            model_name = re.sub(r"[^A-Za-z0-9_.-]", "", "AutoML" + self.id.replace("_", ""))[:32]
        props = {"iteration": child.properties.get("iteration"),
                 "pipeline": child.properties.get("pipeline", ""),
                 "score": child.properties.get("score", ""),
                 "primary_metric": self.primary_metric or ""}
        model = child.register_model(model_name, model_path=MODEL_FILE, tags=tags,
                                     properties=props, description=description,
                                     model_framework="TrainyardAutoML")
        self.model_id = model.id
        return model


def _load_model(child):
    from trainyard import _automl as engine
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.tyam")
        child.download_file(MODEL_FILE, path)
        return engine.load(path)
