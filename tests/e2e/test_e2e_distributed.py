"""Distributed runs on the local target: the declared number of processes really runs.

Real server, real agent, real mpirun (Open MPI) and mpi4py (Debian's, for /usr/bin/python3).
torch is not installed (its wheel is over 500 MB): the PyTorch case checks torch.distributed's
environment contract (MASTER_ADDR/PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK) with a TCP
rendezvous of its own instead of a DDP all-reduce.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from e2e_util import pid_alive, wait_for, wait_status, write_script

DEBIAN_PYTHON = "/usr/bin/python3"


def _has_mpi4py():
    if not (os.path.exists(DEBIAN_PYTHON) and shutil.which("mpirun")):
        return False
    return subprocess.run([DEBIAN_PYTHON, "-c", "import mpi4py"],
                          capture_output=True).returncode == 0


needs_mpi = pytest.mark.skipif(not _has_mpi4py(), reason="needs mpirun and python3-mpi4py "
                               "(scripts/install.sh installs them)")


@pytest.fixture(scope="module")
def mpi_env():
    """Debian's Python, which has mpi4py, without building anything."""
    from trainyard.core import Environment
    env = Environment("e2e-mpi")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = DEBIAN_PYTHON
    return env


def _submit(ws, experiment, src, script, env, distributed=None, arguments=None):
    from trainyard.core import Experiment, ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src), script=script, arguments=arguments or [],
                          environment=env, distributed_job_config=distributed)
    return Experiment(ws, experiment).submit(cfg)


def _logs(run):
    return run.get_details_with_logs()["logFiles"]


@needs_mpi
def test_mpi_two_ranks_allreduce(ws, mpi_env, tmp_path):
    from trainyard.core.runconfig import MpiConfiguration
    write_script(tmp_path, "allreduce.py", """
        import os
        from mpi4py import MPI
        from azureml.core.run import Run
        comm = MPI.COMM_WORLD
        total = comm.allreduce(comm.rank + 1, op=MPI.SUM)
        print("rank", comm.rank, "of", comm.size, "sum", total,
              "env", os.environ["OMPI_COMM_WORLD_RANK"], os.environ["OMPI_COMM_WORLD_SIZE"],
              "nodes", os.environ["AZUREML_NODE_COUNT"], flush=True)
        run = Run.get_context()
        run.log("rank", comm.rank)
        run.log("sum", total)
    """)
    run = _submit(ws, "e2e-mpi", tmp_path, "allreduce.py", mpi_env,
                  MpiConfiguration(process_count_per_node=2))
    run.wait_for_completion(show_output=False, wait_post_processing=True)
    logs = _logs(run)
    assert run.get_status() == "Completed", logs
    for rank in (0, 1):
        log = logs["azureml-logs/70_driver_log_%d.txt" % rank]
        assert "rank %d of 2 sum 3 env %d 2 nodes 1" % (rank, rank) in log, log
    combined = logs["azureml-logs/70_driver_log.txt"]
    assert "[rank 0] rank 0 of 2" in combined and "[rank 1] rank 1 of 2" in combined
    metrics = run.get_metrics()
    assert sorted(metrics["rank"]) == [0, 1]  # both ranks' metrics in the one run
    assert metrics["sum"] == [3, 3]


@needs_mpi
def test_estimator_mpi_process_count_per_node(ws, mpi_env, tmp_path):
    """The Estimator's node_count/process_count_per_node/distributed_training path."""
    from trainyard.core import Experiment
    from trainyard.core.runconfig import MpiConfiguration
    from trainyard.train.estimator import Estimator
    write_script(tmp_path, "train.py", """
        from mpi4py import MPI
        print("hello from", MPI.COMM_WORLD.rank, "of", MPI.COMM_WORLD.size, flush=True)
    """)
    est = Estimator(source_directory=str(tmp_path), entry_script="train.py", node_count=1,
                    process_count_per_node=3, distributed_training=MpiConfiguration(),
                    environment_definition=mpi_env)
    run = Experiment(ws, "e2e-mpi-est").submit(est)
    run.wait_for_completion(show_output=False, wait_post_processing=True)
    logs = _logs(run)
    assert run.get_status() == "Completed", logs
    for rank in range(3):
        assert "hello from %d of 3" % rank in logs.get("azureml-logs/70_driver_log_%d.txt" % rank, ""), logs


def test_pytorch_env_contract_rendezvous(ws, plain_env, tmp_path):
    """torch.distributed's env:// contract, checked without torch: every rank connects to
    MASTER_ADDR:MASTER_PORT where rank 0 listens, sends its RANK/LOCAL_RANK/NODE_RANK, and
    rank 0 answers with the sum of the ranks (an all-reduce over TCP)."""
    from trainyard.core.runconfig import PyTorchConfiguration
    write_script(tmp_path, "rdv.py", """
        import json, os, socket, time
        from azureml.core.run import Run
        e = os.environ
        rank, world = int(e["RANK"]), int(e["WORLD_SIZE"])
        addr, port = e["MASTER_ADDR"], int(e["MASTER_PORT"])
        assert e["AZ_BATCH_MASTER_NODE"] == "%s:%d" % (addr, port), e["AZ_BATCH_MASTER_NODE"]
        if rank == 0:
            srv = socket.create_server((addr, port))
            conns, seen = [], [dict(rank=0, local=int(e["LOCAL_RANK"]), node=int(e["NODE_RANK"]))]
            while len(conns) < world - 1:
                c, _ = srv.accept()
                seen.append(json.loads(c.makefile().readline()))
                conns.append(c)
            total = sum(s["rank"] for s in seen)
            for c in conns:
                c.sendall(b"%d\\n" % total)
            print("rendezvous", json.dumps(sorted(seen, key=lambda s: s["rank"])), flush=True)
        else:
            for _ in range(200):
                try:
                    c = socket.create_connection((addr, port))
                    break
                except OSError:
                    time.sleep(0.05)
            c.sendall((json.dumps(dict(rank=rank, local=int(e["LOCAL_RANK"]),
                                       node=int(e["NODE_RANK"]))) + "\\n").encode())
            total = int(c.makefile().readline())
        print("rank", rank, "world", world, "sum", total, flush=True)
        Run.get_context().log("rank_sum", total)
    """)
    run = _submit(ws, "e2e-torch", tmp_path, "rdv.py", plain_env,
                  PyTorchConfiguration(communication_backend="Gloo", process_count=3))
    run.wait_for_completion(show_output=False, wait_post_processing=True)
    logs = _logs(run)
    assert run.get_status() == "Completed", logs
    line = [ln for ln in logs["azureml-logs/70_driver_log_0.txt"].splitlines()
            if ln.startswith("rendezvous ")][0]
    seen = json.loads(line.split(" ", 1)[1])
    assert seen == [{"rank": r, "local": r, "node": 0} for r in range(3)]
    for r in range(3):
        assert "rank %d world 3 sum 3" % r in logs["azureml-logs/70_driver_log_%d.txt" % r]
    assert run.get_metrics()["rank_sum"] == [3, 3, 3]


def test_tf_config_shape(ws, plain_env, tmp_path):
    """TensorflowConfiguration(worker_count=2, parameter_server_count=1): three processes with
    Azure's TF_CONFIG; the parameter server (which serves forever, like server.join()) is
    stopped once both workers are done and the run is Completed."""
    from trainyard.core.runconfig import TensorflowConfiguration
    write_script(tmp_path, "tf.py", """
        import json, os, time
        cfg = json.loads(os.environ["TF_CONFIG"])
        print("TF_CONFIG", json.dumps(cfg, sort_keys=True), flush=True)
        if cfg["task"]["type"] == "ps":
            while True:
                time.sleep(1)
        time.sleep(1)  # the workers outlive the parameter server's start
    """)
    run = _submit(ws, "e2e-tf", tmp_path, "tf.py", plain_env,
                  TensorflowConfiguration(worker_count=2, parameter_server_count=1))
    run.wait_for_completion(show_output=False, wait_post_processing=True)
    logs = _logs(run)
    assert run.get_status() == "Completed", logs
    configs = {}
    for r in range(3):
        line = [ln for ln in logs["azureml-logs/70_driver_log_%d.txt" % r].splitlines()
                if ln.startswith("TF_CONFIG ")][0]
        configs[r] = json.loads(line.split(" ", 1)[1])
    cluster = configs[0]["cluster"]
    assert set(cluster) == {"worker", "ps"}
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1
    hosts = cluster["worker"] + cluster["ps"]
    assert len(set(hosts)) == 3 and all(h.startswith("127.0.0.1:") for h in hosts)
    assert [configs[r]["task"] for r in range(3)] == [
        {"type": "worker", "index": 0}, {"type": "worker", "index": 1},
        {"type": "ps", "index": 0}]
    assert all(c["cluster"] == cluster and c["environment"] == "cloud"
               for c in configs.values())


def test_crashing_rank_stops_the_others_and_fails_the_run(ws, plain_env, tmp_path):
    from trainyard.core.runconfig import PyTorchConfiguration
    pids = tmp_path / "pids"
    pids.mkdir()
    src = tmp_path / "src"
    write_script(src, "crash.py", """
        import os, sys, time
        rank = int(os.environ["RANK"])
        open(os.path.join(sys.argv[1], str(rank)), "w").write(str(os.getpid()))
        if rank == 1:
            time.sleep(1)
            raise ValueError("rank one broke")
        time.sleep(300)
    """)
    started = time.time()
    run = _submit(ws, "e2e-crash", src, "crash.py", plain_env,
                  PyTorchConfiguration(communication_backend="Gloo", process_count=2),
                  arguments=[str(pids)])
    assert wait_status(run, timeout=120) == "Failed"
    assert time.time() - started < 60  # not the 300 s of rank 0's sleep
    error = json.dumps(run.get_details()["error"])
    assert "ValueError: rank one broke" in error and "(rank 1)" in error, error
    rank0 = int((pids / "0").read_text())
    wait_for(lambda: not pid_alive(rank0), timeout=10, what="rank 0 stopped")
    logs = _logs(run)
    assert "rank 1 exited with code 1; stopping the other ranks" in \
        logs["azureml-logs/70_driver_log.txt"]


@needs_mpi
def test_crashing_mpi_rank_fails_the_run(ws, mpi_env, tmp_path):
    from trainyard.core.runconfig import MpiConfiguration
    write_script(tmp_path, "crash.py", """
        import time
        from mpi4py import MPI
        if MPI.COMM_WORLD.rank == 1:
            raise RuntimeError("mpi rank one broke")
        time.sleep(300)
    """)
    started = time.time()
    run = _submit(ws, "e2e-mpi-crash", tmp_path, "crash.py", mpi_env,
                  MpiConfiguration(process_count_per_node=2))
    assert wait_status(run, timeout=120) == "Failed"
    assert time.time() - started < 60
    error = json.dumps(run.get_details()["error"])
    assert "RuntimeError: mpi rank one broke" in error and "(rank 1)" in error, error


def test_requests_no_target_can_satisfy_are_refused_at_submit(ws, plain_env, tmp_path):
    from trainyard.core import Experiment
    from trainyard.core.runconfig import MpiConfiguration, PyTorchConfiguration
    from trainyard.train.estimator import Estimator
    write_script(tmp_path, "train.py", "print('must never run')\n")
    exp = Experiment(ws, "e2e-refused")
    before = len(list(exp.get_runs()))
    cases = [
        (dict(node_count=2, distributed_training=MpiConfiguration()),
         ["node_count=2", "'local' is one machine"]),
        (dict(node_count=2), ["node_count=2", "'local' is one machine"]),
        (dict(process_count_per_node=2), ["process_count_per_node=2",
                                          "distributed_job_config"]),
        (dict(node_count=2, distributed_training=PyTorchConfiguration(process_count=3)),
         ["process_count=3", "node_count=2"]),
    ]
    from trainyard.core import Environment
    docker_env = Environment("e2e-docker-dist")
    docker_env.docker.enabled = True
    docker_env.docker.base_image = "localhost/any-image:1"
    # Ranks on one node may run in containers; this local-only image is missing.
    cases.append((dict(process_count_per_node=2, distributed_training=MpiConfiguration(),
                       environment_definition=docker_env),
                      ["localhost/any-image:1", "cannot pull"]))
    if not shutil.which("nvidia-smi"):  # this machine has no GPU: use_gpu is refused
        cases.append((dict(use_gpu=True), ["use_gpu=True", "no GPU"]))
    for kwargs, words in cases:
        kwargs.setdefault("environment_definition", plain_env)
        est = Estimator(source_directory=str(tmp_path), entry_script="train.py", **kwargs)
        with pytest.raises(Exception) as ei:
            exp.submit(est)
        for w in words:
            assert w in str(ei.value), (kwargs, str(ei.value))
    assert len(list(exp.get_runs())) == before  # nothing was created


def test_cancel_stops_every_rank(ws, plain_env, tmp_path):
    from trainyard.core.runconfig import PyTorchConfiguration
    pids = tmp_path / "pids"
    pids.mkdir()
    src = tmp_path / "src"
    write_script(src, "sleep.py", """
        import os, sys, time
        open(os.path.join(sys.argv[1], os.environ["RANK"]), "w").write(str(os.getpid()))
        time.sleep(300)
    """)
    run = _submit(ws, "e2e-dist-cancel", src, "sleep.py", plain_env,
                  PyTorchConfiguration(communication_backend="Gloo", process_count=2),
                  arguments=[str(pids)])
    wait_for(lambda: len(list(pids.iterdir())) == 2, timeout=60, what="both ranks started")
    run.cancel()
    assert wait_status(run, timeout=60) == "Canceled"
    for f in pids.iterdir():
        pid = int(f.read_text())
        wait_for(lambda: not pid_alive(pid), timeout=10, what="rank %s stopped" % f.name)
