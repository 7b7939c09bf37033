"""Helpers for the end-to-end tests: a real `trainyard server` subprocess and small utilities.

Nothing here mocks Trainyard: the server is the built binary, the client is the SDK or urllib.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
TERMINAL = ("Completed", "Failed", "Canceled")


def trainyard_bin():
    return os.environ.get("TRAINYARD_BIN") or str(REPO / "build" / "trainyard")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, headers=None, timeout=30):
    """One HTTP request; returns (status, headers, body bytes). Never raises on HTTP errors."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Server:
    """A `trainyard server --data DIR --port PORT` subprocess.

    The client config (name, server_url, token, data_dir) is written to `config_path`, which the
    tests export as TRAINYARD_CONFIG. restart() brings the server back on the same data dir and port.
    """

    def __init__(self, root, port=None, extra_args=(), env=None):
        self.root = Path(root)
        self.data_dir = self.root / ".trainyard"
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.process_env = env  # the server's environment (None: this process's)
        self.url = "http://127.0.0.1:%d" % self.port
        self.config_path = self.root / "client-config.json"
        self.log_path = self.root / "server.log"
        self.project_dir = self.root / "project"
        self.proc = None
        self.token = None
        self.starts = 0

    def start(self, timeout=60):
        self.root.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(("\n==== start %d ====\n" % self.starts).encode())
        log.flush()
        cmd = [trainyard_bin(), "server", "--data", str(self.data_dir), "--host", "127.0.0.1",
               "--port", str(self.port)] + self.extra_args
        # Its own session: teardown can end the server and every agent/run it started.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=self.process_env)
        log.close()
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("trainyard server exited with %s:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                status, _, body = http("GET", self.url + "/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("trainyard server did not answer /healthz within %ss:\n%s"
                                   % (timeout, self.log_tail()))
            time.sleep(0.1)
        cfg = json.loads((self.data_dir / "config.json").read_text())
        self.token = cfg["token"]
        client = {"name": cfg.get("name") or "e2e", "server_url": self.url,
                  "token": self.token, "data_dir": str(self.data_dir)}
        self.config_path.write_text(json.dumps(client))
        os.chmod(self.config_path, 0o600)
        # A project folder whose .trainyard/config.json is the client config: the cwd for CLI
        # commands, which find the workspace by walking up like Workspace.from_config().
        self.project_dir.joinpath(".trainyard").mkdir(parents=True, exist_ok=True)
        self.project_dir.joinpath(".trainyard", "config.json").write_text(json.dumps(client))
        os.chmod(self.project_dir / ".trainyard" / "config.json", 0o600)
        return self

    def log_tail(self, n=4000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self):
        """SIGKILL the server process only (its agents and runs live on)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=15):
        """SIGTERM and wait; then SIGKILL whatever is left of the server's process group."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        kill_agents_of(self.data_dir, self.url)

    def restart(self, timeout=60):
        self.stop()
        return self.start(timeout)

    def env(self, **extra):
        """Environment for a subprocess (driver script, CLI) talking to this server."""
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("TRAINYARD_", "AZUREML_")) and k != "TRAINYARD_BIN":
                del env[k]
        env["TRAINYARD_CONFIG"] = str(self.config_path)
        env["PYTHONPATH"] = str(PYTHON_DIR) + (os.pathsep + env["PYTHONPATH"]
                                               if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def workspace(self):
        from trainyard.core import Workspace
        return Workspace.from_config(path=str(self.config_path))


def _proc_table():
    """{pid: (ppid, sid, cmdline)} of the processes we can see."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        table[int(d)] = (int(fields[1]), int(fields[3]), cmd)
    return table


def kill_agents_of(data_dir, server_url=None):
    """SIGKILL the agents a test server started for `data_dir` (they run in sessions of their
    own, so they outlive the server's process group) and everything below them. HTTP-only
    agents (--node-dir) are found by their --server URL."""
    table = _proc_table()
    needles = [" %s " % data_dir] + ([" --server %s " % server_url] if server_url else [])
    agents = [pid for pid, (_, _, cmd) in table.items()
              if " agent " in cmd and any(n in (cmd + " ") for n in needles)]
    doomed = set(agents)
    sids = {table[p][1] for p in agents}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, sid, _) in table.items():
            if pid not in doomed and (ppid in doomed or (sid in sids and sid != os.getsid(0))):
                doomed.add(pid)
                changed = True
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def write_script(directory, name, body):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(body).lstrip())
    return directory / name


def wait_status(run, statuses=TERMINAL, timeout=180, interval=0.2):
    """Poll run.get_status() until it is one of `statuses`; returns it or fails the test."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status = run.get_status()
        if status in statuses:
            return status
        time.sleep(interval)
    raise AssertionError("run %s still %r after %ss (wanted %s)" % (run.id, status, timeout, statuses))


def wait_for(predicate, timeout=60, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def pid_alive(pid):
    """True when the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def error_text(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def python_exe():
    return sys.executable
