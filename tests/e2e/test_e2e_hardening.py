"""Issue 15 (hardening): bounded parsing, confined paths, start-up hygiene, disk full.

Every test here talks to a real `trainyard server` over HTTP (urllib / http.client) and checks
what a client sees: the status, the error code and message, and that the server is still up.
"""
import hashlib
import http.client as httpclient
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from e2e_util import Server, http, wait_status, write_script

DEEP = 60000  # the review's crash needed ~57k levels


def deep(n, open_="[", close="]", inner=""):
    # Built as text: Python's own json module would hit its recursion limit.
    return open_ * n + inner + close * n


def api(srv, method, path, body=None, headers=None, timeout=60):
    if isinstance(body, str):
        body = body.encode()
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    return http(method, srv.url + path, body, token=srv.token, headers=headers, timeout=timeout)


def error_of(body):
    return json.loads(body)["error"]


def assert_alive(srv):
    status, _, _ = http("GET", srv.url + "/healthz", timeout=10)
    assert status == 200, "server is down:\n" + srv.log_tail()


def new_run(srv, experiment="hard"):
    status, _, body = api(srv, "POST", "/api/v1/experiments/%s/runs" % experiment, {})
    assert status == 201, body
    return json.loads(body)["id"]


# ---------------------------------------------------------------- 1. bounded parsing

JSON_ROUTES = [
    ("POST", "/api/v1/experiments/hard/runs"),
    ("POST", "/api/v1/runs/{run}/metrics"),
    ("PATCH", "/api/v1/runs/{run}/tags"),
    ("PATCH", "/api/v1/runs/{run}/properties"),
    ("POST", "/api/v1/runs/{run}/status"),
    ("POST", "/api/v1/models"),
    ("POST", "/api/v1/blobs/missing"),
    ("POST", "/api/v1/dataset-definitions"),
    ("POST", "/api/v1/dataset-rows"),
    ("POST", "/api/v1/datasets"),
    ("POST", "/api/v1/datastores"),
    ("POST", "/api/v1/datastores/workspaceblobstore/files"),
    ("POST", "/api/v1/environments"),
    ("POST", "/api/v1/environment-cache/build"),
    ("POST", "/api/v1/services"),
    ("PUT", "/api/v1/compute-targets/deep-target"),
    ("POST", "/api/v1/experiments/hard/hyperdrive"),
]


def test_deeply_nested_json_is_refused_on_every_route(server):
    run = new_run(server)
    for method, path in JSON_ROUTES:
        path = path.format(run=run)
        for body in (deep(DEEP), deep(DEEP, "{\"a\":", "}", "1"), deep(129)):
            status, _, raw = api(server, method, path, body)
            assert status == 400, (method, path, status, raw[:300])
            err = error_of(raw)
            assert err["code"] == "JsonTooDeep", (path, err)
            assert "nested deeper than 128" in err["message"], err
        assert_alive(server)
    # 128 levels are within the limit: the route answers about the content, not the depth.
    status, _, raw = api(server, "PATCH", "/api/v1/runs/%s/tags" % run, deep(128))
    assert status == 400 and error_of(raw)["code"] != "JsonTooDeep", raw


def test_metric_values_over_the_limits_are_refused_before_storing(server):
    run = new_run(server)
    big = {"metrics": [{"name": "ok", "value": 1},
                       {"name": "big", "kind": "list", "value": ["x" * 1100000]}]}
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/metrics" % run, big)
    assert status == 413, raw
    assert error_of(raw)["code"] == "MetricValueTooLarge"
    assert "metric 'big'" in error_of(raw)["message"]
    # Nothing of the batch was stored.
    status, _, raw = api(server, "GET", "/api/v1/runs/%s/metrics" % run)
    assert status == 200 and json.loads(raw)["metrics"] == {}, raw
    body = '{"metrics": [{"name": "deep", "kind": "list", "value": %s}]}' % deep(DEEP)
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/metrics" % run, body)
    assert status == 400 and error_of(raw)["code"] == "JsonTooDeep", raw
    assert_alive(server)


def test_spool_lines_over_the_limits_are_rejected_and_listed(server):
    run = new_run(server)
    lines = [
        '{"n":"a","v":1,"t":1}',
        '{"n":"d","k":"list","v":%s,"t":1}' % deep(DEEP),
        '{"n":"a","v":2,"t":1}',
        '{"n":"d","k":"list","v":%s,"t":1}' % deep(127),       # 128 levels with the line
        '{"n":"huge","k":"list","v":["%s"],"t":1}' % ("y" * 1100000),
        'not json at all',
    ]
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/metrics/spool?first_seq=0" % run,
                         "\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"})
    assert status == 200, raw
    out = json.loads(raw)
    assert out["accepted"] == 3, out
    assert out["rejected_count"] == 2, out
    assert [r["seq"] for r in out["rejected"]] == [1, 4], out
    assert "deeper than 128" in out["rejected"][0]["error"]
    assert "limit is 1 MiB" in out["rejected"][1]["error"]
    assert out["skipped"] == 1 and out["next_seq"] == 6
    status, _, raw = api(server, "GET", "/api/v1/runs/%s/metrics" % run)
    assert status == 200
    assert json.loads(raw)["metrics"]["a"] == [1, 2]


def test_spool_line_with_bytes_that_are_not_utf8_is_skipped_and_reads_still_work(server):
    run = new_run(server)
    body = b'{"n":"ok","v":1,"t":1}\n{"n":"bad\xff","v":2,"t":1}\n{"n":"s","v":"x\xfe","t":1}\n'
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/metrics/spool?first_seq=0" % run, body,
                         headers={"Content-Type": "application/x-ndjson"})
    assert status == 200, raw
    out = json.loads(raw)
    assert out["accepted"] == 1 and out["skipped"] == 2, out
    status, _, raw = api(server, "GET", "/api/v1/runs/%s/metrics" % run)
    assert status == 200, raw
    assert json.loads(raw)["metrics"] == {"ok": 1}


def test_deep_metric_value_already_stored_does_not_crash_reads(make_server):
    srv = make_server()
    run = new_run(srv)
    status, _, raw = api(srv, "POST", "/api/v1/runs/%s/metrics" % run,
                         {"metrics": [{"name": "acc", "value": 0.5}]})
    assert status == 200, raw
    # What the old server accepted and stored (the review: every GET crashed it afterwards).
    db = sqlite3.connect(str(srv.data_dir / "meta.db"), timeout=30)
    db.execute("INSERT INTO metrics (run_key, seq, name, kind, json, time) "
               "SELECT key, 99, 'deep', 'list', ?, 1 FROM runs WHERE id=?", (deep(DEEP), run))
    db.commit()
    db.close()
    for _ in range(2):
        status, _, raw = api(srv, "GET", "/api/v1/runs/%s/metrics" % run)
        assert status == 200, raw
        metrics = json.loads(raw)["metrics"]
        assert metrics["acc"] == 0.5
        assert "not shown" in metrics["deep"] and "nested deeper" in metrics["deep"]
        status, _, raw = api(srv, "GET", "/api/v1/runs/%s/metrics/raw" % run)
        assert status == 200, raw
        srv.restart()  # and after a restart


# ---------------------------------------------------------------- 2. confined paths

def test_run_id_dot_dot_cannot_reach_the_data_dir(make_server):
    srv = make_server()
    config = srv.data_dir / "config.json"
    before = config.read_bytes()
    for rid in ("..", "."):
        status, _, raw = api(srv, "POST", "/api/v1/experiments/e/runs", {"run_id": rid})
        assert status == 400, raw
        assert "'.' or '..'" in error_of(raw)["message"], raw
    # The review's reads and writes through a run id '..', which reach config.json (the token).
    for method, path, body in [
            ("GET", "/api/v1/runs/%2e%2e/logs/config.json", None),
            ("GET", "/api/v1/runs/%2e%2e/artifacts/config.json", None),
            ("GET", "/api/v1/runs/%2e%2e/artifacts", None),
            ("GET", "/api/v1/runs/%2e%2e", None),
            ("POST", "/api/v1/runs/%2e%2e/logs/config.json", b"garbage"),
            ("POST", "/api/v1/runs/%2e/logs/x", b"garbage")]:
        status, _, raw = api(srv, method, path, body)
        assert status == 400, (method, path, status, raw[:200])
        assert srv.token.encode() not in raw
    assert config.read_bytes() == before
    srv.restart()  # the config is intact: the server starts


def test_symlinks_under_a_run_are_never_followed(make_server, tmp_path):
    srv = make_server()
    run = new_run(srv)
    status, _, raw = api(srv, "POST", "/api/v1/runs/%s/logs/user_logs/std_log.txt" % run, b"hi\n")
    assert status == 200, raw
    logs = srv.data_dir / "logs" / run
    outside = tmp_path / "outside.txt"
    outside.write_text("outside secret")
    (logs / "bin").mkdir()
    os.symlink(sys.executable, logs / "bin" / "python")           # a venv's interpreter link
    os.symlink(srv.data_dir / "config.json", logs / "config.json")  # a file link
    os.symlink(srv.data_dir, logs / "data")                         # a directory link
    os.symlink(outside, logs / "out.txt")
    for rel in ("bin/python", "config.json", "data/config.json", "out.txt"):
        for path in ("/api/v1/runs/%s/logs/%s" % (run, rel),
                     "/api/v1/runs/%s/artifacts/%s" % (run, rel)):
            status, _, raw = api(srv, "GET", path)
            assert status == 400, (path, status, raw[:200])
            assert error_of(raw)["code"] == "PathNotConfined", raw
            assert srv.token.encode() not in raw and b"outside secret" not in raw
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/logs/%s" % (run, rel), b"appended")
        assert status == 400, (rel, status, raw)
    assert outside.read_text() == "outside secret"
    assert b"appended" not in (srv.data_dir / "config.json").read_bytes()
    # Listings show the real log only.
    status, _, raw = api(srv, "GET", "/api/v1/runs/%s/artifacts" % run)
    assert status == 200
    assert [f["path"] for f in json.loads(raw)["files"]] == ["user_logs/std_log.txt"]
    status, _, raw = api(srv, "GET", "/api/v1/runs/%s" % run)
    assert list(json.loads(raw)["log_files"]) == ["user_logs/std_log.txt"]
    # The regular log is still served.
    status, _, raw = api(srv, "GET", "/api/v1/runs/%s/artifacts/user_logs/std_log.txt" % run)
    assert status == 200 and raw == b"hi\n"


def test_symlinked_file_in_a_local_datastore_is_not_read(make_server, tmp_path):
    srv = make_server()
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / "ok.csv").write_text("a,b\n1,2\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("token,x\nsecret,1\n")
    os.symlink(secret, store_dir / "link.csv")
    status, _, raw = api(srv, "POST", "/api/v1/datastores",
                         {"name": "local1", "path": str(store_dir)})
    assert status == 201, raw
    status, _, raw = api(srv, "GET", "/api/v1/datastores/local1/files")
    assert [f["path"] for f in json.loads(raw)["files"]] == ["ok.csv"], raw
    definition = {"type": "tabular", "files": [
        {"path": "link.csv", "source": {"datastore": "local1", "path": "link.csv"}}]}
    status, _, raw = api(srv, "POST", "/api/v1/dataset-rows", {"definition": definition})
    assert status == 400, raw
    assert b"secret" not in raw
    assert error_of(raw)["code"] == "PathNotConfined", raw


def test_path_segments_over_255_bytes_are_400(server):
    run = new_run(server)
    long = "a" * 256
    status, _, raw = api(server, "PUT", "/api/v1/runs/%s/artifacts/outputs/%s" % (run, long),
                         b"data", headers={"Content-Type": "application/octet-stream"})
    assert status == 400, raw
    assert "at most 255 bytes" in error_of(raw)["message"]
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/logs/%s" % (run, long), b"x")
    assert status == 400, raw
    assert "at most 255 bytes" in error_of(raw)["message"]
    status, _, raw = api(server, "POST", "/api/v1/runs/%s/logs/%s" % (run, "b" * 255), b"x")
    assert status == 200, raw
    status, _, raw = api(server, "PUT", "/api/v1/experiments/" + "c" * 256)
    assert status == 400, raw


def test_invalid_utf8_in_an_error_is_escaped_not_an_empty_reply(server):
    run = new_run(server)
    for method, path in [("PUT", "/api/v1/experiments/%FF%FEx"),
                         ("GET", "/api/v1/runs/%s/logs/%%FF%%C0.txt" % run),
                         ("PUT", "/api/v1/runs/%s/artifacts/bad%%FF" % run),
                         ("GET", "/api/v1/models/%C3")]:
        status, _, raw = api(server, method, path, b"" if method == "PUT" else None)
        assert status == 400, (path, status, raw)
        msg = error_of(raw)["message"]  # valid JSON
        assert "\\xff" in msg or "\\xc3" in msg, msg
    # A JSON body with invalid UTF-8 inside a string.
    status, _, raw = api(server, "PATCH", "/api/v1/runs/%s/tags" % run,
                         b'{"k": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert status == 400, raw
    assert error_of(raw)["code"] == "InvalidJson"
    assert_alive(server)


# ---------------------------------------------------------------- 5. start-up hygiene

def test_temp_uploads_left_by_a_crash_are_removed_at_start(make_server):
    srv = make_server()
    tmp = srv.data_dir / "objects" / "tmp"
    srv.kill()
    (tmp / "upload-0123456789abcdef").write_bytes(os.urandom(3 << 20))
    (tmp / "tmp-feedfacecafebeef").write_bytes(b"x" * 1000)
    (tmp / "url-0011223344556677").write_bytes(b"partial download")
    srv.start()
    assert list(tmp.iterdir()) == []
    assert "removed 3 temp file(s)" in srv.log_tail()


def _mount_tmpfs(where, size):
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + r.stderr.strip())


def _fill(path):
    """Writes `path` until the file system is full (unbuffered: every write reaches it)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    if os.write(fd, b"\0" * size) == 0:
                        break
            except OSError:
                pass
    finally:
        os.close(fd)


def test_disk_full_answers_507_with_a_message_on_write_routes(tmp_path):
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "48m")
    srv = None
    try:
        srv = Server(mnt / "ws").start()
        run = new_run(srv)
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/metrics" % run,
                             {"metrics": [{"name": "warm", "value": 1}]})
        assert status == 200, raw
        _fill(mnt / "filler")

        def check(status, raw, must_fail=False):
            if must_fail or status >= 300:
                assert status == 507, (status, raw[:300])
                err = error_of(raw)
                assert err["code"] == "InsufficientStorage", err
                assert "disk is full" in err["message"] and "free space" in err["message"], err

        results = {}
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/logs/big.txt" % run, b"x" * (1 << 20))
        check(status, raw, must_fail=True)
        results["log"] = status
        points = [{"name": "loss", "value": i * 0.5, "step": i} for i in range(100000)]
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/metrics" % run, {"metrics": points})
        check(status, raw, must_fail=True)
        results["metrics"] = status
        spool = "".join('{"n":"s","v":%d,"t":1}\n' % i for i in range(100000))
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/metrics/spool?first_seq=0" % run,
                             spool.encode(), headers={"Content-Type": "application/x-ndjson"})
        check(status, raw, must_fail=True)
        for method, path, body in [
                ("POST", "/api/v1/experiments/full/runs", {"tags": {"k": "v" * 200}}),
                ("PATCH", "/api/v1/runs/%s/tags" % run, {"t%d" % i: "v" * 100 for i in range(2000)}),
                ("POST", "/api/v1/environments", {"name": "fullenv", "python": {
                    "conda_dependencies": {"dependencies": ["numpy"]}}}),
                ("POST", "/api/v1/datastores/workspaceblobstore/files", {"files": []})]:
            status, _, raw = api(srv, method, path, body)
            check(status, raw)
            results[path] = status
        assert_alive(srv)
        # Space freed: writes work again, nothing half-written is in the way.
        os.unlink(mnt / "filler")
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/logs/big.txt" % run, b"y" * 1000)
        assert status == 200, raw
        status, _, raw = api(srv, "POST", "/api/v1/runs/%s/metrics" % run, {"metrics": points})
        assert status == 200, raw
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", "-l", str(mnt)])


def test_disk_full_artifact_upload_answers_507(tmp_path):
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "24m")
    srv = None
    try:
        srv = Server(mnt / "ws").start()
        run = new_run(srv)
        _fill(mnt / "filler")
        try:
            status, _, raw = api(srv, "PUT", "/api/v1/runs/%s/artifacts/outputs/a.bin" % run,
                                 os.urandom(4 << 20),
                                 headers={"Content-Type": "application/octet-stream"})
        except (ConnectionError, httpclient.HTTPException) as e:
            pytest.fail("no answer to an upload on a full disk: %r" % e)
        assert status == 507, raw
        assert error_of(raw)["code"] == "InsufficientStorage"
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", "-l", str(mnt)])


# ---------------------------------------------------------------- 8. durability, as tests

def test_server_kill9_during_a_200k_point_run_loses_no_point(make_server, plain_env, tmp_path):
    from trainyard.core import Experiment, ScriptRunConfig
    from trainyard.core.run import Run
    srv = make_server()
    n = 200000
    src = tmp_path / "src"
    write_script(src, "logger.py", """
        import time
        from azureml.core.run import Run
        run = Run.get_context()
        for i in range(%d):
            run.log("m", i)
            if i %% 5000 == 0:
                time.sleep(0.05)   # spread the points over a few seconds of server kills
        print("done logging", flush=True)
    """ % n)
    ws = srv.workspace()
    run = Experiment(ws, "e2e-kill200k").submit(ScriptRunConfig(
        source_directory=str(src), script="logger.py", environment=plain_env))
    run_id = run.id
    wait_status(run, ("Running",), timeout=120)
    for pause in (0.7, 1.0):
        time.sleep(pause)
        srv.kill()           # SIGKILL: nothing flushed
        time.sleep(1.0)      # the script keeps logging while the server is down
        srv.start()
    ws = srv.workspace()
    run = Run(Experiment(ws, "e2e-kill200k"), run_id)
    assert wait_status(run, timeout=300) == "Completed", run.get_details()
    status, _, raw = api(srv, "GET", "/api/v1/runs/%s/metrics?name=m" % run_id, timeout=120)
    assert status == 200
    m = json.loads(raw)["metrics"]["m"]
    assert len(m) == n, "lost %d points" % (n - len(m))
    assert m == list(range(n))


def _upload(url, token, path, results):
    """PUTs a file with http.client (streamed); records the outcome, never raises."""
    u = urllib.parse.urlsplit(url)
    try:
        conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=60)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            conn.request("PUT", u.path, body=f, headers={
                "Authorization": "Bearer " + token, "Content-Length": str(size),
                "Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            r.read()
            results.append(r.status)
        conn.close()
    except (OSError, httpclient.HTTPException):
        results.append("killed")


def test_server_kill9_during_uploads_keeps_db_and_blobs_intact(make_server, tmp_path):
    """The review used 800 MB uploads; 4 x 64 MB in flight per kill proves the same property
    (a blob appears under its name only complete and hashed; SQLite stays consistent) in a
    fraction of the time."""
    srv = make_server()
    files = []
    for i, mib in enumerate((1, 64, 64, 64)):  # the small one finishes before the kill
        p = tmp_path / ("up%d.bin" % i)
        with open(p, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        files.append(p)
    run = new_run(srv)
    results = []
    for round_ in range(3):
        threads = [threading.Thread(target=_upload, args=(
            "%s/api/v1/runs/%s/artifacts/outputs/r%d_%d.bin" % (srv.url, run, round_, i),
            srv.token, str(p), results)) for i, p in enumerate(files)]
        for t in threads:
            t.start()
        time.sleep(0.6)
        srv.kill()
        for t in threads:
            t.join(60)
        srv.start()
    # And one upload after the kills, undisturbed.
    ok = []
    _upload("%s/api/v1/runs/%s/artifacts/outputs/after.bin" % (srv.url, run), srv.token,
            str(files[0]), ok)
    assert ok == [201], ok
    srv.stop()
    assert "killed" in results, "no upload was interrupted: the test proved nothing"
    db = sqlite3.connect(str(srv.data_dir / "meta.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    arts = db.execute("SELECT path, sha256, size FROM artifacts").fetchall()
    db.close()
    objects = srv.data_dir / "objects"
    checked = 0
    for d in objects.iterdir():
        if d.name == "tmp":
            continue
        for blob in d.iterdir():
            h = hashlib.sha256()
            with open(blob, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            assert h.hexdigest() == d.name + blob.name, "blob %s does not match its hash" % blob
            checked += 1
    for path, sha, size in arts:
        blob = objects / sha[:2] / sha[2:]
        assert blob.is_file() and blob.stat().st_size == size, path
    # Uploads cut off by the kills left temp files; the restarts removed them.
    srv.start()
    assert list((objects / "tmp").iterdir()) == []
    assert checked >= 1
