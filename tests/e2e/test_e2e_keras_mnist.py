"""The seed's Keras MNIST workflow (examples/keras-mnist) end to end, one small run: real
digits served by a local HTTP server, a registered FileDataset mounted into a TensorFlow/Keras
run whose environment comes from conda_dependencies.yml, per-epoch metrics, log_image, the
model registered and downloaded.

The TensorFlow environment is big (~600 MB): its build is cached in $TRAINYARD_E2E_ENV_CACHE
(default ~/.cache/trainyard/e2e-envs), shared by test sessions on this machine."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keras-mnist"


@pytest.mark.timeout(2400)
def test_keras_mnist_example(tmp_path, trainyard_binary):
    subprocess.run(["bash", str(EXAMPLE / "setup.sh")], check=True, timeout=600)
    cache = os.environ.get("TRAINYARD_E2E_ENV_CACHE") or os.path.expanduser(
        "~/.cache/trainyard/e2e-envs")
    os.makedirs(cache, exist_ok=True)
    env = dict(os.environ, TRAINYARD_ENV_CACHE=cache)
    srv = e2e_util.Server(tmp_path / "keras", env=env).start()
    try:
        workdir = tmp_path / "driver-cwd"
        workdir.mkdir()
        proc = subprocess.run([sys.executable, str(EXAMPLE / "driver.py")], cwd=workdir,
                              env=srv.env(KERAS_MNIST_EPOCHS="1"), capture_output=True,
                              text=True, timeout=2300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        assert "['/train-images-idx3-ubyte.gz', '/train-labels-idx1-ubyte.gz', " \
               "'/t10k-images-idx3-ubyte.gz', '/t10k-labels-idx1-ubyte.gz']" in out
        assert "Dataset input 'mnist-dataset' (mnist-dataset:1): 4 files" in out
        assert "val_accuracy" in out  # the one epoch's Keras progress line

        ws = srv.workspace()
        from trainyard.core import Dataset, Experiment, Model
        run = next(iter(Experiment(ws, "keras-mnist").get_runs()))
        assert run.get_status() == "Completed"
        metrics = run.get_metrics()
        loss, acc = metrics["Loss"], metrics["Accuracy"]
        # One epoch logs one value each (a scalar); real digits train to well above chance.
        assert isinstance(loss, float) and isinstance(acc, float)
        assert acc > 0.7, metrics
        assert str(metrics["Accuracy vs Loss"]).startswith("aml://artifactId/")
        names = run.get_file_names()
        assert {"outputs/model/model.json", "outputs/model/model.keras",
                "outputs/model/model.weights.h5"} <= set(names)
        assert any(n.startswith("Accuracy vs Loss") or n.startswith("Accuracy_vs_Loss")
                   for n in names), names
        for f in ("model.json", "model.keras", "model.weights.h5"):
            assert (workdir / "model" / f).stat().st_size > 0
        model = Model(ws, name="keras-mnist")
        assert model.version == 1
        ds = Dataset.get_by_name(ws, "mnist-dataset")
        assert ds.version == 1 and [r["run_id"] for r in ds._consumers()] == [run.id]
        details = ws._client.get("/api/v1/runs/" + run.id)
        assert details["input_datasets"][0]["name"] == "mnist-dataset"
    finally:
        srv.stop()
