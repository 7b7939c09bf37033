"""P13-P15 (issue 16): the studio in Debian's chromium (Playwright), Trainyard's side.

- P13: a run with 10 scalar metrics x N points each (default 1,000,000): time from navigation
  start (Performance API, performance.now()) until all 10 charts are drawn. Goal <= 1 s.
- P14: an experiment with R runs (default 100,000): time until the first rows of the runs table
  are shown (from navigation start), then a server-side sort by a metric (click on the column
  header until the re-sorted rows are shown). Goals <= 500 ms and <= 300 ms.
- P15: a point logged on an open run page: time from just before `run.log()` (+ `flush()`) to
  the chart showing it (median and max of 20). Goal <= 1 s.

The data is written by `trainyard debug-seed-runs` (the store's own batch insert) before the
server starts. MLflow UI's side of P13/P14 (same data in `mlflow ui`) is NOT measured here.

    python3 bench/p13_p15_studio.py [--runs 100000] [--points 1000000] [--repeat 3]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python"))

import benchlib  # noqa: E402

CHROMIUM = os.environ.get("TRAINYARD_CHROMIUM") or shutil.which("chromium")


def login(page, srv, next_path):
    import json
    import urllib.request
    req = urllib.request.Request(srv.url + "/api/v1/studio/login-links",
                                 data=json.dumps({"next": next_path}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + srv.token,
                                          "Content-Type": "application/json"})
    url = json.loads(urllib.request.urlopen(req).read())["url"]
    page.goto(url)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--points", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not CHROMIUM:
        sys.exit("no chromium (apt install chromium)")
    from playwright.sync_api import sync_playwright

    srv = benchlib.TrainyardServer()
    # Seed before the server opens the store.
    data = srv.data_dir
    t0 = time.time()
    subprocess.run([benchlib.trainyard_bin(), "debug-seed-runs", "--data", str(data),
                    "--experiment", "big", "--runs", str(args.runs), "--series", "10",
                    "--series-points", str(args.points)], check=True, stdout=subprocess.DEVNULL)
    print("seeded %d runs and 10 x %d points in %.1f s" % (args.runs, args.points,
                                                          time.time() - t0), flush=True)
    with srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        # bypass_csp: wait_for_function evaluates its predicate string, which the page CSP forbids.
        page = browser.new_page(viewport={"width": 1300, "height": 900}, bypass_csp=True)
        login(page, srv, "/")
        page.wait_for_selector("text=Experiments")

        # P13
        # Times are the app's own performance marks (web/src: "studio:chart:<name>" when a
        # chart is drawn, "studio:rows" when the table's rows are shown), from navigation
        # start: the harness's round trips are not counted.
        def marks(prefix):
            return page.evaluate("(p) => performance.getEntriesByType('mark').filter(m => "
                                 "m.name.startsWith(p)).map(m => m.startTime)", prefix)

        p13 = []
        for _ in range(args.repeat):
            page.goto(srv.url + "/runs/big_series")
            page.wait_for_function(
                "document.querySelectorAll('figure.chart[data-count=\"%d\"] canvas').length"
                " >= 10" % args.points, timeout=60000)
            p13.append(max(marks("studio:chart:")))
        # P14
        first, sort = [], []
        for _ in range(args.repeat):
            page.goto(srv.url + "/experiments/big?columns=metrics.acc")
            page.wait_for_selector("table.runs tbody tr", timeout=60000)
            first.append(marks("studio:rows")[0])
            t = page.evaluate("() => { const t = performance.now(); "
                              "[...document.querySelectorAll('button.sort')].find(b => "
                              "b.textContent.startsWith('metrics.acc')).click(); return t; }")
            page.wait_for_function(
                "document.querySelector('th[aria-sort=descending]') && document.querySelector("
                "'table.runs tbody tr td.num').textContent.startsWith('0.99')", timeout=60000)
            sort.append(marks("studio:rows")[-1] - t)
        # P15
        from trainyard.core import Experiment
        run = Experiment(srv.workspace(), "live").start_logging()
        run.log("x", 0.0)
        run.flush()
        page.goto(srv.url + "/runs/" + run.id)
        page.wait_for_selector("figure.chart[data-metric=x][data-count='1']")
        lat = []
        for i in range(2, 22):
            # The page's clock just before run.log() (+ flush, so it is sent now), then the
            # chart's mark: conservative by the round trip of this evaluate.
            t = page.evaluate("performance.now()")
            run.log("x", float(i))
            run.flush()
            page.wait_for_selector("figure.chart[data-metric=x][data-count='%d']" % i,
                                   timeout=10000)
            lat.append(marks("studio:chart:x")[-1] - t)
        run.complete()
        browser.close()

    m13, m14a, m14b = statistics.median(p13), statistics.median(first), statistics.median(sort)
    print("machine:", benchlib.machine())
    benchlib.result_line("P13", "10 charts x %d points drawn %.0f ms after navigation (median "
                         "of %d: %s)" % (args.points, m13, args.repeat,
                                         ", ".join("%.0f" % x for x in p13)),
                         "n/a (MLflow UI not measured)", "<= 1000 ms", m13 <= 1000)
    benchlib.result_line("P14", "%d runs: first rows %.0f ms, sort by metric %.0f ms (medians "
                         "of %d)" % (args.runs, m14a, m14b, args.repeat),
                         "n/a (MLflow UI not measured)", "<= 500 ms / <= 300 ms",
                         m14a <= 500 and m14b <= 300)
    benchlib.result_line("P15", "logged point on an open page after %.0f ms median, %.0f ms max "
                         "(20 points)" % (statistics.median(lat), max(lat)), "n/a",
                         "<= 1000 ms", max(lat) <= 1000)


if __name__ == "__main__":
    main()
