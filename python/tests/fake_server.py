"""An in-memory stand-in for the Trainyard server (the subset of docs/REST.md the SDK uses),
for SDK unit tests that must not depend on the C++ server. Script runs are "executed" by a
thread that walks the statuses, writes the driver log and exits with the exit code given in
the script's first line (``# exit: 1``), or 0.
"""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TERMINAL = {"Completed", "Failed", "Canceled"}


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class FakeState:
    def __init__(self, token):
        self.token = token
        self.cond = threading.Condition()
        self.experiments = {}
        self.runs = {}
        self.run_order = []
        self.metrics = {}  # run id -> [point]
        self.artifacts = {}  # run id -> {path: bytes}
        self.logs = {}  # run id -> {name: bytearray}
        self.blobs = {}
        self.models = []
        self.snapshots = {}
        self.requests = []
        self.port = None

    def set_status(self, run_id, status, error=None):
        with self.cond:
            run = self.runs[run_id]
            run["status"] = status
            if status == "Running" and not run["start_time_utc"]:
                run["start_time_utc"] = _now()
            if status in TERMINAL:
                run["end_time_utc"] = _now()
            if error is not None:
                run["error"] = error
            self.cond.notify_all()

    def append_log(self, run_id, name, data):
        with self.cond:
            self.logs.setdefault(run_id, {}).setdefault(name, bytearray()).extend(data)
            self.runs[run_id]["log_files"][name] = "http://fake/{}".format(name)
            self.cond.notify_all()


def _execute(state, run_id, script_text):
    exit_code = 0
    first = script_text.splitlines()[0] if script_text else ""
    if first.startswith("# exit:"):
        exit_code = int(first.split(":", 1)[1])
    for status in ("Preparing", "Starting", "Running"):
        time.sleep(0.01)
        state.set_status(run_id, status)
        if status == "Preparing" and "# build" in script_text:
            state.append_log(run_id, "azureml-logs/20_image_build_log.txt", b"building env\n")
            time.sleep(0.05)
            state.append_log(run_id, "azureml-logs/20_image_build_log.txt", b"built\n")
            time.sleep(0.05)
    state.append_log(run_id, "azureml-logs/70_driver_log.txt", b"hello from the script\n")
    time.sleep(0.02)
    state.append_log(run_id, "azureml-logs/70_driver_log.txt", "second line \u00e9\n".encode())
    state.set_status(run_id, "Finalizing")
    state.artifacts.setdefault(run_id, {})["outputs/model.joblib"] = b"MODEL"
    time.sleep(0.02)
    if exit_code:
        state.set_status(run_id, "Failed", {"message": "Script exited with code {}".format(
            exit_code), "traceback": "Traceback: boom"})
    else:
        state.set_status(run_id, "Completed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state = None

    def log_message(self, *args):
        pass

    def _send(self, status, body=None, raw=None, headers=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None
                         else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, code, message):
        self._send(status, {"error": {"code": code, "message": message}})

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self):
        data = self._body()
        return json.loads(data) if data else {}

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_PATCH(self):
        self._route("PATCH")

    def _route(self, method):
        st = self.state
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.split("/") if p]
        st.requests.append((method, url.path, url.query))
        if self.headers.get("Authorization") != "Bearer " + st.token:
            self._body()
            return self._error(401, "Unauthorized", "bad token")
        try:
            return self._dispatch(method, parts[2:], q)
        except KeyError as exc:
            return self._error(404, "NotFound", "not found: {}".format(exc))

    def _dispatch(self, method, p, q):
        st = self.state
        if p == ["workspace"]:
            return self._send(200, {"name": "ws", "id": "1", "data_dir": "/tmp",
                                    "server_url": "x", "compute_targets": ["local"]})
        if p[0] == "experiments":
            if len(p) == 1:
                return self._send(200, {"experiments": list(st.experiments.values())})
            name = p[1]
            if len(p) == 2 and method == "PUT":
                exp = st.experiments.setdefault(name, {"name": name, "id": str(
                    len(st.experiments) + 1), "created_utc": _now()})
                return self._send(200, exp)
            if len(p) == 3 and method == "POST":
                return self._create_run(name, self._json())
            if len(p) == 3 and method == "GET":
                runs = [st.runs[r] for r in reversed(st.run_order)
                        if st.runs[r]["experiment"] == name]
                if "include_children" not in q:
                    runs = [r for r in runs if not r["parent_id"]]
                for tag in q.get("tag", []):
                    k, _, v = tag.partition("=")
                    runs = [r for r in runs if k in r["tags"] and (not v or r["tags"][k] == v)]
                return self._send(200, {"runs": runs})
        if p[0] == "runs":
            run = st.runs[p[1]]
            rid = run["id"]
            if len(p) == 2:
                if "wait_ms" in q:
                    deadline = time.time() + int(q["wait_ms"][0]) / 1000.0
                    with st.cond:
                        while run["status"] == q["status"][0] and time.time() < deadline:
                            st.cond.wait(deadline - time.time())
                return self._send(200, run)
            sub = p[2]
            if sub == "status":
                body = self._json()
                if run["status"] in TERMINAL and body["status"] != run["status"]:
                    return self._error(409, "Conflict", "run is terminal")
                st.set_status(rid, body["status"], body.get("error"))
                return self._send(200, run)
            if sub == "cancel":
                st.set_status(rid, "Canceled")
                return self._send(200, run)
            if sub in ("tags", "properties"):
                body = self._json()
                if sub == "properties":
                    for k, v in body.items():
                        if run["properties"].get(k, v) != v:
                            return self._error(409, "Conflict", "property {} is set".format(k))
                run[sub].update({k: "" if v is None else v for k, v in body.items()})
                return self._send(200, {sub: run[sub]})
            if sub == "metrics" and method == "POST":
                points = self._json()["metrics"]
                stored = st.metrics
                for point in points:
                    target = point.get("run_id") or rid
                    seen = {x.get("seq") for x in stored.get(target, [])}
                    if point.get("seq") is not None and point["seq"] in seen:
                        continue
                    stored.setdefault(target, []).append(point)
                return self._send(200, {"accepted": len(points)})
            if sub == "metrics":
                from trainyard.core._metrics import aggregate
                pts = [(x["name"], x["kind"], x["value"]) for x in st.metrics.get(rid, [])]
                return self._send(200, {"metrics": aggregate(pts)})
            if sub == "children":
                kids = [r for r in st.runs.values() if r["parent_id"] == rid]
                return self._send(200, {"runs": kids})
            if sub == "artifacts":
                files = st.artifacts.setdefault(rid, {})
                if len(p) == 3:
                    listing = [{"path": k, "size": len(v),
                                "sha256": hashlib.sha256(v).hexdigest()}
                               for k, v in sorted(files.items())]
                    return self._send(200, {"files": listing})
                path = "/".join(p[3:])
                if method == "PUT":
                    data = self._body()
                    files[path] = data
                    return self._send(200, {"path": path, "size": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()})
                return self._send(200, raw=bytes(files[path]))
            if sub == "logs":
                name = "/".join(p[3:])
                offset = int(q.get("offset", ["0"])[0])
                wait = int(q.get("wait_ms", ["0"])[0]) / 1000.0
                deadline = time.time() + wait
                with st.cond:
                    while True:
                        data = st.logs.get(rid, {}).get(name)
                        if (data is not None and len(data) > offset) or \
                                run["status"] in TERMINAL or time.time() >= deadline:
                            break
                        st.cond.wait(deadline - time.time())
                    if data is None:
                        return self._error(404, "NotFound", "no log {}".format(name))
                    chunk = bytes(data[offset:])
                    return self._send(200, raw=chunk, headers={"X-Log-Size": str(len(data)),
                                                               "X-Run-Status": run["status"]})
            if sub == "snapshot":
                return self._send(200, st.snapshots[rid])
        if p[0] == "blobs":
            if p[1] == "missing":
                return self._send(200, {"missing": [s for s in self._json()["sha256"]
                                                    if s not in st.blobs]})
            if method == "PUT":
                data = self._body()
                if hashlib.sha256(data).hexdigest() != p[1]:
                    return self._error(400, "InvalidInput", "hash mismatch")
                st.blobs[p[1]] = data
                return self._send(200, {"sha256": p[1], "size": len(data)})
            return self._send(200, raw=st.blobs[p[1]])
        if p[0] == "models":
            if method == "POST":
                return self._register_model(self._json())
            models = list(reversed(st.models))
            if len(p) == 1:
                if "name" in q:
                    models = [m for m in models if m["name"] == q["name"][0]]
                if "latest" in q:
                    seen = set()
                    models = [m for m in models if not (m["name"] in seen or seen.add(
                        m["name"]))]
                return self._send(200, {"models": models})
            matches = [m for m in models if m["name"] == p[1]]
            if len(p) == 4:
                matches = [m for m in matches if str(m["version"]) == p[3]]
            if not matches:
                return self._error(404, "NotFound", "model {} not found".format(p[1]))
            return self._send(200, matches[0])
        return self._error(404, "NotFound", "no route")

    def _create_run(self, experiment, body):
        st = self.state
        st.experiments.setdefault(experiment, {"name": experiment, "id": "x",
                                               "created_utc": _now()})
        kind = body["kind"]
        rid = body.get("run_id") or "{}_{}".format(experiment, len(st.runs) + 1)
        config = body.get("config") or {}
        status = body.get("status") or ("Queued" if kind == "script" else "Running")
        run = {"id": rid, "number": len(st.runs) + 1, "experiment": experiment,
               "parent_id": body.get("parent_id"), "kind": kind,
               "display_name": body.get("display_name") or "", "status": status,
               "created_utc": _now(), "start_time_utc": None, "end_time_utc": None,
               "tags": dict(body.get("tags") or {}), "properties": {},
               "compute_target": config.get("compute_target", "local"),
               "script": config.get("script"), "command": config.get("command"),
               "arguments": config.get("arguments", []), "snapshot_id": None,
               "environment": config.get("environment"), "git": None, "error": None,
               "exit_code": None, "portal_url": "http://127.0.0.1:{}/runs/{}".format(
                   st.port, rid), "log_files": {}, "_body": body}
        st.runs[rid] = run
        st.run_order.append(rid)
        if kind == "script":
            import os
            path = os.path.join(config["source_directory"], config["script"])
            if not os.path.isfile(path):
                del st.runs[rid]
                st.run_order.pop()
                return self._error(400, "InvalidInput", "script {} not found in {}".format(
                    config["script"], config["source_directory"]))
            with open(path) as f:
                text = f.read()
            data = text.encode()
            sha = hashlib.sha256(data).hexdigest()
            st.blobs[sha] = data
            st.snapshots[rid] = {"snapshot_id": "snap" + sha[:8], "files": [
                {"path": config["script"], "sha256": sha, "size": len(data),
                 "executable": False}]}
            threading.Thread(target=_execute, args=(st, rid, text), daemon=True).start()
        return self._send(201, run)

    def _register_model(self, body):
        st = self.state
        if body.get("run_id"):
            files = st.artifacts.get(body["run_id"], {})
            prefix = body["model_path"]
            matched = {k: v for k, v in files.items() if k == prefix or k.startswith(
                prefix + "/")}
            if not matched:
                return self._error(400, "InvalidInput", "model_path {} matches nothing".format(
                    prefix))
            entries = []
            parent = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
            for k, v in matched.items():
                sha = hashlib.sha256(v).hexdigest()
                st.blobs[sha] = v
                entries.append({"path": k[len(parent):], "sha256": sha, "size": len(v)})
            root = prefix.rsplit("/", 1)[-1]
        else:
            entries = body["files"]
            for e in entries:
                if e["sha256"] not in st.blobs:
                    return self._error(400, "InvalidInput", "blob missing")
            root = body["path"]
        version = 1 + sum(1 for m in st.models if m["name"] == body["name"])
        model = {"id": "{}:{}".format(body["name"], version), "name": body["name"],
                 "version": version, "created_utc": _now(), "run_id": body.get("run_id"),
                 "experiment": None, "description": body.get("description"),
                 "tags": body.get("tags") or {}, "properties": body.get("properties") or {},
                 "model_framework": body.get("model_framework"),
                 "model_framework_version": body.get("model_framework_version"),
                 "resource_configuration": body.get("resource_configuration"),
                 "path": root, "files": entries, "datasets": body.get("datasets") or []}
        st.models.append(model)
        return self._send(201, model)


class FakeServer:
    """Runs the fake server on a free port: ``with FakeServer() as server: server.url``."""

    def __init__(self, token="secret", port=0, idle_timeout=None):
        self.state = FakeState(token)
        handler = type("BoundHandler", (Handler,), {"state": self.state,
                                                     "timeout": idle_timeout})
        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.state.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:{}".format(self.state.port)
        self.token = token
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
