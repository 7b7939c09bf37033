"""Where ``run.log*`` calls go: the metric sinks.

Three sinks share one interface, ``log(run_id, name, kind, value, step, description)`` plus
``flush()`` and ``flush_if_pending()``:

- :class:`SpoolSink` (inside a run started by the agent): appends one JSON line per call to
  the spool file named by ``TRAINYARD_SPOOL`` (REST.md "Spool format"); the agent ships the
  lines to the server. A call costs a few microseconds and no network.
- :class:`PosterSink` (interactive runs and runs fetched by id): batches points in memory and
  POSTs them from a background thread every 0.5 s or every 1000 points; ``flush()`` drains
  synchronously. Points carry a unique ``seq`` so a retried post is not stored twice.
- :class:`OfflineSink` (``Run.get_context()`` outside a run): prints what would be logged,
  as Azure ML's offline run does, and keeps the points for ``get_metrics()``.

Values are validated before they are queued, so a bad value fails at the ``log`` call and
never reaches (and blocks) the shipping path.
"""

import os
import sys
import threading
import time

from trainyard._json import dumps, dumps_scalar, encode_str, jsonable
from trainyard.exceptions import UserErrorException

SCALAR = "scalar"
LIST = "list"
ROW = "row"
TABLE = "table"
IMAGE = "image"

_BATCH_POINTS = 1000
_BATCH_INTERVAL_S = 0.5
_FLUSH_TIMEOUT_S = 30.0
_MAX_POINTS_PER_POST = 5000


def _is_scalar(v):
    t = type(v)
    return t is float or t is int or t is str or t is bool


def normalize(name, kind, value):
    """Returns ``value`` as the JSON value of a ``kind`` metric, or raises
    UserErrorException naming the metric. Non-finite floats become "NaN"/"Infinity"."""
    if not isinstance(name, str) or not name:
        raise UserErrorException("Metric name must be a non-empty string, got {!r}".format(name))
    try:
        v = jsonable(value)
    except TypeError as exc:
        raise UserErrorException(
            "Metric {!r}: cannot log a value of type {} ({})".format(
                name, type(value).__name__, exc)) from None
    if kind == SCALAR:
        ok = _is_scalar(v)
        what = "a number, string or bool"
    elif kind == LIST:
        ok = isinstance(v, list) and all(_is_scalar(x) for x in v)
        what = "a list of numbers, strings or bools"
    elif kind == ROW:
        ok = isinstance(v, dict) and all(_is_scalar(x) for x in v.values())
        what = "keyword arguments whose values are numbers, strings or bools"
    elif kind == TABLE:
        ok = isinstance(v, dict) and all(
            isinstance(col, list) and all(_is_scalar(x) for x in col) for col in v.values())
        what = "a dict of lists (column name -> values)"
    elif kind == IMAGE:
        ok = isinstance(v, dict) and isinstance(v.get("artifact"), str)
        what = "an uploaded image"
    else:
        raise UserErrorException("Unknown metric kind {!r}".format(kind))
    if not ok:
        raise UserErrorException("Metric {!r}: a {} metric must be {}, got {!r}".format(
            name, kind, what, value if len(repr(value)) < 200 else type(value).__name__))
    return v


def normalize_json_object(name, value):
    """Validates the JSON-object value of the Azure chart metrics (confusion matrix, accuracy
    table, predictions, residuals): a dict or its JSON text."""
    if isinstance(value, (str, bytes)):
        import json
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise UserErrorException("Metric {!r}: value is not valid JSON ({})".format(
                name, exc)) from None
    if not isinstance(value, dict):
        raise UserErrorException("Metric {!r}: value must be a dict or a JSON object string, "
                                 "got {}".format(name, type(value).__name__))
    try:
        return jsonable(value)
    except TypeError as exc:
        raise UserErrorException("Metric {!r}: {}".format(name, exc)) from None


def _now_ms():
    return int(time.time() * 1000)


def _check_step(step):
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if int(step) != step:
                raise ValueError
            step = int(step)
        except (TypeError, ValueError):
            raise UserErrorException("Metric step must be an integer, got {!r}".format(step)) \
                from None
    return step


class SpoolSink:
    """Appends metric lines to the agent's spool file (one ``os.write`` per line, O_APPEND).

    Thread- and fork-safe: lines from several threads or forked workers never interleave.
    """

    def __init__(self, path):
        self.path = path
        self._fd = None
        self._pending = False
        self._names = {}  # str -> encoded JSON string, names repeat

    def _open(self):
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        return self._fd

    def _write(self, line):
        data = line.encode("utf-8")
        fd = self._fd if self._fd is not None else self._open()
        while data:
            written = os.write(fd, data)
            data = data[written:]
        self._pending = True

    def log(self, run_id, name, kind, value, step=None, description=None):
        v = dumps_scalar(value) if kind == SCALAR else None
        if v is None or type(name) is not str or not name:
            v = dumps(normalize(name, kind, value))
        self._append(run_id, name, kind, v, step, description)

    def log_json(self, run_id, name, kind, value, description=None, label=None):
        """Logs an already validated JSON value (Azure's chart metrics)."""
        self._append(run_id, name, kind, dumps(value), None, description)

    def _append(self, run_id, name, kind, value_json, step, description):
        n = self._names.get(name)
        if n is None:
            n = self._names[name] = encode_str(name)
        line = '{"r":%s,"n":%s,"k":"%s","v":%s,"t":%d' % (
            encode_str(run_id), n, kind, value_json, _now_ms())
        if step is not None:
            line += ',"s":%d' % _check_step(step)
        if description:
            line += ',"d":' + encode_str(str(description))
        self._write(line + "}\n")

    def flush(self, timeout=_FLUSH_TIMEOUT_S):
        """Asks the agent to ship every line written so far and waits (at most ``timeout``
        seconds) for its acknowledgement in ``<spool>.ack``. Returns True when acknowledged."""
        token = os.urandom(12).hex()
        self._write('{"flush":"%s"}\n' % token)
        self._pending = False
        ack_path = self.path + ".ack"
        needle = token.encode("ascii")
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            try:
                with open(ack_path, "rb") as f:
                    if needle in f.read():
                        return True
            except FileNotFoundError:
                pass
            if time.monotonic() >= deadline:
                sys.stderr.write("trainyard: metrics flush was not acknowledged by the run agent "
                                 "within {:.0f} s; metrics are still shipped in the "
                                 "background.\n".format(timeout))
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def flush_if_pending(self):
        if self._pending:
            self.flush()


class PosterSink:
    """Batches metric points in memory and POSTs them to the server.

    A daemon thread posts every 0.5 s or as soon as 1000 points wait; ``flush()`` posts
    everything queued so far from the calling thread and raises if the server cannot take
    them. Points that could not be sent stay queued (in order) for the next attempt; points
    the server rejects as invalid (HTTP 4xx) are dropped with a warning on stderr. What is
    still queued at interpreter exit is flushed by an ``atexit`` hook.
    """

    def __init__(self, client):
        self._client = client
        self._cond = threading.Condition(threading.Lock())
        self._send_lock = threading.Lock()
        self._queue = []
        self._thread = None
        self._pid = os.getpid()
        # seq makes retried posts idempotent: unique per sink, far above the agent's spool
        # line numbers (microseconds since the epoch * 1000 + a counter).
        self._seq = time.time_ns() // 1000 * 1000

    def log(self, run_id, name, kind, value, step=None, description=None):
        self._enqueue(run_id, name, kind, normalize(name, kind, value), _check_step(step),
                      description)

    def log_json(self, run_id, name, kind, value, description=None, label=None):
        """Logs an already validated JSON value (Azure's chart metrics)."""
        self._enqueue(run_id, name, kind, value, None, description)

    def _enqueue(self, run_id, name, kind, value, step, description):
        point = {"run_id": run_id, "name": name, "kind": kind, "value": value,
                 "time": _now_ms()}
        if step is not None:
            point["step"] = step
        if description:
            point["description"] = str(description)
        with self._cond:
            self._seq += 1
            point["seq"] = self._seq
            self._queue.append(point)
            self._ensure_thread()
            if len(self._queue) >= _BATCH_POINTS:
                self._cond.notify()

    def _ensure_thread(self):
        if self._pid != os.getpid():  # forked child: the parent's thread does not exist here
            self._pid = os.getpid()
            self._thread = None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="trainyard-metrics",
                                            daemon=True)
            self._thread.start()
            _register_exit_flush(self)

    def _loop(self):
        failures = 0
        while True:
            with self._cond:
                if len(self._queue) < _BATCH_POINTS:
                    self._cond.wait(_BATCH_INTERVAL_S)
                if not self._queue:
                    continue
            try:
                self._send_queued()
                failures = 0
            except Exception:  # server unreachable: the points stay queued, retry later
                failures += 1
                time.sleep(min(_BATCH_INTERVAL_S * 2 ** failures, 10.0))

    def _send_queued(self):
        with self._send_lock:
            with self._cond:
                batch, self._queue = self._queue, []
            if not batch:
                return
            groups = {}
            for p in batch:
                groups.setdefault(p["run_id"], []).append(p)
            pending = list(groups.items())
            while pending:
                run_id, points = pending[0]
                try:
                    for i in range(0, len(points), _MAX_POINTS_PER_POST):
                        self._post(run_id, points[i:i + _MAX_POINTS_PER_POST])
                except UserErrorException as exc:
                    sys.stderr.write("trainyard: dropped {} metric point(s) of run {}: "
                                     "{}\n".format(len(points), run_id, exc))
                except Exception:
                    with self._cond:  # put back what was not sent, in order
                        self._queue[:0] = [p for _, pts in pending for p in pts]
                    raise
                pending.pop(0)

    def _post(self, run_id, points):
        from trainyard._http import quote_path
        self._client.post("/api/v1/runs/{}/metrics".format(quote_path(run_id)),
                          {"metrics": points}, idempotent=True)

    def flush(self):
        self._send_queued()

    def flush_if_pending(self):
        if self._queue:
            self._send_queued()


class OfflineSink:
    """Prints what would be logged (Azure ML's offline run format) and keeps the points."""

    def __init__(self):
        self.points = {}  # run id -> [(name, kind, value)]

    def log(self, run_id, name, kind, value, step=None, description=None, label=None):
        print("Attempted to log {0} metric {1}:\n{2}".format(label or kind, name, value))
        try:
            stored = jsonable(value)
        except TypeError:
            stored = value
        self.points.setdefault(run_id, []).append((name, kind, stored))

    def log_json(self, run_id, name, kind, value, description=None, label=None):
        self.log(run_id, name, kind, value, None, description, label)

    def flush(self):
        pass

    def flush_if_pending(self):
        pass


def aggregate(points):
    """Folds (name, kind, value) points in log order into Azure's ``get_metrics`` shape:
    a scalar logged once is its value and several times a list; a list metric is the last
    list; rows become a dict of column lists; a table is the last dict; an image is the
    artifact path."""
    out = {}
    count = {}
    kinds = {}
    for name, kind, value in points:
        if kinds.get(name) != kind:
            kinds[name] = kind
            count[name] = 0
            out.pop(name, None)
        count[name] += 1
        if kind == SCALAR:
            if count[name] == 1:
                out[name] = value
            elif count[name] == 2:
                out[name] = [out[name], value]
            else:
                out[name].append(value)
        elif kind == ROW:
            cols = out.setdefault(name, {})
            for k, v in value.items():
                cols.setdefault(k, []).append(v)
        elif kind == IMAGE:
            out[name] = value.get("artifact") if isinstance(value, dict) else value
        elif kind == LIST:
            out[name] = list(value)
        else:
            out[name] = value
    return out


_sinks_lock = threading.Lock()
_spool_sinks = {}
_poster_sinks = {}
_exit_flush = []


def spool_sink(path):
    """The process-wide :class:`SpoolSink` for ``path``."""
    with _sinks_lock:
        sink = _spool_sinks.get(path)
        if sink is None:
            sink = _spool_sinks[path] = SpoolSink(path)
        return sink


def poster_sink(client):
    """The process-wide :class:`PosterSink` for a :class:`trainyard._http.RestClient`."""
    with _sinks_lock:
        sink = _poster_sinks.get(id(client))
        if sink is None:
            sink = _poster_sinks[id(client)] = PosterSink(client)
        return sink


def _register_exit_flush(sink):
    with _sinks_lock:
        if sink in _exit_flush:
            return
        if not _exit_flush:
            import atexit
            atexit.register(_flush_at_exit)
        _exit_flush.append(sink)


def _flush_at_exit():
    for sink in list(_exit_flush):
        try:
            sink.flush()
        except Exception as exc:
            sys.stderr.write("trainyard: could not send the remaining metrics at exit: "
                             "{}\n".format(exc))
