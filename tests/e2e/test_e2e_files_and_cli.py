"""Run files, logs and snapshots through the SDK, and the same through the `trainyard` CLI."""
import json
import os
import queue
import subprocess
import threading
import time
import zipfile
from pathlib import Path

from e2e_util import trainyard_bin, wait_for, wait_status, write_script


def test_file_names_and_download_files(completed_run, tmp_path):
    names = completed_run.get_file_names()
    for n in ["outputs/hello.txt", "outputs/sub/data.csv", "logs/custom.log"]:
        assert n in names, names
    assert any(n.endswith("70_driver_log.txt") for n in names), names

    completed_run.download_files(prefix="outputs", output_directory=str(tmp_path))
    assert (tmp_path / "outputs" / "hello.txt").read_text() == "hello outputs"
    assert (tmp_path / "outputs" / "sub" / "data.csv").read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "logs").exists()

    one = tmp_path / "one.txt"
    completed_run.download_file("outputs/hello.txt", output_file_path=str(one))
    assert one.read_text() == "hello outputs"


def test_metrics_of_script_run(completed_run):
    m = completed_run.get_metrics()
    assert m["loss"] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert m["answer"] == 42


def test_get_details_with_logs(completed_run):
    d = completed_run.get_details_with_logs()
    assert d["status"] == "Completed"
    logs = d["logFiles"]
    driver = [v for k, v in logs.items() if k.endswith("70_driver_log.txt")]
    assert driver and "hello from job.py" in driver[0] and "to stderr" in driver[0], logs


def test_restore_snapshot(completed_run, tmp_path):
    out = completed_run.restore_snapshot(path=str(tmp_path))
    out = Path(out)
    if out.is_file() and zipfile.is_zipfile(out):
        with zipfile.ZipFile(out) as z:
            names = {n.rstrip("/") for n in z.namelist()}
            job = z.read([n for n in z.namelist() if n.endswith("job.py")][0]).decode()
    else:
        names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
        job = (out / "job.py").read_text()
    base = {n.rsplit("/", 1)[-1] for n in names}
    assert "job.py" in base and "helper.py" in base, names
    assert "secret.txt" not in base, "the .amlignore'd file was snapshotted: %s" % names
    assert "hello from job.py" in job


def cli(server, *args, cwd=None, timeout=60):
    return subprocess.run([trainyard_bin(), *args], env=server.env(), cwd=cwd or server.project_dir,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def test_cli_run_list_show_download(server, completed_run, tmp_path):
    p = cli(server, "run", "list", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    runs = doc["runs"] if isinstance(doc, dict) else doc
    assert completed_run.id in [r["id"] for r in runs]

    p = cli(server, "run", "list")
    assert p.returncode == 0 and completed_run.id in p.stdout, p.stdout + p.stderr

    p = cli(server, "run", "show", completed_run.id, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "Completed"

    p = cli(server, "run", "show", completed_run.id)
    assert p.returncode == 0 and "Completed" in p.stdout

    dest = tmp_path / "dl"
    p = cli(server, "run", "download", completed_run.id, "--prefix", "outputs", "--dest", str(dest))
    assert p.returncode == 0, p.stderr
    assert (dest / "outputs" / "hello.txt").read_text() == "hello outputs"

    p = cli(server, "run", "logs", completed_run.id)
    assert p.returncode == 0 and "hello from job.py" in p.stdout, p.stdout + p.stderr


def test_cli_exit_codes(server, tmp_path):
    assert cli(server, "run", "show", "no-such-run").returncode == 3
    assert cli(server, "model", "show", "no-such-model").returncode == 3
    assert cli(server, "run", "frobnicate").returncode == 2
    bad = dict(server.env())
    cfg = json.loads(Path(bad["TRAINYARD_CONFIG"]).read_text())
    cfg["token"] = "wrong"
    badcfg = Path(bad["TRAINYARD_CONFIG"]).with_name("bad-token.json")
    badcfg.write_text(json.dumps(cfg))
    p = subprocess.run([trainyard_bin(), "run", "list"], stdout=subprocess.PIPE, cwd=str(tmp_path),
                       stderr=subprocess.PIPE, text=True, timeout=60,
                       env=dict(bad, TRAINYARD_CONFIG=str(badcfg)))
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)


def test_cli_model_list_show(server, completed_run):
    completed_run.register_model(model_name="e2e-cli-model", model_path="outputs/hello.txt")
    p = cli(server, "model", "list", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    models = doc["models"] if isinstance(doc, dict) else doc
    assert "e2e-cli-model" in [m["name"] for m in models]
    p = cli(server, "model", "show", "e2e-cli-model:1", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["version"] == 1


def test_cli_logs_follow_streams_live(server, plain_env, tmp_path):
    from trainyard.core import Experiment, ScriptRunConfig, Workspace
    release = tmp_path / "release"
    src = tmp_path / "src"
    write_script(src, "chatty.py", """
        import os, sys, time
        for i in range(5):
            print("line", i, flush=True)
            time.sleep(0.1)
        deadline = time.time() + 120
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.05)
        print("after-release", flush=True)
    """)
    ws = Workspace.from_config()
    run = Experiment(ws, "e2e-logs-follow").submit(ScriptRunConfig(
        source_directory=str(src), script="chatty.py", arguments=[str(release)],
        environment=plain_env))

    proc = subprocess.Popen([trainyard_bin(), "run", "logs", "-f", run.id], env=server.env(),
                            cwd=str(server.project_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    try:
        deadline = time.time() + 120
        while "line 4" not in "".join(seen):
            assert time.time() < deadline, "no live output: %r" % seen
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "logs -f ended before the run did: %r" % seen
            seen.append(line)
        # Those lines arrived while the run is still running (it waits for `release`).
        assert run.get_status() == "Running"
        assert "after-release" not in "".join(seen)
        release.write_text("go")
        proc.wait(timeout=120)
        while True:
            line = lines.get(timeout=10)
            if line is None:
                break
            seen.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen)
    assert "after-release" in "".join(seen)
    assert wait_status(run) == "Completed"


def test_init_up_status_down(tmp_path, trainyard_binary):
    from e2e_util import free_port, http
    proj = tmp_path / "My Project"
    proj.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")}

    def ty(*args):
        return subprocess.run([trainyard_binary, *args], cwd=str(proj), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)

    p = ty("init", "--port", str(port))
    assert p.returncode == 0, p.stderr
    cfg_path = proj / ".trainyard" / "config.json"
    assert oct(cfg_path.stat().st_mode & 0o777) == oct(0o600)
    cfg = json.loads(cfg_path.read_text())
    assert set(cfg) >= {"name", "server_url", "token", "data_dir"}
    assert cfg["server_url"] == "http://127.0.0.1:%d" % port
    assert cfg["name"] and " " not in cfg["name"]
    try:
        p = ty("up")
        assert p.returncode == 0, p.stderr
        assert http("GET", cfg["server_url"] + "/healthz")[0] == 200
        p = ty("up")  # idempotent
        assert p.returncode == 0, p.stderr
        assert "another build" not in p.stderr, p.stderr  # same binary: no warning
        assert json.loads(http("GET", cfg["server_url"] + "/healthz")[2])["build"]
        p = ty("status")
        assert p.returncode == 0, p.stderr
        # the SDK finds the workspace by walking up from a subfolder
        sub = proj / "a" / "b"
        sub.mkdir(parents=True)
        code = ("from trainyard.core import Workspace\n"
                "ws = Workspace.from_config()\nprint('WS', ws.name)\n")
        from e2e_util import PYTHON_DIR
        import sys
        q = subprocess.run([sys.executable, "-c", code], cwd=str(sub), text=True,
                           env=dict(env, PYTHONPATH=str(PYTHON_DIR)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert q.returncode == 0 and ("WS " + cfg["name"]) in q.stdout, q.stdout
    finally:
        p = ty("down")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: http_down(cfg["server_url"]), timeout=20, what="the server to stop")


def http_down(url):
    from e2e_util import http
    try:
        http("GET", url + "/healthz", timeout=1)
        return False
    except OSError:
        return True


def test_cli_model_register_folder_dedups_and_downloads(server, tmp_path):
    from trainyard.core import Model
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "weights.bin").write_bytes(b"\x00\x01" * 5000)
    (model_dir / "sub" / "config.json").write_text('{"layers": 3}')
    p = cli(server, "model", "register", "--name", "cli-model", "--path", str(model_dir),
            "--framework", "Custom", "--json")
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert m["version"] == 1 and m["path"] == "model"
    assert sorted(f["path"] for f in m["files"]) == ["model/sub/config.json", "model/weights.bin"]
    # Registering the same files again makes version 2 and uploads nothing new.
    p = cli(server, "model", "register", "--name", "cli-model", "--path", str(model_dir), "--json")
    assert json.loads(p.stdout)["version"] == 2
    dest = tmp_path / "dl"
    p = cli(server, "model", "download", "cli-model:1", "--dest", str(dest))
    assert p.returncode == 0, p.stderr
    assert (dest / "model" / "weights.bin").read_bytes() == b"\x00\x01" * 5000
    assert Model(server.workspace(), "cli-model").version == 2
    bad = cli(server, "model", "register", "--name", "bad name", "--path", str(model_dir))
    assert bad.returncode == 2 and "model name" in bad.stderr
    missing = cli(server, "model", "register", "--name", "x", "--path", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "--path" in missing.stderr
