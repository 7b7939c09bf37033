"""Datasets, datastores and the environment registry end to end: a real server, a real local
HTTP file server, real runs (issue 4)."""
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import e2e_util
from e2e_util import trainyard_bin

from trainyard.core import Dataset, Environment, Experiment, ScriptRunConfig
from trainyard.exceptions import UserErrorException


class FileServer:
    """A local HTTP server of in-memory files that counts requests; `truncate` paths announce
    more bytes than they send."""

    def __init__(self):
        self.files = {}
        self.truncate = set()
        self.hits = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                body = outer.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                if self.path in outer.truncate:
                    self.send_header("Content-Length", str(len(body) * 2))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)


@pytest.fixture(scope="module")
def files():
    fs = FileServer()
    yield fs
    fs.httpd.shutdown()


def _run(ws, src_dir, script, arguments, env, experiment="e2e-datasets", **kw):
    cfg = ScriptRunConfig(source_directory=str(src_dir), script=script, arguments=arguments,
                          environment=env, **kw)
    run = Experiment(ws, experiment).submit(cfg)
    run.wait_for_completion(show_output=False, raise_on_error=False)
    return run


def _driver_log(run):
    return run.get_details_with_logs()["logFiles"].get("azureml-logs/70_driver_log.txt", "")


def test_url_dataset_is_downloaded_once_and_mounted_read_only(ws, server, files, plain_env,
                                                              tmp_path):
    files.files["/once/a.bin"] = os.urandom(20000)
    files.files["/once/b.txt"] = b"hello dataset\n"
    ds = Dataset.File.from_files(path=[files.url("/once/a.bin"), files.url("/once/b.txt")])
    assert ds.to_path() == ["/a.bin", "/b.txt"]
    ds = ds.register(ws, "once-web", create_new_version=True)
    assert files.hits == {"/once/a.bin": 1, "/once/b.txt": 1}

    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        import hashlib, os, sys
        from azureml.core import Run
        d = sys.argv[2]
        print("files", sorted(os.listdir(d)))
        print("sha", hashlib.sha256(open(os.path.join(d, "a.bin"), "rb").read()).hexdigest())
        print("input", Run.get_context().input_datasets)
        try:
            with open(os.path.join(d, "b.txt"), "w") as f:
                f.write("changed")
            print("WRITE ALLOWED")
        except OSError as e:
            print("write refused:", e)
        try:
            open(os.path.join(d, "new.txt"), "w")
            print("CREATE ALLOWED")
        except OSError as e:
            print("create refused:", e)
    """)
    import hashlib
    want = hashlib.sha256(files.files["/once/a.bin"]).hexdigest()
    runs = []
    for _ in range(2):
        run = _run(ws, src, "job.py", ["--data", ds.as_mount()], plain_env)
        assert run.get_status() == "Completed", run.get_details()
        log = _driver_log(run)
        assert "files ['a.bin', 'b.txt']" in log
        assert "sha " + want in log
        assert "WRITE ALLOWED" not in log and "CREATE ALLOWED" not in log
        assert "Read-only file system" in log, log
        runs.append(run)
    # Both runs used the cached copy: the URLs were fetched once, at creation.
    assert files.hits == {"/once/a.bin": 1, "/once/b.txt": 1}
    index = list((server.data_dir / "cache" / "urls").glob("*.json"))
    assert {json.loads(p.read_text())["url"] for p in index} >= {files.url("/once/a.bin"),
                                                                files.url("/once/b.txt")}
    # Lineage: the run details and `trainyard dataset show` name the consuming runs.
    details = ws._client.get("/api/v1/runs/" + runs[0].id)
    assert details["input_datasets"] == [{"input_name": "once-web", "mode": "mount",
                                          "name": "once-web", "version": ds.version,
                                          "id": ds.id}]
    assert runs[1].get_details()["inputDatasets"] == [
        {"dataset": {"id": ds.id, "name": "once-web", "version": ds.version},
         "consumptionDetails": {"type": "RunInput", "inputName": "once-web",
                                "mechanism": "Mount"}}]
    shown = subprocess.run([trainyard_bin(), "dataset", "show", "once-web", "--json"],
                           cwd=server.project_dir, env=server.env(), capture_output=True, text=True, check=True)
    assert {r["run_id"] for r in json.loads(shown.stdout)["runs"]} == {r.id for r in runs}


def test_download_mode_is_writable_and_named_inputs(ws, files, plain_env, tmp_path):
    files.files["/dl/data.csv"] = b"x,y\n1,2\n"
    ds = Dataset.File.from_files(path=files.url("/dl/data.csv"))
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        import os, sys
        from azureml.core import Run
        d = Run.get_context().input_datasets["training"]
        assert d == sys.argv[1], (d, sys.argv)
        assert os.environ["AZUREML_DATAREFERENCE_training"] == d
        with open(os.path.join(d, "data.csv"), "a") as f:
            f.write("3,4\\n")
        print("appended", open(os.path.join(d, "data.csv")).read().count("\\n"))
    """)
    run = _run(ws, src, "job.py", [ds.as_named_input("training").as_download()], plain_env)
    assert run.get_status() == "Completed", _driver_log(run)
    assert "appended 3" in _driver_log(run)


def test_404_and_truncated_downloads_fail_clearly_and_cache_nothing(ws, server, files):
    with pytest.raises(UserErrorException) as e404:
        Dataset.File.from_files(path=files.url("/nope/missing.gz"))
    assert "HTTP 404" in str(e404.value) and files.url("/nope/missing.gz") in str(e404.value)

    files.files["/cut/part.bin"] = b"x" * 5000
    files.truncate.add("/cut/part.bin")
    with pytest.raises(UserErrorException) as ecut:
        Dataset.File.from_files(path=files.url("/cut/part.bin"))
    assert "truncated" in str(ecut.value), str(ecut.value)

    urls = {json.loads(p.read_text())["url"]
            for p in (server.data_dir / "cache" / "urls").glob("*.json")}
    assert files.url("/nope/missing.gz") not in urls
    assert files.url("/cut/part.bin") not in urls
    leftovers = [p for p in (server.data_dir / "objects" / "tmp").iterdir()
                 if p.name.startswith("url-")] if (server.data_dir / "objects" / "tmp").exists() \
        else []
    assert leftovers == []
    # validate=False defers the download: the error comes when a run consumes it.
    lazy = Dataset.File.from_files(path=files.url("/nope/later.gz"), validate=False)
    assert lazy.to_path() == ["/later.gz"]


def test_dataset_versions_and_registration_rules(ws, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("one")
    d1 = Dataset.File.from_files(path=str(f)).register(ws, "versioned", description="first",
                                                        create_new_version=True)
    f.write_text("two")
    d2 = Dataset.File.from_files(path=str(f)).register(ws, "versioned",
                                                        create_new_version=True)
    assert (d1.version, d2.version) == (1, 2)
    assert Dataset.get_by_name(ws, "versioned").version == 2
    assert Dataset.get_by_name(ws, "versioned", version=1).description == "first"
    assert Dataset.get_by_id(ws, d1.id).version == 1
    assert "versioned" in Dataset.get_all(ws)
    # Version 1 is immutable: it still reads "one" although the file changed.
    out = d1.download(str(tmp_path / "dl1"))
    assert Path(out[0]).read_text() == "one"
    # Same name, another definition, no create_new_version: a clear conflict.
    f.write_text("three")
    with pytest.raises(UserErrorException, match="already registered"):
        Dataset.File.from_files(path=str(f)).register(ws, "versioned")
    # The same definition again is the existing version.
    again = Dataset.File.from_files(path=str(tmp_path / "v.txt"))
    f.write_text("two")
    same = Dataset.File.from_files(path=str(f)).register(ws, "versioned")
    assert same.version == 2 and again is not None
    with pytest.raises(UserErrorException, match="no version 9"):
        Dataset.get_by_name(ws, "versioned", version=9)


def test_tabular_type_inference_and_transforms(ws, tmp_path):
    csv = tmp_path / "mixed.csv"
    csv.write_text("id,score,flag,when,name,mixed\n"
                   "1,0.5,true,2020-01-01,ann,1\n"
                   "2,,false,2020-01-02 10:30:00,bob,x\n"
                   ",1.5,TRUE,,\"smith, jr\",2\n"
                   "4,2,NA,2020-01-04T08:00:00Z,,3\n")
    tab = Dataset.Tabular.from_delimited_files(path=str(csv))
    assert tab._column_types() == {"id": "int", "score": "float", "flag": "bool",
                                   "when": "datetime", "name": "string", "mixed": "string"}
    df = tab.to_pandas_dataframe()
    assert list(df.columns) == ["id", "score", "flag", "when", "name", "mixed"]
    assert df.shape == (4, 6)
    assert df["score"].isna().sum() == 1 and df["id"].isna().sum() == 1
    assert str(df["when"].dtype).startswith("datetime64")
    assert df["name"][2] == "smith, jr"
    small = tab.drop_columns("mixed").keep_columns(["id", "name"]).take(2).to_pandas_dataframe()
    assert list(small.columns) == ["id", "name"] and len(small) == 2
    assert str(small["id"].dtype) == "int64"
    with pytest.raises(UserErrorException, match="unknown column"):
        tab.keep_columns(["nope"]).to_pandas_dataframe()
    reg = tab.take(3).register(ws, "mixed-table", create_new_version=True)
    assert len(Dataset.get_by_name(ws, "mixed-table").to_pandas_dataframe()) == 3


def test_datastore_upload_glob_and_local_directory_datastore(ws, server, tmp_path, plain_env):
    from trainyard.core import Datastore
    data = tmp_path / "up"
    (data / "2020").mkdir(parents=True)
    (data / "2020" / "a.csv").write_text("v\n1\n")
    (data / "b.csv").write_text("v\n2\n")
    (data / "notes.txt").write_text("skip me")
    store = ws.get_default_datastore()
    assert store.name == "workspaceblobstore" and "workspaceblobstore" in ws.datastores
    store.upload(str(data), target_path="tables", show_progress=False)
    ds = Dataset.Tabular.from_delimited_files(path=(store, "tables/**/*.csv"))
    assert sorted(ds.to_pandas_dataframe()["v"].tolist()) == [1, 2]
    # overwrite=False keeps what is there
    (data / "b.csv").write_text("v\n99\n")
    store.upload_files([str(data / "b.csv")], target_path="tables", overwrite=False,
                       show_progress=False)
    assert sorted(Dataset.Tabular.from_delimited_files(
        path=(store, "tables/**/*.csv")).to_pandas_dataframe()["v"].tolist()) == [1, 2]

    ext = tmp_path / "external"
    ext.mkdir()
    (ext / "x.txt").write_text("external")
    local = Datastore.register_local_directory(ws, "ext-store", str(ext))
    assert local.datastore_type == "LocalDirectory"
    with pytest.raises(UserErrorException, match="already registered"):
        Datastore.register_local_directory(ws, "ext-store", str(tmp_path))
    fds = Dataset.File.from_files(path=(local, "**"))
    assert fds.to_path() == ["/x.txt"]

    # A tabular dataset consumed directly: input_datasets[name] is the dataset itself.
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", """
        from azureml.core import Run
        tab = Run.get_context().input_datasets["rows"]
        print("kind", type(tab).__name__, "rows", sorted(tab.to_pandas_dataframe()["v"]))
    """)
    run = _run(ws, src, "job.py", [ds.as_named_input("rows")], plain_env)
    assert run.get_status() == "Completed", _driver_log(run)
    assert "kind TabularDataset rows [1, 2]" in _driver_log(run)


def test_environment_registry_versions_and_curated(ws, server):
    env = Environment("registry-env")
    env.python.conda_dependencies.add_pip_package("six")
    r1 = env.register(ws)
    assert r1.version == "1"
    assert env.register(ws).version == "1"  # unchanged definition: same version
    env.environment_variables = {"MODE": "2"}
    assert env.register(ws).version == "2"
    assert Environment.get(ws, "registry-env").version == "2"
    assert Environment.get(ws, "registry-env", version="1").environment_variables == {}
    listed = Environment.list(ws)
    assert {"Trainyard-Minimal", "Trainyard-Sklearn", "Trainyard-TensorFlow-Keras",
            "Trainyard-PyTorch", "registry-env"} <= set(listed)
    sk = Environment.get(ws, "Trainyard-Sklearn")
    assert "scikit-learn" in json.dumps(sk._to_spec())
    with pytest.raises(UserErrorException, match="curated"):
        Environment("Trainyard-Minimal").register(ws)
    with pytest.raises(UserErrorException, match="not registered"):
        Environment.get(ws, "no-such-env")


def test_docker_image_missing_fails_before_the_run_starts(ws, tmp_path):
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", "print('never')\n")
    env = Environment("container-env")
    env.docker.enabled = True
    env.docker.base_image = "localhost/trainyard-no-such-image:1"
    before = len(list(Experiment(ws, "e2e-docker").get_runs()))
    with pytest.raises(UserErrorException) as e:
        Experiment(ws, "e2e-docker").submit(ScriptRunConfig(source_directory=str(src),
                                                            script="job.py", environment=env))
    msg = str(e.value)
    assert "localhost/trainyard-no-such-image:1" in msg and "cannot pull" in msg, msg
    assert len(list(Experiment(ws, "e2e-docker").get_runs())) == before


@pytest.fixture
def private_server(tmp_path, trainyard_binary):
    """A private server with its own, empty environment cache (TRAINYARD_ENV_CACHE set but
    empty: <data dir>/envs instead of the machine's shared cache)."""
    env = dict(os.environ, TRAINYARD_ENV_CACHE="")
    srv = e2e_util.Server(tmp_path / "private", env=env).start()
    yield srv
    srv.stop()


def test_environment_build_cache_and_bad_package(private_server, tmp_path):
    srv = private_server
    ws = srv.workspace()
    src = tmp_path / "src"
    e2e_util.write_script(src, "job.py", "import six; print('six', six.__version__)\n")

    def submit(env):
        cfg = ScriptRunConfig(source_directory=str(src), script="job.py", environment=env)
        run = Experiment(ws, "e2e-envcache").submit(cfg)
        run.wait_for_completion(show_output=False, raise_on_error=False)
        logs = run.get_details_with_logs()["logFiles"]
        return run, logs.get("azureml-logs/20_image_build_log.txt", "")

    env = Environment("cache-env")
    env.python.conda_dependencies.add_pip_package("six")
    run1, log1 = submit(env)
    assert run1.get_status() == "Completed", log1
    assert "Building environment" in log1
    run2, log2 = submit(env)
    assert run2.get_status() == "Completed"
    assert "Using cached environment" in log2 and "Building environment" not in log2
    changed = Environment("cache-env")
    changed.python.conda_dependencies.add_pip_package("six")
    changed.python.conda_dependencies.add_pip_package("packaging")
    run3, log3 = submit(changed)
    assert run3.get_status() == "Completed", log3
    assert "Building environment" in log3
    listed = subprocess.run([trainyard_bin(), "env", "list", "--json"], cwd=srv.project_dir, env=srv.env(),
                            capture_output=True, text=True, check=True)
    cached = json.loads(listed.stdout)
    assert len(cached) == 2 and all(e["size"] > 0 and e["last_used_utc"] for e in cached)

    bad = Environment("bad-env")
    bad.python.conda_dependencies.add_pip_package("trainyard-no-such-package-4242")
    try:
        run4, log4 = submit(bad)
    except Exception as e:  # noqa: BLE001 - pip's index reachable: refused at submit (issue 18)
        assert "has no version of 'trainyard-no-such-package-4242'" in str(e), str(e)
    else:  # the index could not be asked at submit time: the build fails with pip's error
        assert run4.get_status() == "Failed"
        assert "six" not in _driver_log(run4)  # the script never started
        assert "trainyard-no-such-package-4242" in log4
        assert "No matching distribution" in log4 or "Could not find a version" in log4, log4
        assert "Environment build failed" in run4.get_details()["error"]["error"]["message"]

    pruned = subprocess.run([trainyard_bin(), "env", "prune", "--all"], cwd=srv.project_dir, env=srv.env(),
                            capture_output=True, text=True, check=True)
    assert "removed" in pruned.stdout
    assert json.loads(subprocess.run([trainyard_bin(), "env", "list", "--json"],
                                     cwd=srv.project_dir, env=srv.env(), capture_output=True, text=True,
                                     check=True).stdout) == []


def test_mount_falls_back_to_read_only_copies_with_a_warning(tmp_path, trainyard_binary,
                                                             plain_env):
    env = dict(os.environ, TRAINYARD_DISABLE_MOUNT_NAMESPACE="1")
    srv = e2e_util.Server(tmp_path / "nons", env=env).start()
    try:
        ws = srv.workspace()
        data = tmp_path / "d"
        data.mkdir()
        (data / "f.txt").write_text("x")
        ds = Dataset.File.from_files(path=str(data), workspace=ws)
        src = tmp_path / "src"
        e2e_util.write_script(src, "job.py", """
            import os, stat, sys
            p = os.path.join(sys.argv[1], "f.txt")
            print("mode", oct(stat.S_IMODE(os.stat(p).st_mode)))
        """)
        cfg = ScriptRunConfig(source_directory=str(src), script="job.py",
                              arguments=[ds.as_mount()], environment=plain_env)
        run = Experiment(ws, "e2e-fallback").submit(cfg)
        run.wait_for_completion(show_output=False, raise_on_error=False)
        log = _driver_log(run)
        assert run.get_status() == "Completed", log
        assert "read-only mounts are not available here" in log
        assert "TRAINYARD_DISABLE_MOUNT_NAMESPACE" in log
        assert "mode 0o444" in log
    finally:
        srv.stop()
