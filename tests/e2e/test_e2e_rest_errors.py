"""REST-level checks with plain urllib/http.client: auth and malformed requests."""
import http.client as httpclient
import json

import pytest

from e2e_util import http


def error_body(body):
    doc = json.loads(body)
    assert isinstance(doc.get("error"), dict), doc
    assert doc["error"].get("code") and doc["error"].get("message"), doc
    return doc["error"]


def test_healthz_needs_no_auth(server):
    status, _, body = http("GET", server.url + "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_auth_required(server, token):
    for method, path, body in [("GET", "/api/v1/workspace", None),
                               ("GET", "/api/v1/experiments", None),
                               ("PUT", "/api/v1/experiments/e2e-auth", b"{}"),
                               ("GET", "/api/v1/models", None)]:
        status, headers, raw = http(method, server.url + path, body=body, token=token)
        assert status == 401, (method, path, status, raw)
        err = error_body(raw)
        assert err["code"] == "Unauthorized", err
    status, _, raw = http("GET", server.url + "/api/v1/experiments/e2e-auth", token=server.token)
    assert status == 404, "an unauthenticated PUT created the experiment: %s" % raw


def test_auth_ok_with_token(server):
    status, _, body = http("GET", server.url + "/api/v1/workspace", token=server.token)
    assert status == 200, body
    doc = json.loads(body)
    assert "local" in doc["compute_targets"]


def test_malformed_json_is_400(server):
    for path, method in [("/api/v1/experiments/e2e-bad/runs", "POST"), ("/api/v1/models", "POST")]:
        status, headers, body = http(method, server.url + path, body=b'{"kind": "interactive",',
                                     token=server.token,
                                     headers={"Content-Type": "application/json"})
        assert status == 400, (path, status, body)
        assert headers.get("Content-Type", "").startswith("application/json")
        error_body(body)


def test_unknown_run_is_404(server):
    status, _, body = http("GET", server.url + "/api/v1/runs/no-such-run", token=server.token)
    assert status == 404
    assert error_body(body)["code"] == "NotFound"


@pytest.fixture
def interactive_run_id(server):
    status, _, body = http("POST", server.url + "/api/v1/experiments/e2e-rest/runs",
                           body={"kind": "interactive"}, token=server.token)
    assert status == 201, body
    run_id = json.loads(body)["id"]
    yield run_id
    http("POST", server.url + "/api/v1/runs/%s/status" % run_id, body={"status": "Completed"},
         token=server.token)


def raw_request(server, method, path, body=b""):
    conn = httpclient.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body,
                     headers={"Authorization": "Bearer " + server.token})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["../x", "a/../../x", "outputs/../../x", "%2E%2E/x", "..%2Fx",
                                  "%2Fetc/passwd"])
def test_artifact_path_traversal_is_rejected(server, interactive_run_id, path):
    url = "/api/v1/runs/%s/artifacts/%s" % (interactive_run_id, path)
    status, body = raw_request(server, "PUT", url, b"data")
    if "%" in path and status in (200, 201):
        # A server that does not percent-decode stores the literal name: no traversal either.
        stored = json.loads(body)["path"]
        assert ".." not in stored.split("/") and not stored.startswith("/"), stored
    else:
        assert status == 400, (path, status, body)
        error_body(body)
    status, _, listing = http("GET", server.url + "/api/v1/runs/%s/artifacts" % interactive_run_id,
                              token=server.token)
    assert status == 200
    for f in json.loads(listing)["files"]:
        assert ".." not in f["path"].split("/") and not f["path"].startswith("/"), f


def test_artifact_roundtrip_and_listing(server, interactive_run_id):
    status, body = raw_request(server, "PUT", "/api/v1/runs/%s/artifacts/outputs/a.txt"
                               % interactive_run_id, b"abc")
    assert status in (200, 201), body
    doc = json.loads(body)
    assert doc["path"] == "outputs/a.txt" and doc["size"] == 3
    status, data = raw_request(server, "GET", "/api/v1/runs/%s/artifacts/outputs/a.txt"
                               % interactive_run_id)
    assert status == 200 and data == b"abc"


def test_oversized_body_is_413(server, interactive_run_id):
    limit = 64 * 1024 * 1024
    conn = httpclient.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest("POST", "/api/v1/runs/%s/metrics" % interactive_run_id)
        conn.putheader("Authorization", "Bearer " + server.token)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(limit + 1024))
        conn.endheaders()
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(65):
                conn.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the body is sent
        r = conn.getresponse()
        status, body = r.status, r.read()
    finally:
        conn.close()
    assert status == 413, (status, body[:300])
    error_body(body)
    # the server is still fine afterwards
    assert http("GET", server.url + "/healthz")[0] == 200


def test_properties_are_immutable_over_rest(server, interactive_run_id):
    url = server.url + "/api/v1/runs/%s/properties" % interactive_run_id
    assert http("PATCH", url, body={"p": "1"}, token=server.token)[0] == 200
    assert http("PATCH", url, body={"p": "1"}, token=server.token)[0] == 200  # same value: fine
    status, _, body = http("PATCH", url, body={"p": "2"}, token=server.token)
    assert status == 409, body
    assert error_body(body)["code"] == "Conflict"


def test_metric_seq_is_idempotent(server, interactive_run_id):
    url = server.url + "/api/v1/runs/%s/metrics" % interactive_run_id
    pts = {"metrics": [{"name": "s", "kind": "scalar", "value": i, "seq": i} for i in range(10)]}
    assert http("POST", url, body=pts, token=server.token)[0] in (200, 201)
    assert http("POST", url, body=pts, token=server.token)[0] in (200, 201)
    status, _, body = http("GET", url + "?name=s", token=server.token)
    assert status == 200
    assert json.loads(body)["metrics"]["s"] == list(range(10))
