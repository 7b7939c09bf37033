"""Streamed answers and series reads (issue 15 part 6, issue 20 part 4) against a real server:
chunked transfer of full series reads, run listings and live logs (memory bounded on the
server), downsampled points that carry their own step and time, LTTB as a selectable mode that
keeps the extremes, and several runs' series in one request (the compare view)."""
import http.client as httpclient
import json
import math
import random
import socket
from urllib.parse import urlencode

import pytest

from e2e_util import Server, http

N = 20_000  # points per series: more than the 256-point blocks, few enough to log quickly
T0 = 1_700_000_000_000


def private_port():
    """A free port in this suite's private range (23000-23999)."""
    for _ in range(200):
        port = random.randint(23100, 23899)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 23100-23899")


def value_of(i):
    if i == N // 3:
        return 1000.0  # a spike and a dip that every downsampling must keep
    if i == 2 * N // 3:
        return -1000.0
    return math.sin(i / 50.0)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("series-stream"), port=private_port()).start()
    runs = []
    for r in range(3):
        status, _, body = http("POST", s.url + "/api/v1/experiments/cmp/runs",
                               {"kind": "interactive", "status": "Running"}, token=s.token)
        assert status in (200, 201), body
        rid = json.loads(body)["id"]
        runs.append(rid)
        for at in range(0, N, 5000):
            pts = [{"name": "loss", "value": value_of(i) + r, "step": i, "time": T0 + i * 10}
                   for i in range(at, min(N, at + 5000))]
            pts += [{"name": "acc", "value": i / N, "step": i, "time": T0 + i * 10}
                    for i in range(at, min(N, at + 5000), 10)]
            status, _, body = http("POST", s.url + "/api/v1/runs/%s/metrics" % rid,
                                   {"metrics": pts}, token=s.token)
            assert status == 200, body
    s.runs = runs
    yield s
    s.stop()


def raw_get(srv, path, **params):
    """GET through http.client: (status, headers dict, body), chunked or not."""
    conn = httpclient.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    q = ("?" + urlencode(params, doseq=True)) if params else ""
    conn.request("GET", path + q, headers={"Authorization": "Bearer " + srv.token})
    r = conn.getresponse()
    body = r.read()
    headers = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, headers, body


def test_full_series_read_is_chunked_and_complete(srv):
    rid = srv.runs[0]
    status, headers, body = raw_get(srv, "/api/v1/runs/%s/series" % rid, name="loss")
    assert status == 200, body[:300]
    assert headers.get("transfer-encoding") == "chunked", headers
    assert "content-length" not in headers
    series = json.loads(body)["series"][0]
    assert series["count"] == N and not series["downsampled"]
    assert [p[0] for p in series["points"]] == list(range(N))
    assert series["points"][N // 3][1] == 1000.0
    assert series["points"][5][2] == T0 + 50
    # Azure-shaped metrics of one named series: produced in 65,536-point chunks; this one
    # fits in its first piece, so it keeps a Content-Length.
    status, headers, body = raw_get(srv, "/api/v1/runs/%s/metrics" % rid, name="loss")
    assert status == 200 and int(headers["content-length"]) == len(body), headers
    assert json.loads(body)["metrics"]["loss"][N // 3] == 1000.0


def test_small_answers_keep_a_content_length(srv):
    status, headers, body = raw_get(srv, "/api/v1/experiments/cmp/runs", limit=2)
    assert status == 200
    assert "transfer-encoding" not in headers and int(headers["content-length"]) == len(body)
    assert len(json.loads(body)["runs"]) == 2


@pytest.mark.parametrize("mode", ["minmax", "lttb"])
def test_downsampled_points_have_their_step_and_time_and_keep_extremes(srv, mode):
    rid = srv.runs[0]
    status, _, body = raw_get(srv, "/api/v1/runs/%s/series" % rid, name="loss",
                              max_points=500, mode=mode)
    assert status == 200, body[:300]
    s = json.loads(body)["series"][0]
    assert s["downsampled"] and s["mode"] == mode and s["count"] == N
    pts = s["points"]
    assert 100 <= len(pts) <= 500, len(pts)
    steps = [p[0] for p in pts]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    for step, value, time in pts:
        # every point is a real logged point: its own value and logging time
        assert value == pytest.approx(value_of(step)), (step, value)
        assert time == T0 + step * 10, (step, time)
    values = [p[1] for p in pts]
    assert max(values) == 1000.0 and min(values) == -1000.0
    assert steps[0] == 0 or mode == "minmax"
    if mode == "lttb":
        assert steps[-1] == N - 1


def test_lttb_follows_the_shape_better_than_its_point_count_alone(srv):
    # LTTB's points lie on the curve; over a smooth sine their linear interpolation stays close.
    rid = srv.runs[0]
    _, _, body = raw_get(srv, "/api/v1/runs/%s/series" % rid, name="loss", max_points=400,
                         mode="lttb", start_step=0, end_step=N // 3 - 1)
    pts = json.loads(body)["series"][0]["points"]
    assert len(pts) <= 400
    worst = 0.0
    for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:]):
        for x in range(x0, x1 + 1, 7):
            y = y0 + (y1 - y0) * (x - x0) / max(1, x1 - x0)
            worst = max(worst, abs(y - value_of(x)))
    assert worst < 0.05, worst


def test_ranged_lttb_and_small_ranges(srv):
    rid = srv.runs[1]
    _, _, body = raw_get(srv, "/api/v1/runs/%s/series" % rid, name="loss", max_points=50,
                         mode="lttb", start_step=1000, end_step=1999)
    s = json.loads(body)["series"][0]
    steps = [p[0] for p in s["points"]]
    assert s["downsampled"] and len(steps) <= 50
    assert steps[0] == 1000 and steps[-1] == 1999
    _, _, body = raw_get(srv, "/api/v1/runs/%s/series" % rid, name="loss", max_points=50,
                         mode="lttb", start_step=1000, end_step=1009)
    s = json.loads(body)["series"][0]
    assert not s["downsampled"] and [p[0] for p in s["points"]] == list(range(1000, 1010))


def test_several_runs_in_one_request(srv):
    status, _, body = raw_get(srv, "/api/v1/series", run=srv.runs[::-1], name=["loss", "acc"],
                              max_points=200, mode="lttb")
    assert status == 200, body[:300]
    answer = json.loads(body)
    assert [r["run_id"] for r in answer["runs"]] == srv.runs[::-1]
    for k, r in enumerate(answer["runs"]):
        offset = 2 - k  # runs were logged with value + their index
        names = [s["name"] for s in r["series"]]
        assert names == ["loss", "acc"]
        loss = r["series"][0]
        assert loss["count"] == N and len(loss["points"]) <= 200
        assert max(p[1] for p in loss["points"]) == 1000.0 + offset
        acc = r["series"][1]
        assert acc["count"] == N // 10
    # No name: every series of each run; full reads stream.
    status, headers, body = raw_get(srv, "/api/v1/series", run=srv.runs[:2])
    assert status == 200 and headers.get("transfer-encoding") == "chunked"
    answer = json.loads(body)
    assert len(answer["runs"]) == 2
    assert sorted(s["name"] for s in answer["runs"][1]["series"]) == ["acc", "loss"]
    assert sum(len(s["points"]) for s in answer["runs"][1]["series"]) == N + N // 10


def test_bad_series_requests_are_refused_before_any_byte(srv):
    cases = [
        ({"run": srv.runs[0], "mode": "fancy", "max_points": 10}, 400, "mode must be"),
        ({"name": "loss"}, 400, "run=<id>"),
        ({"run": [srv.runs[0], "nope_run"]}, 404, "nope_run"),
        ({"run": srv.runs[0], "max_points": 1}, 400, "max_points"),
    ]
    for params, code, text in cases:
        status, headers, body = raw_get(srv, "/api/v1/series", **params)
        assert status == code and text in json.loads(body)["error"]["message"], (params, body)
        assert "transfer-encoding" not in headers


def test_live_log_is_streamed_whole(srv):
    rid = srv.runs[2]
    line = "".join(chr(33 + i % 90) for i in range(999)) + "\n"
    blob = (line * 3000).encode()  # 3 MB in several appends
    for at in range(0, len(blob), 1 << 20):
        status, _, body = http("POST", srv.url + "/api/v1/runs/%s/logs/logs/big.txt" % rid,
                               blob[at:at + (1 << 20)], token=srv.token,
                               headers={"Content-Type": "text/plain"})
        assert status == 200, body
    status, headers, body = raw_get(srv, "/api/v1/runs/%s/artifacts/logs/big.txt" % rid)
    assert status == 200
    assert headers.get("transfer-encoding") == "chunked"
    assert body == blob


def test_run_listing_without_page_size_streams_every_run_once(srv):
    from concurrent.futures import ThreadPoolExecutor

    def make(i):
        status, _, body = http("POST", srv.url + "/api/v1/experiments/many/runs",
                               {"kind": "interactive", "status": "Completed",
                                "display_name": "r%d" % i}, token=srv.token)
        assert status in (200, 201), body
        return json.loads(body)["id"]

    with ThreadPoolExecutor(4) as ex:
        ids = set(ex.map(make, range(700)))
    # 700 full run objects (> 64 KiB): chunked, produced 500 runs a piece on the server.
    status, headers, body = raw_get(srv, "/api/v1/experiments/many/runs")
    assert status == 200 and headers.get("transfer-encoding") == "chunked", headers
    got = [r["id"] for r in json.loads(body)["runs"]]
    assert len(got) == 700 and set(got) == ids
    status, headers, body = raw_get(srv, "/api/v1/experiments/many/runs", view="summary",
                                    limit=650)
    assert status == 200 and len(json.loads(body)["runs"]) == 650


def test_sdk_takes_the_mode_and_reads_several_runs(srv):
    from trainyard.core import Run, _run_query
    ws = srv.workspace()
    run = Run.get(ws, srv.runs[0])
    s = run.get_metric_series("loss", max_points=100, mode="lttb")["loss"]
    assert s["downsampled"] and len(s["values"]) <= 100
    assert 1000.0 in s["values"] and -1000.0 in s["values"]
    assert s["steps"][0] == 0 and s["steps"][-1] == N - 1
    assert all(t == T0 + 10 * st for st, t in zip(s["steps"], s["times"]))
    both = _run_query.read_series_of_runs(ws._client, srv.runs[:2], "acc", max_points=50)
    assert list(both) == srv.runs[:2]
    assert all(len(v["acc"]["values"]) <= 50 for v in both.values())
