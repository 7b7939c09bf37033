"""P4: datasets and environments on the second run.

P4a — cached-environment lookup on submit: the time the agent's path takes to find an
      already-built environment (EnvBuilder::Materialize on a cached spec, measured inside the
      server through POST /environment-cache/build), against the peer a naive runner uses to
      make sure a venv is ready: `pip install -r requirements.txt` into the existing venv (all
      "Requirement already satisfied"). Goal: <= 10 ms.
P4b — second run of the Keras MNIST example: dataset download (Dataset.File.from_files over the
      four MNIST URLs, served by a local HTTP server) + environment preparation (the run's
      Preparing phase: env build or lookup, dataset input mounted) of run 2 / run 1, with a
      cold environment cache and an empty URL cache before run 1. Goal: <= 1/20.

    python3 bench/p4_datasets_envs.py            # the real Keras environment (TensorFlow)
    python3 bench/p4_datasets_envs.py --quick    # a small environment ("six"): a smoke test

Full mode needs examples/keras-mnist/setup.sh (run here when data/ is missing) and network
access for pip on the first run.
"""
import argparse
import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import REPO, TrainyardServer, machine, median, result_line

EXAMPLE = REPO / "examples" / "keras-mnist"


def serve(directory):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, "http://127.0.0.1:%d/" % httpd.server_address[1]


def phase_seconds(agent_log):
    """Preparing -> Starting from the agent's log (lines '+12.3ms agent: status X')."""
    times = {}
    for line in Path(agent_log).read_text().splitlines():
        m = re.search(r"\+([\d.]+)ms agent: status (\w+)", line)
        if m:
            times.setdefault(m.group(2), float(m.group(1)))
    return (times["Starting"] - times["Preparing"]) / 1000.0


def one_run(ws, srv, base_url, env, script_dir, script, extra_args):
    from trainyard.core import Dataset, Experiment, ScriptRunConfig
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    t0 = time.perf_counter()
    ds = Dataset.File.from_files(path=[base_url + n for n in names])
    download_s = time.perf_counter() - t0
    ds = ds.register(ws, "mnist-dataset", create_new_version=True)
    cfg = ScriptRunConfig(source_directory=str(script_dir), script=script,
                          arguments=["--data-folder", ds.as_mount()] + extra_args,
                          environment=env)
    run = Experiment(ws, "p4-keras").submit(cfg)
    run.wait_for_completion(show_output=False)
    prepare_s = phase_seconds(srv.data_dir / "runs" / run.id / "agent.log")
    return download_s, prepare_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lookups", type=int, default=30)
    args = ap.parse_args()
    if not (EXAMPLE / "data" / "t10k-labels-idx1-ubyte.gz").exists():
        subprocess.run(["bash", str(EXAMPLE / "setup.sh")], check=True)
    from trainyard.core import Environment
    envs = tempfile.TemporaryDirectory(prefix="trainyard-p4-envs-")
    os.environ["TRAINYARD_ENV_CACHE"] = envs.name  # a cold cache for run 1
    httpd, base_url = serve(EXAMPLE / "data")
    print("P4 on", machine(), "| mode:", "quick" if args.quick else "full (TensorFlow)")
    with TrainyardServer() as srv:
        ws = srv.workspace()
        if args.quick:
            env = Environment("p4-small")
            env.python.conda_dependencies.add_pip_package("six")
            script_dir = Path(tempfile.mkdtemp(prefix="p4-src-"))
            (script_dir / "list.py").write_text(
                "import os, sys\nprint(sorted(os.listdir(sys.argv[2])))\n")
            script, extra = "list.py", []
        else:
            env = Environment.from_conda_specification(
                "keras-env", str(EXAMPLE / "conda_dependencies.yml"))
            script_dir, script, extra = EXAMPLE / "keras-mnist-proj", "keras_mnist.py", \
                ["--epochs", "1"]
        d1, p1 = one_run(ws, srv, base_url, env, script_dir, script, extra)
        d2, p2 = one_run(ws, srv, base_url, env, script_dir, script, extra)
        first, second = d1 + p1, d2 + p2
        print("run 1: dataset download %.3f s + preparation %.3f s = %.3f s" % (d1, p1, first))
        print("run 2: dataset download %.3f s + preparation %.3f s = %.3f s" % (d2, p2, second))
        print("(preparation = the agent's Preparing phase: snapshot restore, environment build "
              "or cached lookup, dataset inputs mounted)")

        # P4a: the cached lookup, inside the server, and the peer.
        spec = env._to_spec()
        inside = []
        for _ in range(args.lookups):
            answer = ws._client.post("/api/v1/environment-cache/build", {"spec": spec})
            assert not answer["built_now"]
            inside.append(answer["seconds"])
        env_dir = Path(answer["env_dir"])
        req = env_dir / "trainyard-requirements.txt"
        peer = []
        for _ in range(3 if args.quick else 5):
            t0 = time.perf_counter()
            subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", "-r", str(req)], check=True)
            peer.append(time.perf_counter() - t0)
    httpd.shutdown()
    envs.cleanup()
    lookup_ms, peer_ms = median(inside) * 1000, median(peer) * 1000
    result_line("P4a", "cached environment lookup %.3f ms (median of %d) vs pip install -r "
                "(already satisfied) %.0f ms" % (lookup_ms, len(inside), peer_ms),
                "1/%.0f" % (peer_ms / lookup_ms) if lookup_ms else "n/a", "<= 10 ms",
                lookup_ms <= 10)
    ratio = second / first
    result_line("P4b", "%s second run: dataset download + env preparation %.3f s vs first "
                "run %.3f s" % ("quick (six)" if args.quick else "Keras", second, first),
                "1/%.0f (%.4f)" % (first / second, ratio), "<= 1/20", ratio <= 1 / 20)


if __name__ == "__main__":
    sys.exit(main())
