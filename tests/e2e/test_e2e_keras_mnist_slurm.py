"""Seeds 000/003 on a cluster: the Keras MNIST example's driver (examples/keras-mnist) with
KERAS_MNIST_CLUSTER=gpu-cluster creates the seed's AmlCompute cluster (vm_size STANDARD_NC6,
max_nodes=4) on a private two-node Slurm cluster and trains there (one epoch), with the
registered FileDataset mounted in the Slurm job. The seed's GPU size is mapped to the CPU
partition (this host has no GPU). The TensorFlow environment (~600 MB) is cached in
$TRAINYARD_E2E_ENV_CACHE as in test_e2e_keras_mnist.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util
from slurm_cluster import SlurmCluster, slurm_available

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keras-mnist"


@pytest.mark.timeout(2400)
@pytest.mark.skipif(not slurm_available(), reason="needs Slurm (scripts/install.sh)")
def test_keras_mnist_seed_on_a_slurm_cluster(tmp_path, trainyard_binary):
    subprocess.run(["bash", str(EXAMPLE / "setup.sh")], check=True, timeout=600)
    cache = os.environ.get("TRAINYARD_E2E_ENV_CACHE") or os.path.expanduser(
        "~/.cache/trainyard/e2e-envs")
    os.makedirs(cache, exist_ok=True)
    cluster = SlurmCluster(tmp_path / "slurm").start()
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"STANDARD_NC6": {"partition": "main"}}))
    env = dict(os.environ, TRAINYARD_ENV_CACHE=cache)
    srv = e2e_util.Server(tmp_path / "keras", env=env,
                          extra_args=["--slurm-conf", str(cluster.conf),
                                      "--slurm-vm-sizes", str(sizes)]).start()
    try:
        workdir = tmp_path / "driver-cwd"
        workdir.mkdir()
        proc = subprocess.run([sys.executable, str(EXAMPLE / "driver.py")], cwd=workdir,
                              env=srv.env(KERAS_MNIST_EPOCHS="1",
                                          KERAS_MNIST_CLUSTER="gpu-cluster"),
                              capture_output=True, text=True, timeout=2300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        assert "Creating a new compute target..." in out
        assert "vm_size STANDARD_NC6 -> partition main" in out
        assert "Nodes: n1 idle, n2 idle" in out
        assert "val_accuracy" in out
        ws = srv.workspace()
        from trainyard.core import Experiment
        run = next(iter(Experiment(ws, "keras-mnist").get_runs()))
        assert run.get_status() == "Completed"
        details = run.get_details()
        assert details["target"] == "gpu-cluster"
        assert details["properties"]["slurm.job_id"].isdigit()
        assert run.get_metrics()["Accuracy"] > 0.7
    finally:
        srv.stop()
        cluster.stop()
