"""Issue 13 parts 1-2 and issue 15 part 4: the agent over HTTP only, run-scoped tokens, and no
orphaned scripts.

- An HTTP-only agent (`trainyard agent --node-dir`, no --data) runs as another user (nobody)
  who cannot read the server's data dir: snapshot, environment, dataset input and outputs all
  go through the REST API and the node cache; a second run of the same snapshot fetches nothing.
- A script gets a token of its run, never the workspace token; that token cannot read another
  run, list runs, reach web services (keys), mint tokens or download other runs' blobs, and is
  refused once its run has ended; the in-run SDK flows still work with it.
- kill -9 of the agent: the script and its children are gone within ~1 s, the run is Failed
  and every metric point the script wrote is stored (a recovery agent ships the rest of the
  spool), also when the server was down at the time.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import e2e_util
from e2e_util import http, trainyard_bin, wait_for, wait_status

NOBODY = "nobody"


def _nobody():
    try:
        pw = pwd.getpwnam(NOBODY)
    except KeyError:
        pytest.skip("no user 'nobody' on this machine")
    if os.geteuid() != 0:
        pytest.skip("running the agent as another user needs root")
    return pw


def _as_nobody(pw):
    return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups"]


def _node_dir(pw):
    d = Path(tempfile.mkdtemp(prefix="ty-node-", dir="/tmp"))
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _api(srv, method, path, body=None, token=None):
    status, headers, data = http(method, srv.url + path, body, token=token or srv.token)
    return status, (json.loads(data) if data and data[:1] in (b"{", b"[") else data)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_http_only_agent_as_another_user_never_touches_the_data_dir(make_server, tmp_path,
                                                                    monkeypatch):
    pw = _nobody()
    srv = make_server()
    monkeypatch.setenv("TRAINYARD_CONFIG", str(srv.config_path))
    data_dir = srv.data_dir
    os.chmod(data_dir, 0o700)
    # Precondition: the agent's user cannot see anything of the data dir.
    probe = subprocess.run(_as_nobody(pw) + ["test", "-r", str(data_dir / "objects")])
    assert probe.returncode != 0, "nobody can read the data dir: the test would prove nothing"
    node = _node_dir(pw)
    try:
        _run_http_only(srv, pw, node, tmp_path)
    finally:
        shutil.rmtree(node, ignore_errors=True)


def _run_http_only(srv, pw, node, tmp_path):
    ws = srv.workspace()
    # A dataset registered on the server (its file lives in the server's blob store).
    ddir = tmp_path / "ds"
    ddir.mkdir()
    (ddir / "numbers.csv").write_text("a,b\n1,2\n3,4\n")
    from trainyard.core import Dataset
    ds = Dataset.File.from_files(path=str(ddir / "numbers.csv")).register(ws, "http-only-ds")
    status, dto = _api(srv, "GET", "/api/v1/datasets/http-only-ds")
    assert status == 200, dto

    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        import os, sys
        from azureml.core.run import Run
        run = Run.get_context()
        print("cwd", os.getcwd(), flush=True)
        print("helper", open("helper.txt").read().strip(), flush=True)
        data = sys.argv[1]
        print("input", data, open(os.path.join(data, "numbers.csv")).read().count("\\n"), flush=True)
        print("token-kind", os.environ["TRAINYARD_TOKEN"][:6], flush=True)
        print("data-dir-var", os.environ.get("TRAINYARD_DATA_DIR"), flush=True)
        print("prefix", sys.prefix, flush=True)
        for i in range(10):
            run.log("loss", 1.0 / (i + 1))
        os.makedirs("outputs", exist_ok=True)
        open("outputs/model.txt", "w").write("trained on a node")
    """)
    (src / "helper.txt").write_text("snapshot file\n")
    env_spec = {"name": "http-only-env", "python": {"user_managed_dependencies": False},
                "environment_variables": {"FROM_SPEC": "1"}}
    definition = {"script": "job.py", "arguments": [{"dataset_input": "numbers"}],
                  "environment": env_spec,
                  "inputs": [{"name": "numbers", "mode": "download", "path_on_compute": None,
                              "dataset": {"name": "http-only-ds", "version": dto["version"],
                                          "id": dto["id"]},
                              "definition": dto["definition"]}]}

    def start_run():
        # Created but not scheduled (kind interactive, NotStarted): this test runs the agent.
        status, run = _api(srv, "POST", "/api/v1/experiments/http-only/runs",
                           {"kind": "interactive", "status": "NotStarted",
                            "snapshot_directory": str(src), "definition": definition})
        assert status == 201, run
        env = {"PATH": os.environ["PATH"], "HOME": str(node), "TRAINYARD_TOKEN": srv.token,
               "TRAINYARD_PYTHON_DIR": str(e2e_util.PYTHON_DIR)}
        proc = subprocess.run(
            _as_nobody(pw) + [trainyard_bin(), "agent", "--run", run["id"], "--server", srv.url,
                              "--node-dir", str(node)],
            env=env, capture_output=True, text=True, timeout=300)
        return run["id"], proc

    run_id, proc = start_run()
    assert proc.returncode == 0, proc.stderr
    status, run = _api(srv, "GET", "/api/v1/runs/" + run_id)
    assert run["status"] == "Completed", (run, proc.stderr)
    status, log = _api(srv, "GET", "/api/v1/runs/%s/logs/azureml-logs/70_driver_log.txt" % run_id)
    log = log.decode()
    run_dir = node / "runs" / run_id
    assert "cwd %s" % (run_dir / "wd") in log, log
    assert "helper snapshot file" in log
    assert "\ninput %s 3\n" % (run_dir / "inputs" / "numbers") in log, log
    assert "token-kind tyrun_" in log          # the script got a run token, not the workspace's
    assert "data-dir-var None" in log
    status, metrics = _api(srv, "GET", "/api/v1/runs/%s/metrics" % run_id)
    assert metrics["metrics"]["loss"] == [1.0 / (i + 1) for i in range(10)]
    status, body = _api(srv, "GET", "/api/v1/runs/%s/artifacts/outputs/model.txt" % run_id)
    assert status == 200 and body == b"trained on a node"
    # Logs stay on the node too; the environment was built in the node user's cache
    # (~/.cache/trainyard/envs with HOME=node: one cache per machine and user, issue 18; keyed
    # by the spec hash the server's builder uses: same code, the node's interpreters); the
    # server's data dir got no run dir for it.
    assert (run_dir / "azureml-logs" / "70_driver_log.txt").read_text().count("helper snapshot") == 1
    prefix = Path(log.split("\nprefix ", 1)[1].splitlines()[0])
    assert prefix.parent == node / ".cache" / "trainyard" / "envs", prefix
    marker = json.loads((prefix / ".trainyard-env.json").read_text())
    assert marker["spec"]["name"] == "http-only-env", marker
    assert not (srv.data_dir / "runs" / run_id).exists()
    assert "blobs fetched" in proc.stderr and " 0 blobs fetched" not in proc.stderr, proc.stderr

    # The same snapshot again: every blob is in the node cache, nothing is fetched.
    run_id2, proc2 = start_run()
    assert proc2.returncode == 0, proc2.stderr
    assert _api(srv, "GET", "/api/v1/runs/" + run_id2)[1]["status"] == "Completed", proc2.stderr
    assert "2 files, 0 blobs fetched" in proc2.stderr, proc2.stderr


def test_server_flag_runs_local_agents_http_only(make_server, plain_env, tmp_path):
    node = tmp_path / "node"
    srv = make_server("--agent-node-dir", str(node))
    from trainyard.core import Experiment, ScriptRunConfig
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        import os
        from azureml.core.run import Run
        Run.get_context().log("where", os.getcwd())
        print("data dir:", os.environ.get("TRAINYARD_DATA_DIR"))
    """)
    ws = srv.workspace()
    run = Experiment(ws, "node-flag").submit(
        ScriptRunConfig(source_directory=str(src), script="job.py", environment=plain_env))
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    assert run.get_metrics()["where"] == str(node / "runs" / run.id / "wd")
    assert (node / "objects").is_dir()


def test_http_only_agent_builds_the_environment_under_the_servers_spec_hash(make_server,
                                                                              tmp_path):
    """Same machine, same interpreters: the node's environment cache key is the server's."""
    node = tmp_path / "node"
    # Without a shared TRAINYARD_ENV_CACHE: the server builds in its data dir, the agent in
    # its node dir.
    srv = e2e_util.Server(tmp_path / "srv", extra_args=["--agent-node-dir", str(node)],
                          env=dict(os.environ, TRAINYARD_ENV_CACHE="")).start()
    try:
        _same_spec_hash(srv, node, tmp_path)
    finally:
        srv.stop()


def _same_spec_hash(srv, node, tmp_path):
    from trainyard.core import Environment, Experiment, ScriptRunConfig
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        import sys
        from azureml.core.run import Run
        Run.get_context().log("prefix", sys.prefix)
    """)
    env = Environment("node-hash-env")   # a managed venv with nothing installed
    run = Experiment(srv.workspace(), "node-hash").submit(
        ScriptRunConfig(source_directory=str(src), script="job.py", environment=env))
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    prefix = Path(run.get_metrics()["prefix"])
    status, dto = _api(srv, "GET", "/api/v1/runs/" + run.id)
    status, built = _api(srv, "POST", "/api/v1/environment-cache/build",
                         {"spec": dto["definition"]["environment"]})
    assert status == 200, built
    assert prefix == node / "envs" / built["spec_hash"], (prefix, built)
    assert built["env_dir"] != str(prefix)   # the server's own cache is a different place


# ----- run tokens -----

PROBE = """
import json, os, sys, urllib.request, urllib.error
from azureml.core.run import Run
from azureml.core import Workspace
out, other_run, other_blob = sys.argv[1], sys.argv[2], sys.argv[3]
url, tok = os.environ["TRAINYARD_SERVER_URL"], os.environ["TRAINYARD_TOKEN"]
def call(method, path, body=None, token=tok):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
run = Run.get_context()
me = os.environ["TRAINYARD_RUN_ID"]
snap = json.load(urllib.request.urlopen(urllib.request.Request(
    url + "/api/v1/runs/%s/snapshot" % me, headers={"Authorization": "Bearer " + tok})))
res = {
    "token": tok,
    "own_run": call("GET", "/api/v1/runs/" + me),
    "other_run": call("GET", "/api/v1/runs/" + other_run),
    "other_run_metrics": call("POST", "/api/v1/runs/%s/metrics" % other_run,
                              {"metrics": [{"name": "x", "value": 1}]}),
    "list_runs": call("GET", "/api/v1/experiments/token-probe/runs"),
    "services": call("GET", "/api/v1/services"),
    "service_keys": call("GET", "/api/v1/services/any-service/keys"),
    "mint": call("POST", "/api/v1/runs/%s/token" % me),
    "top_level_run": call("POST", "/api/v1/experiments/token-probe/runs", {"kind": "interactive"}),
    "env_cache": call("GET", "/api/v1/environment-cache"),
    "other_blob": call("GET", "/api/v1/blobs/" + other_blob),
    "own_snapshot_blob": call("GET", "/api/v1/blobs/" + snap["files"][0]["sha256"]),
    "experiments": call("GET", "/api/v1/experiments"),
    "models": call("GET", "/api/v1/models"),
    "local_path_dataset": call("POST", "/api/v1/dataset-definitions",
                               {"type": "file", "paths": ["/etc/hostname"]}),
}
# The SDK flows a script uses inside a run, with the run token.
run.log("acc", 0.5)
child = run.child_run(name="c1")
child.log("child_metric", 7)
child.complete()
os.makedirs("outputs", exist_ok=True)
open("outputs/model.pkl", "w").write("model")
run.upload_file("outputs/model.pkl", "outputs/model.pkl")
m = run.register_model(model_name="token-model", model_path="outputs/model.pkl")
res["model_version"] = m.version
ws = run.experiment.workspace
res["children"] = [c.id for c in run.get_children()]
# Datasets and datastores inside a run.
from azureml.core import Dataset
got = Dataset.get_by_name(ws, "token-fds").download(target_path="dl", overwrite=True)
res["dataset_text"] = open(got[0]).read()
store = ws.get_default_datastore()
open("up.txt", "w").write("uploaded from a run")
store.upload_files(["up.txt"], target_path="from-run", overwrite=True, show_progress=False)
res["datastore_files"] = [f["path"] for f in store._list_files("from-run")]
json.dump(res, open(out, "w"))
"""


def test_run_token_is_scoped_to_its_run_and_ends_with_it(server, ws, plain_env, tmp_path):
    from trainyard.core import Experiment, ScriptRunConfig
    # Another run with an artifact, which the probe must not reach.
    other = Experiment(ws, "token-other").start_logging()
    secret = tmp_path / "secret.txt"
    secret.write_text("another run's secret %s" % time.time())
    other.upload_file("outputs/secret.txt", str(secret))
    other_blob = [f for f in _api(server, "GET", "/api/v1/runs/%s/artifacts" % other.id)[1]["files"]
                  if f["path"] == "outputs/secret.txt"][0]["sha256"]

    from trainyard.core import Dataset
    (tmp_path / "fds.txt").write_text("dataset file for a run")
    Dataset.File.from_files(path=str(tmp_path / "fds.txt"), workspace=ws).register(
        ws, "token-fds", create_new_version=True)
    src = tmp_path / "src"
    e2e_util.write_script(src, "probe.py", PROBE)
    out = tmp_path / "probe.json"
    run = Experiment(ws, "token-probe").submit(ScriptRunConfig(
        source_directory=str(src), script="probe.py",
        arguments=[str(out), other.id, other_blob], environment=plain_env))
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details()
    res = json.loads(out.read_text())
    tok = res.pop("token")
    assert tok.startswith("tyrun_") and tok != server.token
    assert res["own_run"] == 200
    assert res["own_snapshot_blob"] == 200
    assert res["experiments"] == 200 and res["models"] == 200
    for k in ("other_run", "other_run_metrics", "list_runs", "services", "service_keys", "mint",
              "top_level_run", "env_cache", "other_blob", "local_path_dataset"):
        assert res[k] == 403, (k, res)
    # The in-run SDK flows worked with the run token.
    assert run.get_metrics()["acc"] == 0.5
    assert len(res["children"]) == 1
    child = [c for c in run.get_children()][0]
    assert child.get_metrics()["child_metric"] == 7 and child.get_status() == "Completed"
    assert res["model_version"] >= 1
    assert res["dataset_text"] == "dataset file for a run"
    assert res["datastore_files"] == ["from-run/up.txt"], res["datastore_files"]
    # The run is over: its token is refused everywhere, its own run included.
    status, body = _api(server, "GET", "/api/v1/runs/" + run.id, token=tok)
    assert status == 401 and "no longer valid" in body["error"]["message"], body
    assert _api(server, "GET", "/api/v1/experiments", token=tok)[0] == 401
    other.complete()


def test_workspace_token_exchange_and_forbidden_messages(server, ws):
    from trainyard.core import Experiment
    run = Experiment(ws, "token-mint").start_logging()
    status, body = _api(server, "POST", "/api/v1/runs/%s/token" % run.id)
    assert status == 201 and body["token"].startswith("tyrun_")
    tok = body["token"]
    status, body = _api(server, "GET", "/api/v1/services", token=tok)
    assert status == 403 and "run's token cannot" in body["error"]["message"]
    assert _api(server, "GET", "/api/v1/runs/" + run.id, token=tok)[0] == 200
    assert _api(server, "GET", "/api/v1/runs/" + run.id, token="tyrun_" + "0" * 64)[0] == 401
    run.complete()
    assert _api(server, "GET", "/api/v1/runs/" + run.id, token=tok)[0] == 401
    status, body = _api(server, "POST", "/api/v1/runs/%s/token" % run.id)
    assert status == 409, body


# ----- orphans: kill -9 of the agent -----

ORPHAN = """
import os, subprocess, sys, time
from azureml.core.run import Run
run = Run.get_context()
ctl = sys.argv[1]
n = int(sys.argv[2])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(os.path.join(ctl, "pids"), "w").write("%d %d %d" % (os.getpid(), os.getppid(), child.pid))
while not os.path.exists(os.path.join(ctl, "go")):   # the test has stopped the agent
    time.sleep(0.01)
for i in range(n):
    run.log("m", i)
print("printed while the agent was stopped", flush=True)
open(os.path.join(ctl, "written"), "w").write(str(n))
time.sleep(600)
"""


def _start_orphan_run(ws, plain_env, tmp_path, n):
    from trainyard.core import Experiment, ScriptRunConfig
    src, ctl = tmp_path / "src", tmp_path / "ctl"
    ctl.mkdir()
    e2e_util.write_script(src, "orphan.py", ORPHAN)
    run = Experiment(ws, "orphans").submit(ScriptRunConfig(
        source_directory=str(src), script="orphan.py", arguments=[str(ctl), str(n)],
        environment=plain_env))
    pids = wait_for(lambda: (ctl / "pids").exists() and (ctl / "pids").read_text(), timeout=120,
                    what="the script to start")
    script, agent, grandchild = map(int, pids.split())
    # The agent stops shipping (SIGSTOP) before the script writes: every point is unshipped
    # when the agent dies.
    os.kill(agent, signal.SIGSTOP)
    (ctl / "go").write_text("")
    wait_for(lambda: (ctl / "written").exists(), timeout=120, what="the script's points")
    return run, script, agent, grandchild


@pytest.mark.parametrize("mode", ["local", "http-only"])
def test_agent_killed_script_dies_run_fails_no_point_lost(make_server, plain_env, tmp_path, mode):
    n = 20000
    srv = make_server(*(["--agent-node-dir", str(tmp_path / "node")] if mode == "http-only"
                        else []))
    ws = srv.workspace()
    run, script, agent, grandchild = _start_orphan_run(ws, plain_env, tmp_path, n)
    killed = time.time()
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: not _alive(script) and not _alive(grandchild), timeout=3,
             what="the script and its child to die with their agent")
    assert time.time() - killed < 1.5
    wait_status(run, timeout=60)
    details = run.get_details()
    assert run.get_status() == "Failed", details
    msg = details["error"]["error"]["message"]
    assert "agent stopped unexpectedly" in msg and "killed by signal 9" in msg, msg
    assert "%d metric lines" % n in msg, msg
    assert run.get_metrics(name="m")["m"] == list(range(n))
    # Output the agent never read (still in the pipe when it died) was saved by the watcher
    # and shipped by the recovery agent.
    status, log = _api(srv, "GET", "/api/v1/runs/%s/logs/azureml-logs/70_driver_log.txt" % run.id)
    assert b"printed while the agent was stopped" in log, log


def test_agent_killed_while_server_down_is_recovered_at_start(make_server, plain_env, tmp_path):
    n = 5000
    srv = make_server()
    ws = srv.workspace()
    run, script, agent, grandchild = _start_orphan_run(ws, plain_env, tmp_path, n)
    srv.kill()
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: not _alive(script) and not _alive(grandchild), timeout=3,
             what="the script and its child to die with their agent")
    srv.start()
    ws = srv.workspace()
    from trainyard.core import Run
    run = Run.get(ws, run.id)
    wait_status(run, timeout=60)
    assert run.get_status() == "Failed"
    msg = run.get_details()["error"]["error"]["message"]
    assert "process was gone when the Trainyard server started" in msg, msg
    assert run.get_metrics(name="m")["m"] == list(range(n))


def test_recovery_agent_resumes_from_ship_state(server, ws, tmp_path):
    """`trainyard agent --recover` on a run dir left by a dead agent: it ships the spool from the
    offset in ship.state and the log bytes past what was shipped, then fails the run."""
    from trainyard.core import Experiment
    run = Experiment(ws, "recover-direct").start_logging()
    run_dir = tmp_path / "rd"
    (run_dir / "azureml-logs").mkdir(parents=True)
    lines = ['{"r":"%s","n":"m","k":"scalar","v":%d,"t":1}\n' % (run.id, i) for i in range(10)]
    (run_dir / "metrics.spool").write_text("".join(lines) + '{"r":"%s","n":"m","v":' % run.id)
    shipped = len("".join(lines[:4]).encode())
    (run_dir / "azureml-logs" / "70_driver_log.txt").write_text("shipped part|unshipped tail\n")
    (run_dir / "ship.state").write_text(
        "spool %d 4\nlog %d azureml-logs/70_driver_log.txt\n" % (shipped, len("shipped part|")))
    env = dict(os.environ, TRAINYARD_TOKEN=server.token)
    proc = subprocess.run(
        [trainyard_bin(), "agent", "--run", run.id, "--server", server.url, "--node-dir",
         str(tmp_path / "node"), "--run-dir", str(run_dir), "--recover", "--reason",
         "test: agent gone"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Lines 4..9 were shipped (0..3 were recorded as shipped; the torn last line is not).
    assert run.get_metrics(name="m")["m"] == list(range(4, 10))
    status, log = _api(server, "GET",
                       "/api/v1/runs/%s/logs/azureml-logs/70_driver_log.txt" % run.id)
    assert log == b"unshipped tail\n"
    assert run.get_status() == "Failed"
    msg = run.get_details()["error"]["error"]["message"]
    assert "test: agent gone" in msg and "6 metric lines and 15 log bytes" in msg, msg


def test_agent_user_isolates_scripts_from_the_data_dir(make_server, tmp_path):
    """`--agent-node-dir DIR --agent-user nobody`: local runs are started HTTP-only as nobody,
    whose script cannot read the workspace token from config.json."""
    pw = _nobody()
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs /usr/bin/python3 (an interpreter nobody can run)")
    node = _node_dir(pw)
    try:
        srv = make_server("--agent-node-dir", str(node), "--agent-user", NOBODY)
        os.chmod(srv.data_dir, 0o700)
        from trainyard.core import Environment, Experiment, ScriptRunConfig
        env = Environment("as-nobody")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = "/usr/bin/python3"
        src = tmp_path / "src"
        e2e_util.write_script(src, "job.py", """
            import os, sys
            from azureml.core.run import Run
            run = Run.get_context()
            run.log("uid", os.getuid())
            try:
                open(sys.argv[1]).read()
                run.log("config", "readable")
            except PermissionError:
                run.log("config", "refused")
        """)
        run = Experiment(srv.workspace(), "as-nobody").submit(ScriptRunConfig(
            source_directory=str(src), script="job.py",
            arguments=[str(srv.data_dir / "config.json")], environment=env))
        run.wait_for_completion(show_output=False)
        assert run.get_status() == "Completed", run.get_details()
        m = run.get_metrics()
        assert m["uid"] == pw.pw_uid and m["config"] == "refused", m
    finally:
        shutil.rmtree(node, ignore_errors=True)


def test_agent_user_bad_settings_are_refused_before_start(tmp_path):
    for extra, says in ((["--agent-user", "nobody"], "needs --agent-node-dir"),
                        (["--agent-node-dir", str(tmp_path / "n"), "--agent-user", "no-such-user-x"],
                         "no account named")):
        proc = subprocess.run([trainyard_bin(), "server", "--data", str(tmp_path / "d"),
                               "--port", "0"] + extra, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and says in proc.stderr, (proc.returncode, proc.stderr)
        assert not (tmp_path / "d" / "config.json").exists()
