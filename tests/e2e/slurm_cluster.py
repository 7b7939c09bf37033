"""A private Slurm cluster on this host for the tests (shared/MACHINE.md recipe).

munged with its own key and socket, slurmctld and N x `slurmd -N nI` (separate nodes on one
host: own spool, TmpFS=.../%n, own ports), all started as plain processes and stopped by PID.
Commands talk to it through SLURM_CONF (AuthInfo names the private munge socket).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SLURM_PACKAGES = ("slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scancel",
                  "munged")


def slurm_available():
    return all(shutil.which(p) or os.path.exists("/usr/sbin/" + p) for p in SLURM_PACKAGES)


def _free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _consecutive_free_ports(n):
    for _ in range(200):
        base = _free_ports(1)[0]
        if base + n > 65000:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no run of %d free ports" % n)


def _which(name):
    return shutil.which(name) or "/usr/sbin/" + name


class SlurmCluster:
    def __init__(self, root, nodes=2, cpus=2, partition="main", extra_conf=""):
        self.root = Path(root)
        self.nodes = ["n%d" % (i + 1) for i in range(nodes)]
        self.cpus = cpus
        self.partition = partition
        self.extra_conf = extra_conf
        self.procs = {}
        self.conf = self.root / "slurm.conf"

    @property
    def env(self):
        e = dict(os.environ)
        e["SLURM_CONF"] = str(self.conf)
        return e

    def run(self, *argv, check=True, timeout=30):
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                              check=check, timeout=timeout)

    def start(self, timeout=60):
        d = self.root
        d.mkdir(parents=True, exist_ok=True)
        for sub in ["state", "munge"] + ["spool/" + n for n in self.nodes] + \
                ["tmp/" + n for n in self.nodes]:
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(d / "munge", 0o700)
        key = d / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            os.chmod(key, 0o400)
        self.munge_sock = d / "munge" / "sock"
        subprocess.run([_which("munged"), "--force", "-S", str(self.munge_sock),
                        "--key-file=%s" % key, "--log-file=%s" % (d / "munged.log"),
                        "--pid-file=%s" % (d / "munge" / "pid"),
                        "--seed-file=%s" % (d / "munge" / "seed")], check=True)
        self.ctld_port = _free_ports(1)[0]
        base = _consecutive_free_ports(len(self.nodes))
        self.conf.write_text("\n".join([
            "ClusterName=trainyard%d" % self.ctld_port,
            "SlurmctldHost=localhost",
            "SlurmctldPort=%d" % self.ctld_port,
            "AuthType=auth/munge",
            "AuthInfo=socket=%s" % self.munge_sock,
            "CredType=cred/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            "StateSaveLocation=%s" % (d / "state"),
            "SlurmdSpoolDir=%s" % (d / "spool" / "%n"),
            "TmpFS=%s" % (d / "tmp" / "%n"),
            "SlurmctldPidFile=%s" % (d / "slurmctld.pid"),
            "SlurmdPidFile=%s" % (d / "slurmd-%n.pid"),
            "SlurmctldLogFile=%s" % (d / "slurmctld.log"),
            "SlurmdLogFile=%s" % (d / "slurmd-%n.log"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MinJobAge=4",
            "KillWait=5",
            "SlurmdTimeout=10",
            "InactiveLimit=0",
            "NodeName=%s NodeHostname=localhost NodeAddr=127.0.0.1 Port=%d-%d CPUs=%d "
            "RealMemory=1000" % ("n[1-%d]" % len(self.nodes), base, base + len(self.nodes) - 1,
                                 self.cpus),
            "PartitionName=%s Nodes=n[1-%d] Default=YES MaxTime=INFINITE State=UP" % (
                self.partition, len(self.nodes)),
            self.extra_conf, ""]))
        self.procs["slurmctld"] = subprocess.Popen(
            [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)], env=self.env,
            stdout=subprocess.DEVNULL, stderr=open(d / "slurmctld.err", "w"))
        for n in self.nodes:
            self.start_node(n)
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False)
            states = dict(line.split() for line in r.stdout.splitlines() if line.strip())
            if len(states) == len(self.nodes) and all(s == "idle" for s in states.values()):
                return self
            time.sleep(0.3)
        raise RuntimeError("Slurm did not come up: %s\n%s" % (
            r.stdout + r.stderr, self.log_tail()))

    def start_node(self, name):
        self.procs[name] = subprocess.Popen(
            [_which("slurmd"), "-D", "-N", name, "-f", str(self.conf)], env=self.env,
            stdout=subprocess.DEVNULL, stderr=open(self.root / ("slurmd-%s.err" % name), "w"))

    def kill_node(self, name):
        p = self.procs.pop(name, None)
        if p is not None:
            p.kill()
            p.wait()

    def log_tail(self, n=3000):
        out = []
        for f in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.err")):
            out.append("== %s\n%s" % (f.name, f.read_text(errors="replace")[-n:]))
        return "\n".join(out)

    def stop(self):
        try:
            self.run("scancel", "--full", "-p", self.partition, check=False, timeout=10)
        except Exception:
            pass
        for name in list(self.procs):
            p = self.procs.pop(name)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        pidfile = self.root / "munge" / "pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
