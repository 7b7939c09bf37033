"""Shared pieces of the benchmarks: a private `trainyard server`, timing and reporting helpers.

Every benchmark starts its own server on a free loopback port with a fresh data directory, so
results do not depend on what a developer's workspace holds.
"""
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON_DIR = REPO / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def trainyard_bin():
    return os.environ.get("TRAINYARD_BIN") or str(REPO / "build" / "trainyard")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited (%s) before %s answered:\n%s"
                               % (proc.returncode, url, tail(log)))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError("%s did not answer within %ss:\n%s" % (url, timeout, tail(log)))


def tail(path, n=3000):
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except (OSError, TypeError):
        return ""


class TrainyardServer:
    def __init__(self, *extra_args):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainyard-bench-")
        self.root = Path(self.tmp.name)
        self.data_dir = self.root / ".trainyard"
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.extra_args = list(extra_args)
        self.log = self.root / "server.log"
        self.proc = None

    def __enter__(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [trainyard_bin(), "server", "--data", str(self.data_dir), "--host", "127.0.0.1",
                 "--port", str(self.port)] + self.extra_args,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_http(self.url + "/healthz", proc=self.proc, log=self.log)
        cfg = json.loads((self.data_dir / "config.json").read_text())
        self.token = cfg["token"]
        self.config_path = self.root / "client-config.json"
        self.config_path.write_text(json.dumps({
            "name": cfg.get("name") or "bench", "server_url": self.url, "token": self.token,
            "data_dir": str(self.data_dir)}))
        os.environ["TRAINYARD_CONFIG"] = str(self.config_path)
        return self

    def workspace(self):
        from trainyard.core import Workspace
        return Workspace.from_config(path=str(self.config_path))

    def __exit__(self, *exc):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        kill_agents_of(self.data_dir)
        os.environ.pop("TRAINYARD_CONFIG", None)
        self.tmp.cleanup()


def kill_agents_of(data_dir):
    """SIGKILL the agents (own sessions, so they outlive the server) that a bench server started
    for `data_dir`, and their process trees."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace") + " "
                procs[int(d)] = (ppid, cmd)
            except OSError:
                pass
    doomed = {p for p, (_, cmd) in procs.items()
              if " agent " in cmd and " %s " % data_dir in cmd}
    grew = True
    while grew:
        grew = False
        for p, (ppid, _) in procs.items():
            if ppid in doomed and p not in doomed:
                doomed.add(p)
                grew = True
    for p in doomed:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def median(xs):
    return statistics.median(xs)


def machine():
    return "%s, %d cores, Python %s" % (platform.platform(terse=True), os.cpu_count() or 0,
                                        platform.python_version())


def result_line(figure, text, ratio, goal_text, met):
    line = "RESULT %s: %s; ratio %s (goal %s) -> %s" % (
        figure, text, ratio, goal_text, "MET" if met else "NOT MET")
    print(line, flush=True)
    out = os.environ.get("BENCH_RESULTS")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
    return line
