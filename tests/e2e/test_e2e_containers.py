"""Runs in container images (issue 14 part 4) against a real private registry.

A Debian `docker-registry` on a loopback port serves an image this suite builds itself
(debootstrap minbase bookworm + python3 + pip, cached once per machine; tests/e2e/
container_registry.py), pushed once per module. The server gets a containers config that marks
that registry insecure (plain HTTP) and gives podman its own storage, runc and lowered ulimits.

Cases: pull + run with the snapshot, a mounted dataset and the SDK inside; the digest on the
run and in `run show`; a second run pulls nothing; conda/pip packages installed into the
image's Python (cached layer); a missing image, an unreachable registry and a plain-HTTP
registry not marked insecure fail the run before the script starts, naming image and registry;
MPI and PyTorch-style ranks on one node each in their own container.
"""
import json
import os
import subprocess

import pytest

from container_registry import (MARKER, MARKER_TEXT, Podman, Registry, containers_available,
                                make_wheel, push_test_image)
from e2e_util import Server, trainyard_bin, write_script

pytestmark = pytest.mark.skipif(not containers_available(),
                                reason="needs podman, runc, docker-registry, debootstrap "
                                       "(scripts/install.sh)")

REPO = "trainyard-test/py"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry")).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    p = Podman(tmp_path_factory.mktemp("podman"))
    yield p
    p.cleanup()  # this module's own store only (--root)


@pytest.fixture(scope="module")
def image(podman, registry):
    ref, digest = push_test_image(podman, registry, REPO)
    assert not podman.has_image(ref)  # runs must pull it
    return ref, digest


@pytest.fixture(scope="module")
def cserver(tmp_path_factory, podman, registry, image):
    root = tmp_path_factory.mktemp("ctr-server")
    conf = root / "containers.json"
    conf.write_text(json.dumps(podman.settings({registry.host: {"insecure": True}})))
    srv = Server(root / "srv", extra_args=["--containers-config", str(conf)]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cws(cserver):
    from trainyard.core import Workspace
    return Workspace.from_config(path=str(cserver.config_path))


def _env(name, image_ref, conda=(), pip=(), pip_options=()):
    from trainyard.core import Environment
    env = Environment(name)
    env.docker.enabled = True
    env.docker.base_image = image_ref
    for p in conda:
        env.python.conda_dependencies.add_conda_package(p)
    for p in pip:
        env.python.conda_dependencies.add_pip_package(p)
    for o in pip_options:
        env.python.conda_dependencies.set_pip_option(o)
    return env


def _submit(ws, src, script, env, experiment="e2e-containers", arguments=(), **kw):
    from trainyard.core import Experiment, ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src), script=script, arguments=list(arguments),
                          environment=env, **kw)
    run = Experiment(ws, experiment).submit(cfg)
    run.wait_for_completion(show_output=False, raise_on_error=False)
    return run


def _logs(run):
    return run.get_details_with_logs()["logFiles"]


INSIDE = """
    import os, sys
    from azureml.core import Run
    print("marker:", open("%s").read().strip())
    print("python:", sys.executable, sys.version.split()[0])
    print("cwd-files:", sorted(f for f in os.listdir(".") if f.endswith(".py")))
    if len(sys.argv) > 2:
        print("data:", sorted(os.listdir(sys.argv[2])), open(os.path.join(sys.argv[2], "a.txt")).read())
    run = Run.get_context()
    run.log("inside", 1)
    os.makedirs("outputs", exist_ok=True)
    open("outputs/made-in-container.txt", "w").write("hi")
    print("SCRIPT RAN")
""" % MARKER


def test_pull_run_digest_then_cached(cws, cserver, registry, image, podman, tmp_path):
    from trainyard.core import Dataset
    ref, pushed_digest = image
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("dataset-content")
    ds = Dataset.File.from_files(path=str(data / "a.txt"), workspace=cws).register(
        cws, "ctr-data")
    src = tmp_path / "src"
    write_script(src, "job.py", INSIDE)
    env = _env("ctr-plain", ref)
    before = registry.manifest_gets(REPO)

    run = _submit(cws, src, "job.py", env, arguments=["--data", ds.as_mount()])
    logs = _logs(run)
    driver = logs.get("azureml-logs/70_driver_log.txt", "")
    build = logs.get("azureml-logs/20_image_build_log.txt", "")
    assert run.get_status() == "Completed", (run.get_details(), driver, build)
    # Inside the image (its marker file), with the snapshot, the dataset and the SDK.
    assert "marker: " + MARKER_TEXT in driver, driver
    assert "cwd-files: ['job.py']" in driver
    assert "data: ['a.txt'] dataset-content" in driver
    assert run.get_metrics()["inside"] == 1
    assert "outputs/made-in-container.txt" in run.get_file_names()
    # Pulled from the registry, with progress in the build log, digest recorded.
    assert "Pulling " + ref in build and registry.host in build, build
    assert "Writing manifest" in build or "Copying blob" in build, build
    props = run.get_properties()
    assert props["trainyard.container_image"] == ref
    assert props["trainyard.container_image_digest"] == pushed_digest, (props, pushed_digest)
    assert registry.manifest_gets(REPO) > before
    # TRAINYARD_CONFIG names this module's server (the session's server exports its own).
    shown = subprocess.run([trainyard_bin(), "run", "show", run.id], cwd=cserver.project_dir,
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, TRAINYARD_CONFIG=str(cserver.config_path)))
    assert "container   %s@%s" % (ref, pushed_digest) in shown.stdout, shown.stdout + shown.stderr

    # Second run: the image is in the store; the registry is not asked again.
    gets = registry.manifest_gets(REPO)
    run2 = _submit(cws, src, "job.py", env)
    build2 = _logs(run2).get("azureml-logs/20_image_build_log.txt", "")
    assert run2.get_status() == "Completed", run2.get_details()
    assert "in the local store: not pulled" in build2, build2
    assert "Pulling" not in build2
    assert registry.manifest_gets(REPO) == gets
    assert run2.get_properties()["trainyard.container_image_digest"] == pushed_digest
    # No container is left behind.
    assert podman.cmd("ps", "-aq", "--filter", "label=trainyard.run=" + run.id).strip() == ""


def test_conda_and_pip_packages_go_into_the_image_python(cws, image, tmp_path):
    ref, _ = image
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tycondapkg", "1.0", "WHO = 'conda-translated'\n")
    make_wheel(wheels, "typippkg", "2.0", "WHO = 'pip'\n")
    env = _env("ctr-packages", ref, conda=["tycondapkg=1.0"], pip=["typippkg==2.0"],
               pip_options=["--no-index", "--find-links " + str(wheels)])
    src = tmp_path / "src"
    write_script(src, "job.py", """
        import sys, tycondapkg, typippkg
        print("marker:", open("%s").read().strip())
        print("got", tycondapkg.WHO, typippkg.WHO)
        print("from", tycondapkg.__file__)
        print("python", sys.executable)
    """ % MARKER)
    run = _submit(cws, src, "job.py", env)
    logs = _logs(run)
    driver = logs.get("azureml-logs/70_driver_log.txt", "")
    build = logs.get("azureml-logs/20_image_build_log.txt", "")
    assert run.get_status() == "Completed", (run.get_details(), build, driver)
    assert "got conda-translated pip" in driver, driver
    assert "marker: " + MARKER_TEXT in driver
    assert "/containers/" in driver and "/venv/" in driver, driver  # the layered venv
    assert "Building the package layer" in build and "Successfully installed" in build, build
    run2 = _submit(cws, src, "job.py", env)
    build2 = _logs(run2).get("azureml-logs/20_image_build_log.txt", "")
    assert run2.get_status() == "Completed", run2.get_details()
    assert "cached layer" in build2 and "Building the package layer" not in build2, build2


def _fails_before_script(cws, tmp_path, image_ref, words):
    src = tmp_path / "src"
    write_script(src, "job.py", "print('SCRIPT RAN')\n")
    run = _submit(cws, src, "job.py", _env("ctr-missing", image_ref), experiment="e2e-ctr-bad")
    details = run.get_details()
    assert run.get_status() == "Failed", details
    msg = json.loads(json.dumps(details["error"]))
    msg = msg.get("error", msg).get("message", "")
    for w in words:
        assert w in msg, (w, msg)
    assert "SCRIPT RAN" not in json.dumps(_logs(run))
    return msg


def test_missing_image_fails_the_run_naming_image_and_registry(cws, registry, tmp_path):
    ref = registry.host + "/trainyard-test/no-such-image:1"
    msg = _fails_before_script(cws, tmp_path, ref, [ref, "registry '%s'" % registry.host,
                                                    "has no image"])
    assert "podman said" in msg


def test_unreachable_and_plain_http_registries_are_named(cws, registry, tmp_path):
    from container_registry import free_port_in_range
    port = free_port_in_range()  # nothing listens there
    ref = "127.0.0.1:%d/trainyard-test/py:1" % port
    _fails_before_script(cws, tmp_path / "a", ref, [ref, "cannot be reached"])
    # The same registry under another name is not marked insecure: plain HTTP is refused,
    # and the message says which setting allows it.
    ref = "localhost:%d/%s:1" % (registry.port, REPO)
    _fails_before_script(cws, tmp_path / "b", ref,
                         [ref, "plain HTTP", '"localhost:%d": {"insecure": true}' % registry.port])


def test_ranks_run_each_in_a_container(cws, image, tmp_path):
    from trainyard.core.runconfig import MpiConfiguration, PyTorchConfiguration
    ref, _ = image
    src = tmp_path / "src"
    write_script(src, "ranks.py", """
        import os, socket, time
        from azureml.core import Run
        marker = open("%s").read().strip()
        env = os.environ
        rank = int(env.get("OMPI_COMM_WORLD_RANK", env.get("RANK", "-1")))
        size = int(env.get("OMPI_COMM_WORLD_SIZE", env.get("WORLD_SIZE", "-1")))
        print("rank", rank, "of", size, marker, "host", socket.gethostname())
        if "MASTER_ADDR" in env:  # the env contract over host networking between containers
            addr, port = env["MASTER_ADDR"], int(env["MASTER_PORT"])
            if rank == 0:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port)); s.listen(size)
                got = [int(s.accept()[0].recv(16)) for _ in range(size - 1)]
                print("rendezvous", sorted(got))
            else:
                for _ in range(200):
                    try:
                        c = socket.create_connection((addr, port)); break
                    except OSError:
                        time.sleep(0.05)
                c.sendall(str(rank).encode()); c.close()
        Run.get_context().log("rank_seen", rank)
    """ % MARKER)
    from trainyard.core import Experiment, ScriptRunConfig
    env = _env("ctr-ranks", ref)
    for djc, word in ((MpiConfiguration(process_count_per_node=2), None),
                      (PyTorchConfiguration(process_count=2), "rendezvous [1]")):
        cfg = ScriptRunConfig(source_directory=str(src), script="ranks.py", environment=env,
                              distributed_job_config=djc)
        run = Experiment(cws, "e2e-ctr-ranks").submit(cfg)
        run.wait_for_completion(show_output=False, raise_on_error=False)
        logs = _logs(run)
        assert run.get_status() == "Completed", (run.get_details(), logs)
        for r in (0, 1):
            rank_log = logs.get("azureml-logs/70_driver_log_%d.txt" % r, "")
            assert "rank %d of 2 %s" % (r, MARKER_TEXT) in rank_log, (r, logs)
        if word:
            assert word in logs["azureml-logs/70_driver_log_0.txt"]
        assert sorted(run.get_metrics()["rank_seen"]) == [0, 1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    from slurm_cluster import SlurmCluster, slurm_available
    if not slurm_available():
        pytest.skip("needs slurmctld/slurmd/munge (scripts/install.sh)")
    c = SlurmCluster(tmp_path_factory.mktemp("ctr-slurm"))
    c.start()
    yield c
    c.stop()


def test_seed_001_two_nodes_each_rank_in_a_container(slurm, podman, registry, image,
                                                      tmp_path_factory, tmp_path):
    """Seed 001's distributed Estimator (node_count=2, MPI, custom_docker_image) on a Slurm
    cluster of two slurmd on this host. Both nodes share this host's podman store, so the
    second node finds the image by digest instead of pulling it."""
    from trainyard.core import Experiment
    from trainyard.core.compute import AmlCompute, ComputeTarget
    from trainyard.core.runconfig import MpiConfiguration
    from trainyard.train.estimator import Estimator
    ref, digest = image
    root = tmp_path_factory.mktemp("ctr-slurm-server")
    conf = root / "containers.json"
    conf.write_text(json.dumps(podman.settings({registry.host: {"insecure": True}})))
    sizes = root / "vm-sizes.json"
    sizes.write_text(json.dumps({"*": {"partition": "main"}}))
    srv = Server(root / "srv", extra_args=["--slurm-conf", str(slurm.conf), "--slurm-vm-sizes",
                                           str(sizes), "--containers-config", str(conf)]).start()
    try:
        ws = srv.workspace()
        cluster = ComputeTarget.create(ws, "gpu-cluster", AmlCompute.provisioning_configuration(
            vm_size="STANDARD_NC6", max_nodes=4))
        cluster.wait_for_completion(show_output=False)
        write_script(tmp_path, "train.py", """
            import os
            from azureml.core.run import Run
            e = os.environ
            print("rank", e["OMPI_COMM_WORLD_RANK"], "of", e["OMPI_COMM_WORLD_SIZE"], "on",
                  e["SLURMD_NODENAME"], "nodes", e["AZUREML_NODE_COUNT"], "image",
                  open("%s").read().strip(), flush=True)
            Run.get_context().log("node", e["SLURMD_NODENAME"])
        """ % MARKER)
        estimator = Estimator(source_directory=str(tmp_path), compute_target=cluster,
                              entry_script="train.py", node_count=2, process_count_per_node=1,
                              distributed_training=MpiConfiguration(), custom_docker_image=ref)
        run = Experiment(ws, "ctr-seed001").submit(estimator)
        run.wait_for_completion(show_output=False, raise_on_error=False)
        logs = _logs(run)
        assert run.get_status() == "Completed", (run.get_details(), logs)
        nodes = set()
        for rank in (0, 1):
            line = logs["azureml-logs/70_driver_log_%d.txt" % rank]
            assert "rank %d of 2" % rank in line and "nodes 2 image " + MARKER_TEXT in line, line
            nodes.add(line.split(" on ")[1].split()[0])
        assert nodes == {"n1", "n2"}
        assert sorted(run.get_metrics()["node"]) == ["n1", "n2"]
        assert run.get_properties()["trainyard.container_image_digest"] == digest
    finally:
        srv.stop()


def test_cancel_stops_the_container(cws, image, podman, tmp_path):
    from trainyard.core import Experiment, ScriptRunConfig
    from e2e_util import wait_for, wait_status
    ref, _ = image
    write_script(tmp_path, "sleepy.py", """
        import time
        print("STARTED", flush=True)
        time.sleep(300)
    """)
    run = Experiment(cws, "e2e-ctr-cancel").submit(ScriptRunConfig(
        source_directory=str(tmp_path), script="sleepy.py", environment=_env("ctr-plain", ref)))
    label = "label=trainyard.run=" + run.id
    wait_for(lambda: "STARTED" in _logs(run).get("azureml-logs/70_driver_log.txt", ""),
             timeout=120, what="the script to start in its container")
    assert podman.cmd("ps", "-q", "--filter", label).strip()  # running, labelled with the run
    run.cancel()
    assert wait_status(run, timeout=60) == "Canceled"
    wait_for(lambda: podman.cmd("ps", "-aq", "--filter", label).strip() == "", timeout=30,
             what="the run's container to be gone")
