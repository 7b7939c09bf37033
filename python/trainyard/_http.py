"""The SDK's one HTTP client for the Trainyard server's REST API (docs/REST.md).

Contract:
- One keep-alive ``http.client`` connection per thread and per server (TCP_NODELAY set);
  a process that forks gets fresh connections in the child.
- Connection failures are retried with exponential backoff (about 5 s in all) for idempotent
  requests (GET, HEAD, PUT, DELETE, or ``idempotent=True`` such as metric posts that carry
  ``seq``). Any request that fails on a reused connection which the server had closed is
  retried once on a new connection (nothing reached the server).
- HTTP errors raise :mod:`trainyard.exceptions` with the server's message:
  401 -> AuthenticationException, other 4xx -> UserErrorException, 5xx -> ServiceException;
  ``status_code`` and ``code`` are set on the exception.
- ``http.client`` is imported on the first request, so importing this module is cheap.
"""

import json
import os
import threading
import time

from trainyard import __version__
from trainyard.exceptions import (AuthenticationException, ServiceException,
                                  UserErrorException)

_DEFAULT_TIMEOUT_S = 300.0
_RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0)
_IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "PUT", "DELETE"))
_CHUNK = 1 << 20

_httplib = None  # http.client, imported on first use


def _http_module():
    global _httplib
    if _httplib is None:
        import http.client
        _httplib = http.client
    return _httplib


def quote_path(path):
    """Percent-encodes a relative path for use in a URL, keeping '/' separators."""
    from urllib.parse import quote
    return quote(path, safe="/")


def _is_stale(exc, http):
    return isinstance(exc, (http.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                            ConnectionAbortedError))


class Response:
    """A finished HTTP response: ``status``, ``data`` (bytes, or None when streamed) and
    ``header(name)``."""

    __slots__ = ("status", "data", "_headers")

    def __init__(self, status, headers, data):
        self.status = status
        self._headers = headers
        self.data = data

    def header(self, name, default=None):
        value = self._headers.get(name)
        return default if value is None else value

    def json(self):
        return json.loads(self.data) if self.data else {}


class RestClient:
    """Client of one Trainyard server. Thread-safe: each thread uses its own connection."""

    def __init__(self, server_url, token):
        from urllib.parse import urlsplit
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserErrorException(
                "Invalid server_url {!r} in the workspace config: expected "
                "http://HOST:PORT".format(server_url))
        self.server_url = server_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Authorization": "Bearer {}".format(token),
            "User-Agent": "trainyard-python/{}".format(__version__),
            "Accept": "application/json",
        }
        self._local = threading.local()
        # A run's token (inside a run): the server reads no path of its machine for it, so
        # uploads go as blobs (docs/REST.md, "Credentials").
        self.is_run_token = str(token).startswith("tyrun_")

    # -- public helpers ------------------------------------------------------------------

    def get(self, path, params=None, timeout=None):
        return self.request("GET", path, params=params, timeout=timeout).json()

    def post(self, path, body=None, params=None, idempotent=None, timeout=None):
        return self.request("POST", path, params=params, json_body=body,
                            idempotent=idempotent, timeout=timeout).json()

    def put(self, path, body=None, params=None):
        return self.request("PUT", path, params=params, json_body=body).json()

    def patch(self, path, body, idempotent=True):
        return self.request("PATCH", path, json_body=body, idempotent=idempotent).json()

    def put_file(self, path, file_path):
        """PUTs the raw bytes of ``file_path`` (streamed) and returns the JSON answer."""
        with open(file_path, "rb") as f:
            return self.request("PUT", path, data=f,
                                content_length=os.fstat(f.fileno()).st_size).json()

    def put_bytes(self, path, data):
        return self.request("PUT", path, data=data).json()

    def download(self, path, dest_path, params=None):
        """Streams the body of a GET into ``dest_path`` (written to a temporary file in the
        same folder, then renamed). Creates missing parent folders. Returns the size."""
        folder = os.path.dirname(os.path.abspath(dest_path))
        os.makedirs(folder, exist_ok=True)
        tmp_path = "{}.part-{}".format(dest_path, os.getpid())
        try:
            with open(tmp_path, "wb") as f:
                self.request("GET", path, params=params, stream_to=f)
                size = f.tell()
            os.replace(tmp_path, dest_path)
        except BaseException:
            try:
                os.unlink(tmp_path)
            except OSError:
                pass
            raise
        return size

    # -- core ----------------------------------------------------------------------------

    def url(self, path, params=None):
        """Returns the request target for ``path`` (e.g. ``/api/v1/runs/x``) and params.
        Params with value None are left out; lists repeat the key; bools are true/false."""
        target = self._prefix + path
        if params:
            from urllib.parse import urlencode
            items = []
            for key, value in params.items():
                values = value if isinstance(value, (list, tuple)) else (value,)
                for v in values:
                    if v is None:
                        continue
                    if isinstance(v, bool):
                        v = "true" if v else "false"
                    items.append((key, v))
            if items:
                target += "?" + urlencode(items)
        return target

    def request(self, method, path, params=None, json_body=None, data=None,
                content_length=None, idempotent=None, timeout=None, stream_to=None):
        """Sends one request and returns a :class:`Response` (status < 400) or raises.

        ``json_body`` is serialized as JSON; ``data`` is bytes or a seekable binary file
        (sent with ``content_length``). With ``stream_to`` the body is written to that file
        object instead of being kept in memory.
        """
        http = _http_module()
        target = self.url(path, params)
        headers = dict(self._headers)
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":"), allow_nan=False,
                              ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
        if data is not None:
            headers["Content-Length"] = str(len(data) if content_length is None
                                            else content_length)
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        start_pos = data.tell() if hasattr(data, "seek") else None
        attempt = 0
        stale_retry_done = False
        while True:
            reused = False
            try:
                conn, reused = self._connection(timeout)
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.HTTPException) as exc:
                self._drop_connection()
                if self._should_retry(exc, reused, idempotent, attempt, stale_retry_done):
                    if reused and not stale_retry_done and _is_stale(exc, http):
                        stale_retry_done = True  # the server had closed the idle connection
                    else:
                        time.sleep(_RETRY_DELAYS_S[attempt])
                        attempt += 1
                    if start_pos is not None:
                        data.seek(start_pos)
                    continue
                raise self._unreachable(exc) from None
            return self._finish(resp, method, target, stream_to)

    @staticmethod
    def _should_retry(exc, reused, idempotent, attempt, stale_retry_done):
        """Refused connections never reached the server: retried for every method. A reused
        connection the server had closed is retried once at once. Other connection losses
        are retried only for idempotent requests."""
        http = _http_module()
        if reused and not stale_retry_done and _is_stale(exc, http):
            return True
        if attempt >= len(_RETRY_DELAYS_S):
            return False
        if isinstance(exc, ConnectionRefusedError):
            return True
        return idempotent and isinstance(exc, (ConnectionResetError, ConnectionAbortedError,
                                               BrokenPipeError, http.RemoteDisconnected))

    def _unreachable(self, exc):
        import socket
        if isinstance(exc, socket.timeout):
            message = "The Trainyard server at {} did not answer in time ({}).".format(
                self.server_url, exc)
        else:
            message = ("Cannot reach the Trainyard server at {} ({}: {}). Is it running? Start "
                       "it with `trainyard up` in the project folder.".format(
                           self.server_url, type(exc).__name__, exc))
        return ServiceException(message, inner_exception=exc)

    def _finish(self, resp, method, target, stream_to):
        try:
            if resp.status >= 400:
                body = resp.read()
                self._raise_for_status(resp.status, resp.reason, body, method, target)
            if stream_to is not None:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    stream_to.write(chunk)
                data = None
            else:
                data = resp.read()
        except (OSError, _http_module().HTTPException) as exc:
            self._drop_connection()
            raise self._unreachable(exc) from None
        except BaseException:
            self._drop_connection()
            raise
        if resp.will_close:
            self._drop_connection()
        return Response(resp.status, resp.headers, data)

    @staticmethod
    def _raise_for_status(status, reason, body, method, target):
        code = None
        message = None
        try:
            err = json.loads(body).get("error") if body else None
            if isinstance(err, dict):
                code = err.get("code")
                message = err.get("message")
        except (ValueError, AttributeError):
            pass
        if not message:
            text = body.decode("utf-8", "replace").strip() if body else ""
            message = "{} {} failed: HTTP {} {}{}".format(
                method, target.split("?")[0], status, reason, (": " + text[:500]) if text else "")
        if status == 401:
            cls = AuthenticationException
            message += (" (check the token in .trainyard/config.json matches the running "
                        "server)")
        elif status < 500:
            cls = UserErrorException
        else:
            cls = ServiceException
        raise cls(message, status_code=status, code=code)

    def _connection(self, timeout):
        """Returns (connection, reused) for the calling thread."""
        local = self._local
        conn = getattr(local, "conn", None)
        pid = os.getpid()
        if conn is not None and local.pid != pid:
            conn = None  # inherited across fork: never share the parent's socket
        timeout = _DEFAULT_TIMEOUT_S if timeout is None else timeout
        if conn is None:
            http = _http_module()
            if self._https:
                conn = http.HTTPSConnection(self._host, self._port, timeout=timeout,
                                            blocksize=_CHUNK)
            else:
                conn = http.HTTPConnection(self._host, self._port, timeout=timeout,
                                           blocksize=_CHUNK)
            local.conn = conn
            local.pid = pid
        reused = conn.sock is not None
        if not reused:
            conn.timeout = timeout
            conn.connect()
            import socket
            try:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        elif conn.timeout != timeout:
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
        return conn, reused

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
            self._local.conn = None


_clients = {}
_clients_lock = threading.Lock()


def get_client(server_url, token):
    """Returns the process-wide :class:`RestClient` for (server_url, token)."""
    key = (server_url, token)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = RestClient(server_url, token)
    return client
