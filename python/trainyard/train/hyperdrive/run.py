"""``HyperDriveRun`` and ``PrimaryMetricGoal`` (``azureml.train.hyperdrive.run``).

A HyperDriveRun is the parent run of a sweep (kind ``hyperdrive``); the server samples,
launches and early-terminates its children. Child runs carry their hyperparameters in the tag
and property ``hyperparameters`` (JSON text) and, when a policy stopped them, the property
``early_termination_reason``.
"""

import json
import math
import sys
import time

from trainyard.core.run import Run
from trainyard.exceptions import ActivityFailedException

HYPERDRIVE_LOG = "azureml-logs/hyperdrive.txt"
_TERMINAL = ("Completed", "Failed", "Canceled")


class PrimaryMetricGoal:
    """Whether the primary metric is maximized or minimized."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


def _numbers(value):
    """The numeric values of a metric as get_metrics returns it (a value or a list)."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and math.isnan(v):
            continue
        out.append(float(v))
    return out


class HyperDriveRun(Run):
    """The parent run of a HyperDrive sweep."""

    HYPER_PARAMETERS_TAG = "hyperparameters"

    def _metric_config(self):
        raw = self.properties.get("primary_metric_config")
        if not raw:
            raw = self._refresh().get("properties", {}).get("primary_metric_config", "{}")
        config = json.loads(raw)
        return config.get("name"), config.get("goal", "maximize").lower() == "maximize"

    @property
    def hyperdrive_config(self):
        """The sweep's settings as the server stores them."""
        return (self._run_dto.get("definition") or {}).get("hyperdrive")

    def _child_metrics(self, name):
        """child id -> list of numeric values of metric ``name`` (one request)."""
        answer = self._client.get(self._path + "/metrics",
                                  params={"recursive": "true", "name": name})
        metrics = answer.get("metrics", {})
        metrics.pop(self._id, None)
        return {run_id: _numbers(m.get(name)) if name in m else []
                for run_id, m in metrics.items()}

    def _resume_from_runs(self):
        """The HyperDrive runs this one was warm-started from (``resume_from``)."""
        raw = self.properties.get("resume_from") or "[]"
        from trainyard.core.run import Run
        return [Run.get(self._experiment.workspace, run_id) for run_id in json.loads(raw)]

    def _scored_children(self, include_failed=True, include_canceled=True,
                         include_resume_from_runs=False):
        name, maximize = self._metric_config()
        values = self._child_metrics(name)
        children = list(self.get_children())
        if include_resume_from_runs:
            for previous in self._resume_from_runs():
                values.update(HyperDriveRun._child_metrics(previous, name))
                children.extend(previous.get_children())
        scored = []
        for child in children:
            if child.status == "Failed" and not include_failed:
                continue
            if child.status == "Canceled" and not include_canceled:
                continue
            series = values.get(child.id) or []
            best = (max(series) if maximize else min(series)) if series else None
            scored.append((child, best))
        return scored, maximize

    def get_best_run_by_primary_metric(self, include_failed=True, include_canceled=True,
                                       include_resume_from_runs=False):
        """The child with the best value of the primary metric (each child's best logged
        value counts), or None when no child logged it. ``include_resume_from_runs`` also
        considers the children of the runs given as ``resume_from``."""
        scored, maximize = self._scored_children(include_failed, include_canceled,
                                                 include_resume_from_runs)
        scored = [(c, v) for c, v in scored if v is not None]
        if not scored:
            return None
        pick = max if maximize else min
        return pick(scored, key=lambda cv: cv[1])[0]

    def get_children_sorted_by_primary_metric(self, top=0, reverse=False,
                                              discard_no_metric=False):
        """``[{'run_id', 'hyperparameters', 'best_primary_metric', 'status'}]``, best first
        (``reverse`` for worst first); children without the metric come last, or are left
        out with ``discard_no_metric``. ``top`` > 0 keeps that many."""
        scored, maximize = self._scored_children()
        with_metric = [(c, v) for c, v in scored if v is not None]
        with_metric.sort(key=lambda cv: cv[1], reverse=maximize)
        if reverse:
            with_metric.reverse()
        rows = with_metric + ([] if discard_no_metric else
                              [(c, v) for c, v in scored if v is None])
        out = [{"run_id": c.id, "hyperparameters": c.tags.get(self.HYPER_PARAMETERS_TAG),
                "best_primary_metric": v, "status": c.status} for c, v in rows]
        return out[:top] if top and top > 0 else out

    def get_hyperparameters(self):
        """child run id -> its hyperparameters (JSON text, as Azure)."""
        return {c.id: c.tags.get(self.HYPER_PARAMETERS_TAG) for c in self.get_children()}

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """child run id -> that child's metrics (Azure: the metrics of every child run)."""
        params = {"recursive": "true", "name": name}
        answer = self._client.get(self._path + "/metrics", params=params)
        metrics = answer.get("metrics", {})
        metrics.pop(self._id, None)
        return metrics

    def cancel(self):
        """Cancels the sweep: no more children start and the running ones are canceled."""
        super().cancel()
        return True

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        """Waits for the sweep to finish. With ``show_output`` the sweep's log and a live
        table of its children (status, best primary metric, hyperparameters) are printed as
        they change."""
        if not show_output:
            dto = self._wait({"NotStarted", "Queued", "Preparing", "Starting", "Running",
                              "CancelRequested", "Finalizing", "Provisioning"})
        else:
            dto = self._show_progress(sys.stdout)
        if dto["status"] == "Failed" and raise_on_error:
            error = (dto.get("error") or {}).get("message") or "HyperDrive run failed"
            raise ActivityFailedException(error_details=json.dumps(
                {"error": {"message": error}}, indent=4))
        from trainyard.core.run import _details_from_dto
        return _details_from_dto(dto)

    def _show_progress(self, out):
        dto = self._refresh()
        out.write("RunId: {}\nWeb View: {}\n\nStreaming {}\n{}\n\n".format(
            self._id, dto.get("portal_url"), HYPERDRIVE_LOG, "=" * (len(HYPERDRIVE_LOG) + 10)))
        out.flush()
        name, maximize = self._metric_config()
        shown = {}
        offset = 0
        header = False
        while True:
            chunk = self._read_log(HYPERDRIVE_LOG, offset, 1000)
            if chunk and chunk[0]:
                out.write(chunk[0].decode("utf-8", "replace"))
                offset += len(chunk[0])
            dto = self._refresh()
            values = self._child_metrics(name)
            rows = []
            for child in sorted(self.get_children(), key=lambda c: c.number or 0):
                series = values.get(child.id) or []
                best = (max(series) if maximize else min(series)) if series else None
                row = (child.status, best)
                if shown.get(child.id) != row:
                    shown[child.id] = row
                    rows.append((child, best))
            if rows:
                if not header:
                    out.write("\n{:<40} {:<16} {:>12}  {}\n".format(
                        "CHILD RUN", "STATUS", name[:12], "HYPERPARAMETERS"))
                    header = True
                for child, best in rows:
                    out.write("{:<40} {:<16} {:>12}  {}\n".format(
                        child.id, child.status,
                        "" if best is None else "{:.6g}".format(best),
                        child.tags.get(self.HYPER_PARAMETERS_TAG, "")))
            out.flush()
            if dto["status"] in _TERMINAL:
                chunk = self._read_log(HYPERDRIVE_LOG, offset, 0)
                if chunk and chunk[0]:
                    out.write(chunk[0].decode("utf-8", "replace"))
                break
            if not chunk:
                time.sleep(1.0)  # the log does not exist yet
        best = self.get_best_run_by_primary_metric()
        out.write("\nExecution Summary\n=================\nRunId: {}\nStatus: {}\n".format(
            self._id, dto["status"]))
        if best is not None:
            out.write("Best child run: {} {}\n".format(
                best.id, best.tags.get(self.HYPER_PARAMETERS_TAG, "")))
        out.write("\n")
        out.flush()
        return dto
