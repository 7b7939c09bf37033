"""Run history at scale (issue 20): a workspace seeded with 100,000 runs through the store
itself (`trainyard debug-seed-runs`, before the server starts) and a run with a 200,000-point
series; paging with a cursor while runs are added, filter and order semantics, lazy SDK
iteration, downsampling that keeps extremes, the 400s, and the CLI."""
import json
import subprocess
import threading
import time

import pytest

from e2e_util import Server, http, trainyard_bin

N = 100_000
SERIES_POINTS = 200_000
ALGOS = ["svm", "tree", "linear"]


def acc_of(i):
    return (i * 7919 % 100003) / 100003.0


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    data = root / ".trainyard"
    t0 = time.time()
    for args in (["--experiment", "big", "--runs", str(N)],
                 ["--experiment", "series", "--runs", "0", "--series-points",
                  str(SERIES_POINTS), "--series", "2"]):
        subprocess.run([trainyard_bin(), "debug-seed-runs", "--data", str(data)] + args,
                       check=True, capture_output=True, timeout=300)
    seed_seconds = time.time() - t0
    srv = Server(root).start()
    srv.seed_seconds = seed_seconds
    yield srv
    srv.stop()


def get(srv, path, **params):
    from urllib.parse import urlencode
    q = ("?" + urlencode(params, doseq=True)) if params else ""
    status, _, body = http("GET", srv.url + "/api/v1" + path + q, token=srv.token, timeout=120)
    return status, json.loads(body)


def test_seeding_is_fast_and_numbers_come_from_the_counter(big):
    # Seeding goes through the store (runs in batches of 5,000, metrics batched).
    print("seeded %d runs + %d points in %.1f s" % (N, 2 * SERIES_POINTS, big.seed_seconds))
    ws = big.workspace()
    from trainyard.core import Experiment
    run = Experiment(ws, "big").start_logging()
    assert run.number == N + 1
    run.complete()


def test_paging_has_no_gaps_or_repeats_while_runs_are_added(big):
    status, first = get(big, "/experiments/big/runs", page_size=5, count="true")
    assert status == 200
    assert first["total"] >= N
    newest = [r["id"] for r in first["runs"]]
    stop = threading.Event()
    added = []

    def writer():
        from trainyard.core import Experiment
        exp = Experiment(big.workspace(), "big")
        while not stop.is_set():
            r = exp.start_logging()
            added.append(r.id)
            r.complete()

    t = threading.Thread(target=writer)
    t.start()
    try:
        ids = []
        status, page = get(big, "/experiments/big/runs", page_size=5000)
        while True:
            assert status == 200, page
            ids.extend(r["id"] for r in page["runs"])
            if not page["next_cursor"]:
                break
            time.sleep(0.05)  # let the writer add runs between pages
            status, page = get(big, "/experiments/big/runs", page_size=5000,
                               cursor=page["next_cursor"])
    finally:
        stop.set()
        t.join()
    assert len(added) > 3, "the writer added no run while paging"
    assert len(ids) == len(set(ids))  # no repeats
    seeded = [i for i in ids if i.startswith("big_seed_")]
    assert seeded == ["big_seed_%d" % i for i in range(N - 1, -1, -1)]  # newest first, no gap
    # Runs added while paging sort before the cursor: none shows up on a later page.
    assert not set(added) & set(ids[5000:])
    assert not set(added) & set(newest)


def test_filter_and_order_by_metric_on_the_server(big):
    want = sorted((i for i in range(N) if acc_of(i) > 0.995 and ALGOS[i % 3] == "svm"),
                  key=acc_of, reverse=True)
    status, page = get(big, "/experiments/big/runs", page_size=100, count="true",
                       latest_metrics="true",
                       filter="metrics.acc > 0.995 and params.algo = 'svm'",
                       order_by="metrics.acc DESC")
    assert status == 200, page
    assert page["total"] == len(want)
    assert [r["id"] for r in page["runs"]] == ["big_seed_%d" % i for i in want[:100]]
    assert page["runs"][0]["metrics"]["acc"] == pytest.approx(acc_of(want[0]))
    # Tags, statuses, numbers and times.
    status, page = get(big, "/experiments/big/runs", page_size=1, count="true",
                       filter="tags.team = 'blue' and attributes.status = 'Failed'")
    assert page["total"] == 0  # Failed runs are i % 10 == 0: even, so team red
    status, page = get(big, "/experiments/big/runs", page_size=1, count="true",
                       filter="tags.split = '3' and status != 'Failed' and number <= 1000")
    assert page["total"] == sum(1 for i in range(1000) if i % 5 == 3 and i % 10 != 0)
    status, page = get(big, "/experiments/big/runs", page_size=3,
                       order_by="params.depth DESC, attributes.created ASC")
    assert [r["id"] for r in page["runs"]] == ["big_seed_6", "big_seed_13", "big_seed_20"]


def test_sdk_iterates_lazily_and_takes_the_query_keywords(big):
    ws = big.workspace()
    from trainyard.core import Experiment
    exp = Experiment(ws, "big", _create_in_cloud=False)
    calls = []
    real_get = ws._client.get

    def counting_get(path, params=None, timeout=None):
        calls.append((path, dict(params or {})))
        return real_get(path, params=params, timeout=timeout)

    ws._client.get = counting_get
    try:
        runs = exp.get_runs()
        first = next(runs)
        assert len(calls) == 1 and calls[0][1]["page_size"] == 100
        assert first.id.startswith("big_")
        top = list(exp.get_runs(filter="metrics.acc > 0.999", order_by=["metrics.acc DESC"]))
    finally:
        ws._client.get = real_get
    want = sorted((i for i in range(N) if acc_of(i) > 0.999), key=acc_of, reverse=True)
    assert [r.id for r in top] == ["big_seed_%d" % i for i in want]
    from trainyard.core import Run
    failed = list(Run.list(exp, status="Failed", filter="number <= 100"))
    assert len(failed) == 10
    from trainyard.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="position 14"):
        next(exp.get_runs(filter="metrics.acc > 'high'"))


def test_children_are_paged_and_filtered(big):
    ws = big.workspace()
    from trainyard.core import Experiment
    parent = Experiment(ws, "kids").start_logging()
    kids = parent.create_children(tag_key="fold", tag_values=[str(i) for i in range(230)])
    for k in kids[:7]:
        k.log("score", 1.0)
        k.flush()
    got = [c.id for c in parent.get_children()]
    assert got == [k.id for k in kids]  # oldest first, all pages
    best = list(parent.get_children(filter="metrics.score >= 1", order_by="tags.fold DESC"))
    assert [c.id for c in best] == [k.id for k in reversed(kids[:7])]
    parent.complete()


def test_bad_queries_are_400_pointing_at_the_token(big):
    cases = [
        ({"filter": "metrics.acc >> 0.9"}, "position 13"),
        ({"filter": "params.lr > '0.1'"}, "text"),
        ({"filter": "colour = 'red'"}, "unknown attribute 'colour'"),
        ({"filter": "metrics.acc > 1 or status = 'Failed'"}, "OR is not supported"),
        ({"order_by": "metrics.acc SIDEWAYS"}, "position 12"),
        ({"cursor": "garbage"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"status": "Done"}, "unknown run status"),
    ]
    for params, text in cases:
        status, body = get(big, "/experiments/big/runs", **params)
        assert status == 400, (params, body)
        assert text in body["error"]["message"], (params, body)
    status, page = get(big, "/experiments/big/runs", page_size=2, order_by="metrics.acc DESC")
    status, body = get(big, "/experiments/big/runs", page_size=2, order_by="metrics.acc ASC",
                       cursor=page["next_cursor"])
    assert status == 400 and "another query" in body["error"]["message"]
    for params, text in [({"max_points": "1"}, "max_points"),
                         ({"start_step": "10", "end_step": "5"}, "after end_step"),
                         ({"start_step": "x"}, "start_step")]:
        status, body = get(big, "/runs/series_series/series", name="s0", **params)
        assert status == 400 and text in body["error"]["message"], (params, body)


def test_series_reads_ranged_downsampled_and_full(big):
    ws = big.workspace()
    from trainyard.core import Run
    run = Run.get(ws, "series_series")
    s = run.get_metric_series("s0", max_points=1000)["s0"]
    assert s["downsampled"] and s["count"] == SERIES_POINTS
    assert 500 <= len(s["values"]) <= 1000
    assert max(s["values"]) == 1000.0 and min(s["values"]) == -1000.0  # the spikes survive
    assert s["steps"] == sorted(s["steps"])
    assert SERIES_POINTS // 3 in s["steps"] and 2 * SERIES_POINTS // 3 in s["steps"]
    both = run.get_metric_series(["s0", "s1"], start_step=1000, end_step=1099)
    assert both["s0"]["steps"] == list(range(1000, 1100))
    assert both["s1"]["values"][0] == pytest.approx(1.0 + __import__("math").sin(1.0))
    ranged = run.get_metrics("s0", start_step=SERIES_POINTS // 3 - 5,
                             end_step=SERIES_POINTS // 3 + 5, max_points=4)["s0"]
    assert 1000.0 in ranged and len(ranged) <= 4
    full = run.get_metrics("s0")["s0"]  # streamed in chunks on the server
    assert len(full) == SERIES_POINTS and full[SERIES_POINTS // 3] == 1000.0
    status, body = get(big, "/runs/series_series/series", name="s1")
    assert status == 200 and len(body["series"][0]["points"]) == SERIES_POINTS


def test_cli_run_list_pages_filters_and_refuses_bad_filters(big):
    env = big.env()
    out = subprocess.run(
        [trainyard_bin(), "run", "list", "--experiment", "big", "--filter", "metrics.acc > 0.99",
         "--order-by", "metrics.acc DESC", "--limit", "250", "--page-size", "100", "--json"],
        cwd=big.project_dir, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)
    want = sorted((i for i in range(N) if acc_of(i) > 0.99), key=acc_of, reverse=True)[:250]
    assert [r["id"] for r in runs] == ["big_seed_%d" % i for i in want]
    out = subprocess.run([trainyard_bin(), "run", "list", "--experiment", "big", "--filter",
                          "metrics.acc >"], cwd=big.project_dir, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "position 13" in out.stderr, out.stderr
