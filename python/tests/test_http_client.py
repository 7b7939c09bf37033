"""The HTTP client's connection handling, against a real `trainyard server` (conftest.py)."""

import socket
import threading
import time

import pytest

from e2e_util import Server
from trainyard._http import RestClient
from trainyard.exceptions import ServiceException, UserErrorException


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_keep_alive_reuses_one_connection_per_thread(server):
    client = RestClient(server.url, server.token)
    client.get("/api/v1/workspace")
    first = client._local.conn.sock
    client.get("/api/v1/workspace")
    assert client._local.conn.sock is first
    seen = []
    thread = threading.Thread(target=lambda: (client.get("/api/v1/workspace"),
                                              seen.append(client._local.conn.sock)))
    thread.start()
    thread.join()
    assert seen[0] is not first


def test_connection_closed_by_the_server_is_replaced(server):
    client = RestClient(server.url, server.token)
    client.put("/api/v1/experiments/a")
    server.restart()  # the kept-alive connection is now dead
    run = client.post("/api/v1/experiments/a/runs", {"kind": "interactive"})
    assert run["status"] == "Running"
    runs = client.get("/api/v1/experiments/a/runs")["runs"]
    assert [r["id"] for r in runs] == [run["id"]]  # the POST was not sent twice


def test_refused_connection_is_retried_until_the_server_is_up(tmp_path):
    server = Server(tmp_path / "late", port=_free_port())
    server.start()  # once, to create the data dir and its token
    server.stop()
    thread = threading.Thread(target=lambda: (time.sleep(0.3), server.start()))
    thread.start()
    try:
        client = RestClient(server.url, server.token)
        run = client.post("/api/v1/experiments/a/runs", {"kind": "interactive"})
        assert run["kind"] == "interactive"
    finally:
        thread.join()
        server.stop()


def test_error_statuses_raise_with_the_server_message(server):
    client = RestClient(server.url, server.token)
    with pytest.raises(UserErrorException) as info:
        client.get("/api/v1/models/nope")
    assert (info.value.status_code, info.value.code) == (404, "NotFound")
    assert "model 'nope' not found" in str(info.value)


def test_bad_server_url():
    with pytest.raises(UserErrorException, match="server_url"):
        RestClient("localhost:8080", "t")


def test_query_encoding():
    client = RestClient("http://h:1/prefix/", "t")
    assert client.url("/api/v1/x", {"tag": ["a=b", "c"], "flag": True, "skip": None,
                                    "n": 0}) == "/prefix/api/v1/x?tag=a%3Db&tag=c&flag=true&n=0"


def test_unreachable_message(monkeypatch):
    import trainyard._http as http
    monkeypatch.setattr(http, "_RETRY_DELAYS_S", (0.01,))
    client = RestClient("http://127.0.0.1:{}".format(_free_port()), "t")
    with pytest.raises(ServiceException, match="trainyard up"):
        client.get("/api/v1/workspace")
