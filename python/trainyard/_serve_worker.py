"""Scoring worker of a Trainyard web service (started by ``trainyard serve``, one process per
worker; not meant to be run by hand).

It loads the entry script (``$TRAINYARD_ENTRY_SCRIPT``, with ``$TRAINYARD_SOURCE_DIR`` first on
``sys.path`` and as the working directory), calls its ``init()`` once, then answers requests
with ``run(raw_data)``: ``raw_data`` is the request body as a ``str`` and the return value is
sent back as JSON (numpy arrays and scalars are converted with ``tolist()``/``item()``).

Protocol (src/serve/frame.h): frames of a 4-byte big-endian length, a kind byte and the
payload, requests on fd 3 and answers on fd 4. An exception raised by ``run()`` that has an
``http_status`` attribute of 400 (the no-code scorer's input errors) is answered 400 with its
message; any other exception 500, with the traceback written to the service log.
Standard library only.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.pop(0)  # this folder holds modules named like stdlib ones (_json)

import importlib.util  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import traceback  # noqa: E402

REQUEST_FD = 3
ANSWER_FD = 4
_HEADER = struct.Struct(">IB")


def _read_exact(n):
    parts = []
    while n:
        chunk = os.read(REQUEST_FD, n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _send(kind, payload):
    data = _HEADER.pack(len(payload), ord(kind)) + payload
    view = memoryview(data)
    while view:
        written = os.write(ANSWER_FD, view)
        view = view[written:]


def _to_json(value):
    def default(obj):
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        if isinstance(obj, (set, tuple)):
            return list(obj)
        raise TypeError("run() returned a value of type {} that is not JSON "
                        "serializable".format(type(obj).__name__))
    return json.dumps(value, default=default, allow_nan=True)


def _load_entry_script(path):
    name = os.path.splitext(os.path.basename(path))[0]
    if not name.isidentifier() or name in sys.modules:
        name = "entry_script"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load the entry script {}".format(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _error_payload(prefix, exc):
    return json.dumps({"message": "{}{}: {}".format(prefix, type(exc).__name__, exc),
                       "traceback": traceback.format_exc()}).encode()


def main():
    entry = os.environ.get("TRAINYARD_ENTRY_SCRIPT", "")
    source_dir = os.environ.get("TRAINYARD_SOURCE_DIR")
    if source_dir:
        sys.path.insert(0, source_dir)
    try:
        module = _load_entry_script(entry)
        run = getattr(module, "run", None)
        if not callable(run):
            raise AttributeError("the entry script {} defines no run(raw_data) "
                                 "function".format(os.path.basename(entry)))
        init = getattr(module, "init", None)
        if callable(init):
            init()
    except BaseException as exc:  # noqa: B902 - report anything init() raises
        traceback.print_exc()
        sys.stderr.flush()
        _send("F", _error_payload("init() failed: ", exc))
        os._exit(3)
    sys.stdout.flush()
    _send("I", b"")
    while True:
        header = _read_exact(_HEADER.size)
        if header is None:
            return
        length, kind = _HEADER.unpack(header)
        body = _read_exact(length) if length else b""
        if body is None:
            return
        if kind != ord("R"):
            continue
        try:
            answer = _to_json(run(body.decode("utf-8", "replace")))
        except Exception as exc:  # noqa: B902 - every run() failure becomes an answer
            if getattr(exc, "http_status", None) == 400:
                _send("B", json.dumps({"message": str(exc)}).encode())
            else:
                traceback.print_exc()
                sys.stderr.flush()
                _send("E", _error_payload("", exc))
            continue
        _send("O", answer.encode())


if __name__ == "__main__":
    main()
