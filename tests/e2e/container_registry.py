"""A private container registry and a small image with Python for the container tests
(shared/MACHINE.md recipe).

- The image: `debootstrap --variant=minbase --include=python3,python3-pip bookworm`, docs and
  apt lists trimmed, a marker file /etc/trainyard-test-image added, tarred once per machine
  under $TRAINYARD_TEST_CACHE (default ~/.cache/trainyard-tests)/containers/ (about 2 minutes
  the first time, needs the Debian mirror; $TRAINYARD_TEST_DEBIAN_MIRROR overrides it).
- Podman: its own storage (--root/--runroot under the test dir), runc and lowered ulimits
  (this sandbox cannot start crun containers), written as Trainyard's containers config.
- Registry: Debian's `docker-registry serve CONFIG` on a free loopback port of 24000-24999,
  filesystem storage under the test dir, stopped by PID. Its access log counts manifest pulls.
"""
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("TRAINYARD_TEST_CACHE")
             or Path.home() / ".cache" / "trainyard-tests") / "containers"
ROOTFS_TAR = CACHE / "bookworm-python3-v1.tar"
MARKER = "/etc/trainyard-test-image"
MARKER_TEXT = "trainyard test image v1"
ULIMITS = ["nofile=20000:20000", "nproc=32768:32768"]


def _which(name):
    return shutil.which(name) or next(
        (p + "/" + name for p in ("/usr/sbin", "/sbin") if os.path.exists(p + "/" + name)), None)


def containers_available():
    """podman, runc and docker-registry, plus debootstrap unless the image tar is cached."""
    need = ["podman", "runc", "docker-registry"]
    if not ROOTFS_TAR.exists():
        need.append("debootstrap")
    return all(_which(n) for n in need)


def _unmount_under(path):
    """debootstrap mounts /proc (and more) in the target; a failed run leaves them there."""
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f]
    for p in sorted(points, key=len, reverse=True):
        if p == path or p.startswith(path + "/"):
            subprocess.run(["umount", "-l", p], capture_output=True)


def _remove_tree(path):
    if os.path.lexists(path):
        _unmount_under(path)
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def build_rootfs_tar():
    """The image's root filesystem as a tar, built once per machine (flock'ed)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ROOTFS_TAR.exists():
            return ROOTFS_TAR
        tmp = CACHE / "rootfs.tmp"
        _remove_tree(tmp)
        mirror = os.environ.get("TRAINYARD_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        r = subprocess.run([_which("debootstrap"), "--variant=minbase",
                            "--include=python3,python3-pip", "bookworm", str(tmp), mirror],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        _unmount_under(tmp)
        if r.returncode != 0:
            raise RuntimeError("debootstrap failed:\n" + r.stdout.decode(errors="replace")[-3000:])
        for junk in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
                     "var/cache/apt", "var/lib/apt/lists", "var/log"):
            _remove_tree(tmp / junk)
        (tmp / MARKER.lstrip("/")).write_text(MARKER_TEXT + "\n")
        part = CACHE / (ROOTFS_TAR.name + ".part")
        subprocess.run(["tar", "--one-file-system", "-C", str(tmp), "-cf", str(part), "."],
                       check=True)
        os.replace(part, ROOTFS_TAR)
        _remove_tree(tmp)
        return ROOTFS_TAR


def free_port_in_range(lo=24000, hi=24999):
    for port in list(range(lo + (os.getpid() % 500), hi)) + list(range(lo, hi)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


class Podman:
    """podman with private storage and this sandbox's runtime settings."""

    def __init__(self, root):
        self.root = Path(root)
        self.storage = self.root / "storage"
        self.runroot = self.root / "run"

    def settings(self, registries=None, pull_policy="missing"):
        return {"runtime": "runc", "ulimits": ULIMITS, "storage_root": str(self.storage),
                "run_root": str(self.runroot), "pull_policy": pull_policy,
                "registries": registries or {}}

    def cmd(self, *argv, timeout=300, check=True, input=None):
        full = ["podman", "--root", str(self.storage), "--runroot", str(self.runroot),
                "--runtime", "runc"] + list(argv)
        r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (" ".join(full), r.returncode,
                                                         r.stdout.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def cleanup(self):
        """Removes this store's containers and unmounts what podman mounted under it (its
        overlay dir is bind-mounted onto itself), so the test dir can be deleted."""
        self.cmd("rm", "-af", timeout=120, check=False)
        _unmount_under(self.root)

    def has_image(self, ref):
        return subprocess.run(["podman", "--root", str(self.storage), "--runroot",
                               str(self.runroot), "image", "exists", ref]).returncode == 0


class Registry:
    """`docker-registry serve` on a private loopback port."""

    def __init__(self, root):
        self.root = Path(root)
        self.port = free_port_in_range()
        self.host = "127.0.0.1:%d" % self.port
        self.log_path = self.root / "registry.log"
        self.proc = None

    def start(self, timeout=30):
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "config.yml"
        conf.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
            "http:\n  addr: %s\n" % (self.root / "data", self.host))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([_which("docker-registry"), "serve", str(conf)],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited:\n" + self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not listen on %s:\n%s" % (self.host,
                                                                           self.log_tail()))

    def manifest_gets(self, repository):
        """How many times a manifest of `repository` was fetched (GET, not HEAD)."""
        text = self.log_tail(10 ** 8)
        needle = '"GET /v2/%s/manifests/' % repository
        return text.count(needle)

    def log_tail(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def push_test_image(podman, registry, repository="trainyard-test/py", tag="1"):
    """Imports the cached rootfs tar into `podman`'s store, pushes it to `registry` and removes
    it from the store again (so that runs must pull it). Returns (reference, pushed digest)."""
    tar = build_rootfs_tar()
    ref = "%s/%s:%s" % (registry.host, repository, tag)
    podman.cmd("import", "--change", "CMD=/bin/sh", str(tar), ref, timeout=600)
    digest_file = podman.root / "pushed.digest"
    podman.cmd("push", "--tls-verify=false", "--digestfile", str(digest_file), ref, timeout=600)
    podman.cmd("rmi", "-f", ref)
    return ref, digest_file.read_text().strip()


def make_wheel(directory, name, version, module_body):
    """A minimal pure-Python wheel (what pip installs offline from --find-links)."""
    import base64
    import hashlib
    import zipfile
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dist = "%s-%s.dist-info" % (name, version)
    files = {
        "%s.py" % name: module_body,
        dist + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
        dist + "/WHEEL": "Wheel-Version: 1.0\nGenerator: trainyard-tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    for path, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=")
        record.append("%s,sha256=%s,%d" % (path, digest.decode(), len(body.encode())))
    record.append(dist + "/RECORD,,")
    files[dist + "/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / ("%s-%s-py3-none-any.whl" % (name, version))
    with zipfile.ZipFile(wheel, "w") as z:
        for path, body in files.items():
            z.writestr(path, body)
    return wheel
