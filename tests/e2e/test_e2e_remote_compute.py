"""Remote compute over SSH (issue 13): a real sshd in its own network namespace (remote_node.py),
a real server on loopback, runs executed as another user on the 'node' through the agent, which
reaches the server through the SSH reverse tunnel."""
import io
import json
import os
import subprocess
import sys
import time

import pytest

import e2e_util
from e2e_util import Server, trainyard_bin
from remote_node import RemoteNode, can_run

pytestmark = pytest.mark.skipif(bool(can_run()), reason=can_run() or "ok")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = RemoteNode(tmp_path_factory.mktemp("node"))
    yield n
    n.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("remote-server")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ws(srv):
    return srv.workspace()


def attach(ws, node, name, key=None, user=None, address=None, wait=True, **extra):
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    cfg = RemoteCompute.attach_configuration(
        username=user or node.username, address=address or node.address, ssh_port=node.port,
        private_key_file=str(key or node.key))
    for k, v in extra.items():
        setattr(cfg, k, v)
    target = ComputeTarget.attach(workspace=ws, name=name, attach_configuration=cfg)
    if wait:
        target.wait_for_completion(show_output=False)
    return target


@pytest.fixture(scope="module")
def vm(ws, node):
    """'attached-vm': the seed's name, attached once for the module."""
    out = io.StringIO()
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    cfg = RemoteCompute.attach_configuration(username=node.username, address=node.address,
                                             ssh_port=node.port,
                                             private_key_file=str(node.key))
    target = ComputeTarget.attach(workspace=ws, name="attached-vm", attach_configuration=cfg)
    target.wait_for_completion(show_output=True, out=out)
    target._progress_text = out.getvalue()
    return target


def remote_env():
    """The node's own python3 (Debian's, with numpy/scikit-learn from scripts/install.sh)."""
    from trainyard.core import Environment
    env = Environment("node-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = "python3"
    return env


# ----- attach: progress, resources, install -------------------------------------------------
def test_attach_prints_progress_detects_the_machine_and_installs(vm, ws, node, srv):
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    text = vm._progress_text
    assert "connecting to %s@%s:22" % (node.username, node.address) in text
    assert "host key recorded on first use" in text and "ED25519" in text
    assert "trainyard-node: Linux" in text and "cores" in text and "python3" in text
    assert "installing trainyard build" in text
    assert "reverse tunnel" in text
    assert 'Provisioning operation finished, operation "Succeeded"' in text
    t = ComputeTarget(ws, "attached-vm")
    assert isinstance(t, RemoteCompute) and t.type == "VirtualMachine"
    assert t.address == node.address and t.admin_username == node.username
    status = t.get_status()
    assert status == "Succeeded"
    assert status.slots == os.cpu_count()  # the node's cores (no setting given)
    assert status.nodes[0]["name"] == "trainyard-node"
    assert status.nodes[0]["resources"]["memory_mb"] > 0
    assert "attached-vm" in ws.compute_targets and "local" in ws.compute_targets
    assert {t.name for t in ComputeTarget.list(ws)} >= {"local", "attached-vm"}
    # Installed under the user's home; the node's user cannot see the server's data dir.
    build = json.loads(e2e_util.http("GET", srv.url + "/healthz")[2])["build"]
    r = node.ssh("ls ~/.trainyard/%s/bin/trainyard ~/.trainyard/%s/python/trainyard/__init__.py"
                 % (build, build))
    assert r.returncode == 0, r.stderr
    r = node.ssh("ls %s" % srv.data_dir)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    # The host key is in the target's own known_hosts in the data dir.
    assert (srv.data_dir / "compute" / "attached-vm" / "known_hosts").read_text().strip()
    # CLI
    out = subprocess.run([trainyard_bin(), "compute", "list"], cwd=srv.project_dir,
                         capture_output=True, text=True, env=srv.env())
    assert out.returncode == 0 and "attached-vm" in out.stdout and "Succeeded" in out.stdout
    out = subprocess.run([trainyard_bin(), "compute", "show", "attached-vm"],
                         cwd=srv.project_dir, capture_output=True, text=True, env=srv.env())
    assert out.returncode == 0 and "trainyard-node" in out.stdout and "tunnel" in out.stdout
    # Attach and detach with the CLI: progress lines until ready.
    out = subprocess.run([trainyard_bin(), "compute", "attach", "cli-vm", "--address",
                          node.address, "--username", node.username,
                          "--private-key-file", str(node.key), "--max-concurrent-runs", "1"],
                         cwd=srv.project_dir, capture_output=True, text=True, env=srv.env())
    assert out.returncode == 0, out.stderr
    assert "host key recorded" in out.stdout and "already installed" in out.stdout
    assert "compute target 'cli-vm' is ready" in out.stdout
    assert ComputeTarget(ws, "cli-vm").get_status().slots == 1
    out = subprocess.run([trainyard_bin(), "compute", "detach", "cli-vm"], cwd=srv.project_dir,
                         capture_output=True, text=True, env=srv.env())
    assert out.returncode == 0 and "detached" in out.stdout, out.stderr
    assert "cli-vm" not in ws.compute_targets


# ----- bad input: clear errors, nothing stored ------------------------------------------------
def test_attach_bad_input_is_refused_and_nothing_is_stored(ws, node, srv, tmp_path):
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    from trainyard.exceptions import ComputeTargetException

    def names():
        return {t.name for t in ComputeTarget.list(ws)}

    before = names()
    cases = [
        (dict(private_key_file=str(tmp_path / "nope")), "does not exist"),
        (dict(private_key_file=str(node.key), password="secret"),
         "either a password or a private key"),
        (dict(private_key_file=str(node.key), ssh_port=0), "between 1 and 65535, got 0"),
        (dict(private_key_file=str(node.key), address="10.0.0.1 10.0.0.2"), "contains spaces"),
        (dict(private_key_file=str(Path_pub(node.key))), "does not hold a private key"),
        (dict(), "give a private key"),
    ]
    for i, (kw, msg) in enumerate(cases):
        args = dict(username=node.username, address=node.address, ssh_port=22)
        args.update(kw)
        cfg = RemoteCompute.attach_configuration(**args)
        with pytest.raises(ComputeTargetException) as e:
            ComputeTarget.attach(ws, "bad-%d" % i, cfg)
        assert msg in str(e.value), (kw, str(e.value))
        assert names() == before
        assert not (srv.data_dir / "compute" / ("bad-%d" % i)).exists()
    # Name taken: the existing target is untouched.
    attach(ws, node, "taken-vm")
    cfg = RemoteCompute.attach_configuration(username=node.username, address=node.address,
                                             private_key_file=str(node.key))
    with pytest.raises(ComputeTargetException) as e:
        ComputeTarget.attach(ws, "taken-vm", cfg)
    assert "is taken" in str(e.value)
    assert ComputeTarget(ws, "taken-vm").get_status() == "Succeeded"
    # The CLI says the same before sending anything.
    out = subprocess.run([trainyard_bin(), "compute", "attach", "cli-vm", "--address",
                          node.address, "--username", node.username, "--ssh-port", "0",
                          "--private-key-file", str(node.key)], cwd=srv.project_dir,
                         capture_output=True, text=True, env=srv.env())
    assert out.returncode == 2 and "between 1 and 65535" in out.stderr
    ComputeTarget(ws, "taken-vm").detach()
    assert "taken-vm" not in names()
    with pytest.raises(ComputeTargetException):
        ComputeTarget(ws, "taken-vm")


def Path_pub(key):
    return str(key) + ".pub"


def test_unknown_or_failed_target_is_refused_before_anything_is_queued(ws, node):
    from trainyard.core import Experiment, ScriptRunConfig
    from trainyard.core.compute import ComputeTarget
    from trainyard.exceptions import ComputeTargetException, UserErrorException
    exp = Experiment(ws, "remote-refused")
    src = e2e_util.write_script(node.root / "refused", "s.py", "print(1)").parent
    cfg = ScriptRunConfig(source_directory=str(src), script="s.py", compute_target="nope-vm")
    with pytest.raises(UserErrorException) as e:
        exp.submit(cfg)
    assert "unknown compute target 'nope-vm'" in str(e.value)
    # Wrong key: the target ends Failed, with the reason; submitting to it is refused.
    t = attach(ws, node, "wrongkey-vm", key=node.wrong_key, wait=False)
    with pytest.raises(ComputeTargetException) as e:
        t.wait_for_completion(show_output=False)
    assert "refused the login (Permission denied)" in str(e.value)
    assert ComputeTarget(ws, "wrongkey-vm").provisioning_state == "Failed"
    cfg = ScriptRunConfig(source_directory=str(src), script="s.py",
                          compute_target=ComputeTarget(ws, "wrongkey-vm"))
    with pytest.raises(UserErrorException) as e:
        exp.submit(cfg)
    assert "failed and cannot run jobs" in str(e.value) and "Permission denied" in str(e.value)
    assert list(exp.get_runs()) == []
    ComputeTarget(ws, "wrongkey-vm").detach()


def test_unreachable_address_and_no_python3(ws, node):
    from trainyard.exceptions import ComputeTargetException
    t = attach(ws, node, "nowhere-vm", address=node.unused_address, wait=False)
    with pytest.raises(ComputeTargetException) as e:
        t.wait_for_completion(show_output=False)
    assert "cannot be reached" in str(e.value)
    t.detach()
    t = attach(ws, node, "nopy-vm", user=node.nopy_username, wait=False)
    with pytest.raises(ComputeTargetException) as e:
        t.wait_for_completion(show_output=False)
    assert "no python3" in str(e.value)
    t.detach()


# ----- runs on the node ---------------------------------------------------------------------

PROBE = """
import os, socket, sys, time
from azureml.core.run import Run
run = Run.get_context()
print("HOST", socket.gethostname(), "CWD", os.getcwd(), "UID", os.getuid(), flush=True)
run.log("host_is_node", int(socket.gethostname() == "trainyard-node"))
n = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for i in range(n):
    run.log("tick", i)
    time.sleep(0.5)
os.makedirs("outputs", exist_ok=True)
open("outputs/where.txt", "w").write(socket.gethostname())
"""


def submit_probe(ws, tmp_path, ticks=0, target="attached-vm", exp="remote-runs"):
    from trainyard.core import Experiment, ScriptRunConfig
    src = tmp_path / ("src-%d" % ticks)
    e2e_util.write_script(src, "probe.py", PROBE)
    cfg = ScriptRunConfig(source_directory=str(src), script="probe.py",
                          arguments=[str(ticks)], compute_target=target,
                          environment=remote_env())
    return Experiment(ws, exp).submit(cfg)


def wait_status(run, statuses, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = run.get_status()
        if s in statuses:
            return s
        time.sleep(0.2)
    raise AssertionError("run %s still %s" % (run.id, run.get_status()))


def test_script_run_executes_on_the_node(vm, ws, node, tmp_path):
    run = submit_probe(ws, tmp_path, ticks=2)
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    log = run.get_details().get("logFiles")
    metrics = run.get_metrics()
    assert metrics["host_is_node"] == 1
    assert metrics["tick"] == [0, 1]
    assert run.get_details()["target"] == "attached-vm"
    # Logs stay on the node too.
    r = node.ssh("cat /tmp/azureml_run/%s/azureml-logs/70_driver_log.txt; "
                 "ls /tmp/azureml_run/%s" % (run.id, run.id))
    assert r.returncode == 0, (r.stderr, log)
    assert "HOST trainyard-node" in r.stdout and "agent.log" in r.stdout, r.stdout


def test_estimator_run_on_the_node(vm, ws, tmp_path):
    from trainyard.core import Experiment
    from trainyard.train.estimator import Estimator
    src = tmp_path / "est"
    e2e_util.write_script(src, "train.py", PROBE)
    est = Estimator(source_directory=str(src), compute_target="attached-vm",
                    entry_script="train.py", environment_definition=remote_env())
    run = Experiment(ws, "remote-estimator").submit(est)
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    assert run.get_metrics()["host_is_node"] == 1


def test_cancel_kills_the_remote_process_group(vm, ws, node, tmp_path):
    run = submit_probe(ws, tmp_path, ticks=200)
    wait_status(run, ("Running",))
    time.sleep(1.0)
    run.cancel()
    assert wait_status(run, ("Canceled", "Failed", "Completed"), 60) == "Canceled"
    time.sleep(1.0)
    r = node.ssh("ps -u %s -o pid=,args= | grep probe.py | grep -v grep || true" % node.username)
    assert "probe.py" not in r.stdout


def test_ssh_dropped_mid_run_the_run_survives(vm, ws, srv, tmp_path):
    run = submit_probe(ws, tmp_path, ticks=8)
    wait_status(run, ("Running",))
    time.sleep(1.0)
    master = json.loads(e2e_util.http(
        "GET", srv.url + "/api/v1/compute-targets/attached-vm", token=srv.token)[2])
    pid = master["scheduler"]["target"]["master_pid"]
    assert pid
    os.kill(pid, 9)  # the control master (and the tunnel) dies mid-run
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    assert run.get_metrics()["tick"] == list(range(8))
    again = json.loads(e2e_util.http(
        "GET", srv.url + "/api/v1/compute-targets/attached-vm", token=srv.token)[2])
    assert again["scheduler"]["target"]["master_pid"] not in (None, pid)


def test_detach_with_active_runs_refuses_unless_forced(ws, node, tmp_path):
    from trainyard.core.compute import ComputeTarget
    from trainyard.exceptions import ComputeTargetException
    attach(ws, node, "busy-vm")
    run = submit_probe(ws, tmp_path, ticks=200, target="busy-vm")
    wait_status(run, ("Running",))
    with pytest.raises(ComputeTargetException) as e:
        ComputeTarget(ws, "busy-vm").detach()
    assert "active" in str(e.value) and run.id in str(e.value)
    ComputeTarget(ws, "busy-vm").detach(force=True)
    assert run.get_status() == "Canceled"


def test_server_restart_readopts_remote_runs(tmp_path):
    n = RemoteNode(tmp_path / "node2")
    s = Server(tmp_path / "srv2").start()
    try:
        ws = s.workspace()
        attach(ws, n, "restart-vm")
        run = submit_probe(ws, tmp_path, ticks=10, target="restart-vm")
        wait_status(run, ("Running",))
        s.kill()  # SIGKILL: the agent on the node lives on and retries
        time.sleep(1.0)
        s.start()
        run.wait_for_completion(show_output=False)
        assert run.get_status() == "Completed", run.get_details()
        assert run.get_metrics()["tick"] == list(range(10))
    finally:
        s.stop()
        n.close()


def test_node_killed_mid_run_fails_after_the_heartbeat(tmp_path, ws):
    n = RemoteNode(tmp_path / "node3")
    try:
        attach(ws, n, "dying-vm", heartbeat_timeout_seconds=4)
        run = submit_probe(ws, tmp_path, ticks=200, target="dying-vm")
        wait_status(run, ("Running",))
        t0 = time.time()
        n.kill_node()
        assert wait_status(run, ("Failed", "Canceled", "Completed"), 60) == "Failed"
        assert time.time() - t0 >= 3.5
        msg = run.get_details()["error"]["error"]["message"]
        assert "stopped answering" in msg and "heartbeat timeout 4 s" in msg, msg
        from trainyard.core.compute import ComputeTarget
        ComputeTarget(ws, "dying-vm").detach(force=True)
    finally:
        n.close()


def test_changed_host_key_is_refused(tmp_path, ws):
    n = RemoteNode(tmp_path / "node4")
    try:
        attach(ws, n, "rekeyed-vm")
        n.change_host_key()  # the 'machine' is reinstalled; every connection drops
        run = submit_probe(ws, tmp_path, ticks=0, target="rekeyed-vm")
        assert wait_status(run, ("Failed", "Completed", "Canceled"), 60) == "Failed"
        msg = run.get_details()["error"]["error"]["message"]
        assert "host key" in msg and "not the one recorded" in msg, msg
        from trainyard.core.compute import ComputeTarget
        ComputeTarget(ws, "rekeyed-vm").detach(force=True)
    finally:
        n.close()


def test_seed_004_automl_on_the_attached_vm(vm, ws, node, tmp_path):
    """shared/seeds/004: attach, wait_for_completion(show_output=True), AutoMLConfig with
    compute_target=compute_target; the iterations run as processes on the node."""
    import contextlib
    np = pytest.importorskip("numpy")
    datasets = pytest.importorskip("sklearn.datasets")
    import logging
    from trainyard.core.compute import ComputeTarget
    from trainyard.core.experiment import Experiment
    from trainyard.train.automl import AutoMLConfig
    from trainyard.train.automl.automlexplainer import retrieve_model_explanation
    compute_target = ComputeTarget(ws, "attached-vm")
    project_folder = str(tmp_path / "automl-remote")
    os.makedirs(project_folder)
    e2e_util.write_script(project_folder, "get_data.py", """
        from sklearn import datasets

        def get_data():
            digits = datasets.load_digits()
            X_digits = digits.data[10:, :]
            y_digits = digits.target[10:]
            return {"X": X_digits, "y": y_digits}
        """)
    X_test = datasets.load_digits().data[:10, :]
    automl_settings = {"name": "AutoML_Demo_Experiment_{0}".format(time.time()),
                       "iteration_timeout_minutes": 10, "iterations": 4,
                       "n_cross_validations": 3, "primary_metric": "AUC_weighted",
                       "preprocess": False, "max_concurrent_iterations": 2,
                       "verbosity": logging.INFO}
    automl_config = AutoMLConfig(task="classification", debug_log="automl_errors.log",
                                 path=project_folder, compute_target=compute_target,
                                 data_script=project_folder + "/get_data.py",
                                 **automl_settings, model_explainability=True, X_valid=X_test)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        remote_run = Experiment(ws, "automl_remote").submit(automl_config, show_output=True)
    text = out.getvalue()
    assert remote_run.get_status() == "Completed", remote_run.get_details().get("error")
    assert "Running on remote compute: attached-vm" in text
    assert " ITERATION     PIPELINE" in text
    children = list(remote_run.get_children())
    assert len(children) == 4
    for c in children:
        # Executed on the node: its host name and a working dir under /tmp/azureml_run there.
        assert c.properties["host"] == "trainyard-node", c.properties
        assert c.properties["working_dir"].startswith("/"), c.properties
        assert c.properties["working_dir"] != os.getcwd()
        assert c.get_details()["target"] == "attached-vm"
    best_run, fitted_model = remote_run.get_output()
    assert best_run.id in [c.id for c in children]
    assert list(fitted_model.predict(X_test))
    shap_values, expected_values, overall_summary, overall_imp, per_class_summary, \
        per_class_imp = retrieve_model_explanation(best_run)
    assert len(overall_imp) == 64


def test_password_attach_and_an_agent_of_another_build_is_refused(ws, tmp_path):
    """Password login (given to ssh through SSH_ASKPASS, never argv), and a node whose installed
    trainyard is not the server's build: the run fails with the reason instead of running it."""
    from trainyard.core.compute import ComputeTarget, RemoteCompute
    n = RemoteNode(tmp_path / "node5")
    try:
        n.set_password("s3cret-Pa55")
        cfg = RemoteCompute.attach_configuration(username=n.username, address=n.address,
                                                 ssh_port=n.port, password="s3cret-Pa55")
        t = ComputeTarget.attach(ws, "password-vm", cfg)
        t.wait_for_completion(show_output=False)
        assert t.get_status() == "Succeeded"
        assert "password authentication" in t.serialize()["status"]["progress"][0]["message"]
        # The installed binary changes (another build): its agents are refused.
        r = n.ssh("touch -d '2001-01-01' ~/.trainyard/*/bin/trainyard")
        assert r.returncode == 0, r.stderr
        run = submit_probe(ws, tmp_path, ticks=0, target="password-vm", exp="remote-otherbuild")
        assert wait_status(run, ("Failed", "Completed", "Canceled"), 60) == "Failed"
        msg = run.get_details()["error"]["error"]["message"]
        assert "refusing to run an agent of another build" in msg, msg
        ComputeTarget(ws, "password-vm").detach(force=True)
    finally:
        n.close()


def test_agent_reaches_a_server_on_a_routable_address_directly(tmp_path):
    """No tunnel when the node can reach the server: the server listens on all addresses and
    the target's agent_server_url is its address on the node's link."""
    from trainyard.core.compute import ComputeTarget
    n = RemoteNode(tmp_path / "node6")
    s = Server(tmp_path / "srv6", extra_args=("--host", "0.0.0.0")).start()
    try:
        ws = s.workspace()
        url = "http://%s:%d" % (n.host_ip, s.port)
        t = attach(ws, n, "direct-vm", agent_server_url=url)
        progress = [p["message"] for p in t.serialize()["status"]["progress"]]
        assert any("agents reach the server directly at " + url in m for m in progress)
        assert not any("tunnel" in m for m in progress)
        assert ComputeTarget(ws, "direct-vm").get_status().connection["tunnel"] is None
        run = submit_probe(ws, tmp_path, ticks=1, target="direct-vm")
        run.wait_for_completion(show_output=False)
        assert run.get_status() == "Completed", run.get_details()
        assert run.get_metrics()["host_is_node"] == 1
    finally:
        s.stop()
        n.close()
