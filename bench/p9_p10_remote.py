"""P9 and P10: runs on an attached machine (RemoteCompute over SSH), against plain ssh/rsync to
the same machine in the same run.

    sudo python3 bench/p9_p10_remote.py [--reps 10] [--quick] [--only p9|p10]

The 'machine' is tests/e2e/remote_node.py: a real sshd in its own network namespace (a veth pair,
its own address) with its own user; the trainyard server listens on loopback and its agents reach
it through the target's SSH reverse tunnel — the same path as an attached VM with a
loopback-only server.

P9: a no-op script submitted to the attached target, submit -> Completed (wait_for_completion in
    the driver), divided by `ssh user@node python3 noop.py` (a fresh ssh connection each time, as
    a user types it; the multiplexed figure is printed too). Goal <= 1.5x.
P10: a 100 MB / 2,000-file source directory submitted twice unchanged: bytes over the wire (the
    veth's rx+tx counters) of the second submission <= 1% of the directory's bytes; the first
    submission's throughput (directory bytes / submit->Completed) >= 50% of
    `rsync -a dir user@node:dir` throughput on the same link.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests" / "e2e"))
from remote_node import RemoteNode, can_run  # noqa: E402


def node_env():
    from trainyard.core import Environment
    env = Environment("node-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = "python3"
    return env


def veth_bytes(node):
    base = Path("/sys/class/net") / node.veth_host / "statistics"
    return int((base / "rx_bytes").read_text()) + int((base / "tx_bytes").read_text())


def attach(ws, node):
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    cfg = RemoteCompute.attach_configuration(username=node.username, address=node.address,
                                             ssh_port=node.port, private_key_file=str(node.key))
    t = ComputeTarget.attach(ws, "bench-vm", cfg)
    t.wait_for_completion(show_output=True)
    return t


def submit(ws, src, script, name):
    from trainyard.core import Experiment, ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src), script=script, compute_target="bench-vm",
                          environment=node_env())
    t0 = time.perf_counter()
    run = Experiment(ws, name).submit(cfg)
    submit.accepted = time.perf_counter() - t0  # the server took the snapshot
    run.wait_for_completion(show_output=False)
    dt = time.perf_counter() - t0
    run.wait_for_completion(wait_post_processing=True)
    assert run.get_status() == "Completed", run.get_details()
    submit.last_run = run
    return dt


def p9(ws, node, reps, tmp):
    src = Path(tmp, "p9")
    src.mkdir()
    (src / "noop.py").write_text("pass\n")
    node.ssh("mkdir -p bench && printf 'pass\\n' > bench/noop.py")
    warm = submit(ws, src, "noop.py", "bench-p9")
    print("warm-up: %.3f s" % warm, flush=True)
    ours = [submit(ws, src, "noop.py", "bench-p9") for _ in range(reps)]
    plain = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = node.ssh("python3 bench/noop.py")
        plain.append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr
    # A stricter yardstick: the same command over an already-open shared connection
    # (ControlMaster), which is what Trainyard's own calls use.
    ctl = Path(tmp, "p9.ctl")
    base = ["ssh", "-F", "/dev/null", "-i", str(node.key), "-o", "BatchMode=yes", "-o",
            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
            "LogLevel=ERROR", "-o", "ControlPath=%s" % ctl, "-l", node.username]
    master = subprocess.Popen(base + ["-M", "-N", node.address])
    for _ in range(100):
        if ctl.exists():
            break
        time.sleep(0.05)
    shared = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(base + [node.address, "python3 bench/noop.py"], check=True)
        shared.append(time.perf_counter() - t0)
    master.terminate()
    master.wait()
    m_shared = benchlib.median(shared)
    print("ssh (shared connection) python3 noop.py median %.1f ms (min %.1f, n=%d)"
          % (m_shared * 1e3, min(shared) * 1e3, reps))
    print("ratio against the shared connection: %.2fx" % (benchlib.median(ours) / m_shared))
    m_ours, m_plain = benchlib.median(ours), benchlib.median(plain)
    print("submit->Completed median %.1f ms (min %.1f, max %.1f, n=%d)"
          % (m_ours * 1e3, min(ours) * 1e3, max(ours) * 1e3, reps))
    print("ssh host python3 noop.py median %.1f ms (min %.1f, max %.1f, n=%d)"
          % (m_plain * 1e3, min(plain) * 1e3, max(plain) * 1e3, reps))
    ratio = m_ours / m_plain
    benchlib.result_line("P9", "submit->Completed %.0f ms vs ssh python3 noop.py %.0f ms"
                         % (m_ours * 1e3, m_plain * 1e3), "%.2fx" % ratio, "<= 1.5x",
                         ratio <= 1.5)


def p10(ws, node, tmp, files=2000, total_mb=100):
    src = Path(tmp, "p10")
    src.mkdir()
    (src / "noop.py").write_text("pass\n")
    size = total_mb * 1024 * 1024 // (files - 1)
    for i in range(files - 1):
        d = src / ("d%02d" % (i % 50))
        d.mkdir(exist_ok=True)
        (d / ("f%04d.bin" % i)).write_bytes(os.urandom(size))
    dir_bytes = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    b0 = veth_bytes(node)
    first = submit(ws, src, "noop.py", "bench-p10")
    b1 = veth_bytes(node)
    print("first submission: snapshot taken by the server after %.2f s" % submit.accepted)
    second = submit(ws, src, "noop.py", "bench-p10")
    b2 = veth_bytes(node)
    t0 = time.perf_counter()
    r = subprocess.run(
        ["rsync", "-a", "-e", "ssh -F /dev/null -i %s -o BatchMode=yes -o "
         "StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" % node.key,
         str(src) + "/", "%s@%s:rsync-copy/" % (node.username, node.address)],
        capture_output=True, text=True)
    t_rsync = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    b3 = veth_bytes(node)
    mb = dir_bytes / 1e6
    print("directory: %d files, %.1f MB" % (files, mb))
    print("first submission: %.2f s, %.1f MB on the wire (%.1f MB/s of directory)"
          % (first, (b1 - b0) / 1e6, mb / first))
    print("second submission: %.2f s, %.3f MB on the wire (%.3f%% of the directory)"
          % (second, (b2 - b1) / 1e6, 100.0 * (b2 - b1) / dir_bytes))
    print("rsync -a: %.2f s, %.1f MB on the wire (%.1f MB/s)" % (t_rsync, (b3 - b2) / 1e6,
                                                                mb / t_rsync))
    share = (b2 - b1) / dir_bytes
    benchlib.result_line("P10-resubmit", "second submission moved %.3f MB of %.1f MB"
                         % ((b2 - b1) / 1e6, mb), "%.3f%%" % (100 * share), "<= 1%",
                         share <= 0.01)
    thr = (mb / first) / (mb / t_rsync)
    benchlib.result_line("P10-first", "first submission %.1f MB/s vs rsync %.1f MB/s"
                         % (mb / first, mb / t_rsync), "%.0f%%" % (100 * thr), ">= 50%",
                         thr >= 0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("p9", "p10"))
    args = ap.parse_args()
    why = can_run()
    if why:
        sys.exit("cannot run: " + why)
    reps = 3 if args.quick else args.reps
    with benchlib.TrainyardServer() as srv, tempfile.TemporaryDirectory() as tmp:
        node = RemoteNode(Path(tmp, "node"))
        try:
            ws = srv.workspace()
            attach(ws, node)
            if args.only in (None, "p9"):
                p9(ws, node, reps, tmp)
            if args.only in (None, "p10"):
                if args.quick:
                    p10(ws, node, tmp, files=200, total_mb=10)
                else:
                    p10(ws, node, tmp)
        finally:
            node.close()


if __name__ == "__main__":
    main()
