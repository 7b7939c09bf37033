"""``trainyard.widgets`` (``azureml.widgets``): ``RunDetails(run).show()``.

- In Jupyter (IPython importable and a kernel running): a live HTML view of the run in the
  cell's output (status, latest metrics, child runs; the AutoML leaderboard or the HyperDrive
  children), updated in place from a background thread until the run ends, with a one-time
  login link that opens the run's page in the studio. ``show(iframe=True)`` embeds the studio's
  run page instead (the browser must reach the server, same site as the notebook for the
  session cookie).
- Elsewhere (a terminal): a live text table. AutoML parents print the AutoML table, HyperDrive
  parents the sweep's table (the same code as ``wait_for_completion(show_output=True)``); other
  runs print a line whenever their status or a latest metric value changes.

Standard library only; IPython is used when present.
"""

import html
import json
import sys
import threading
import time

_TERMINAL = {"Completed", "Failed", "Canceled"}


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _fmt(v):
    if isinstance(v, float):
        return "{:.6g}".format(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v)[:40]
    return str(v)


class RunDetails:
    """Shows a run live: ``RunDetails(run).show()`` (Azure's ``azureml.widgets.RunDetails``)."""

    def __init__(self, run_instance):
        if run_instance is None or not hasattr(run_instance, "_run_dto"):
            raise TypeError("RunDetails needs a Run (from Experiment.submit, Run.get, ...), "
                            "got {!r}".format(run_instance))
        self._run = run_instance
        self._thread = None
        self._stop = threading.Event()

    # ----- data ----------------------------------------------------------------------------
    def _client(self):
        return self._run._client

    def get_widget_data(self):
        """What the widget shows, as a dict: ``{"run": {id, status, ...}, "metrics": {name:
        latest value}, "children": [{id, status, metrics, properties, tags}], "portal_url"}``."""
        from trainyard._http import quote_path
        dto = self._run._refresh()
        client = self._client()
        base = "/api/v1/runs/{}".format(quote_path(self._run.id))
        kids = client.get(base + "/children", params={"view": "summary",
                                                      "latest_metrics": "true",
                                                      "page_size": 1000}).get("runs", [])
        metrics = {}
        for name, value in client.get(base + "/metrics").get("metrics", {}).items():
            metrics[name] = value[-1] if isinstance(value, list) and value and \
                not isinstance(value[-1], (list, dict)) else value
        return {"run": {k: dto.get(k) for k in ("id", "number", "experiment", "kind",
                                                "status", "display_name", "start_time_utc",
                                                "end_time_utc", "error")},
                "metrics": metrics, "children": kids, "portal_url": dto.get("portal_url")}

    def login_url(self):
        """A one-time link that logs a browser into the studio and opens this run's page
        (needs the workspace token; a run token gets the plain portal URL)."""
        from trainyard._http import quote_path
        try:
            answer = self._client().post("/api/v1/studio/login-links",
                                         {"next": "/runs/" + quote_path(self._run.id)})
            return answer["url"]
        except Exception:  # noqa: BLE001 - a run token may not mint links: the plain URL
            return self._run.get_portal_url()

    # ----- display -------------------------------------------------------------------------
    def show(self, out=None, poll_seconds=1.0, iframe=False, height=800):
        """Shows the run: live HTML in Jupyter (a background thread updates it until the run
        ends), else a live text table on ``out`` (stdout) that returns when the run ends."""
        if out is None and _in_notebook():
            return self._show_notebook(poll_seconds, iframe, height)
        return self._show_terminal(out or sys.stdout, poll_seconds)

    def _show_notebook(self, poll_seconds, iframe, height):
        from IPython.display import HTML, IFrame, display
        url = self.login_url()
        if iframe:
            display(IFrame(url, width="100%", height=height))
            return None
        handle = display(HTML(self._html(self.get_widget_data(), url)), display_id=True)

        def loop():
            while not self._stop.is_set():
                data = self.get_widget_data()
                handle.update(HTML(self._html(data, url)))
                if data["run"]["status"] in _TERMINAL:
                    return
                self._stop.wait(poll_seconds)

        self._thread = threading.Thread(target=loop, name="RunDetails", daemon=True)
        self._thread.start()
        return None

    def stop(self):
        """Stops the live updates of a notebook view."""
        self._stop.set()

    @staticmethod
    def _html(data, url):
        e = html.escape
        run = data["run"]
        rows = "".join("<tr><th style='text-align:left'>{}</th><td>{}</td></tr>".format(
            e(k), e(_fmt(v))) for k, v in sorted(data["metrics"].items())
            if not isinstance(v, dict))
        kids = data["children"]
        names = sorted({n for c in kids for n in (c.get("metrics") or {})})[:8]
        child_rows = "".join(
            "<tr><td>{}</td><td>{}</td>{}</tr>".format(
                e(c.get("display_name") or c["id"]), e(c.get("status", "")),
                "".join("<td>{}</td>".format(e(_fmt((c.get("metrics") or {}).get(n, ""))))
                        for n in names))
            for c in kids)
        children = ("<h4>Child runs</h4><table><tr><th>Run</th><th>Status</th>{}</tr>{}</table>"
                    .format("".join("<th>{}</th>".format(e(n)) for n in names), child_rows)
                    if kids else "")
        return ("<div class='trainyard-run-details'><b>Run {} ({})</b>: <b>{}</b> "
                "&middot; <a href='{}' target='_blank' rel='noopener'>open in the studio</a>"
                "<table>{}</table>{}</div>").format(
                    e(str(run.get("number"))), e(run["id"]), e(run["status"] or ""), e(url),
                    rows, children)

    def _show_terminal(self, out, poll_seconds):
        kind = self._run._run_dto.get("kind")
        from trainyard.core.run import Run
        if kind == "automl" or kind == "hyperdrive":
            run = self._run
            if type(run) is Run:  # a plain Run of a parent: its kind's class has the table
                run = Run._rehydrate(run.experiment, run._run_dto)
            if kind == "automl":
                run._show_live_table(out=out, poll_seconds=poll_seconds)
            else:
                run._show_progress(out)
            return None
        out.write("RunId: {}\nWeb View: {}\n\n{:<24} {:<16} {}\n".format(
            self._run.id, self._run.get_portal_url(), "TIME", "STATUS", "METRICS"))
        out.flush()
        shown = None
        while True:
            data = self.get_widget_data()
            status = data["run"]["status"]
            metrics = {k: v for k, v in data["metrics"].items() if not isinstance(v, dict)}
            kids = {c["id"]: c.get("status") for c in data["children"]}
            state = (status, json.dumps(metrics, sort_keys=True, default=str),
                     json.dumps(kids, sort_keys=True))
            if state != shown:
                shown = state
                out.write("{:<24} {:<16} {}\n".format(
                    time.strftime("%Y-%m-%d %H:%M:%S"), status,
                    ", ".join("{}={}".format(k, _fmt(v)) for k, v in sorted(metrics.items()))))
                for c in data["children"]:
                    out.write("  child {:<40} {:<12} {}\n".format(
                        c["id"], c.get("status", ""), ", ".join(
                            "{}={}".format(k, _fmt(v))
                            for k, v in sorted((c.get("metrics") or {}).items()))))
                out.flush()
            if status in _TERMINAL:
                if status == "Failed":
                    err = data["run"].get("error") or {}
                    out.write("Run failed: {}\n".format(err.get("message", err)))
                out.flush()
                return None
            time.sleep(poll_seconds)


__all__ = ["RunDetails"]
