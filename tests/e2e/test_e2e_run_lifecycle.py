"""Script runs on local compute: failure, cancel, concurrency, a server crash mid-run."""
import json
import time

import pytest

from e2e_util import pid_alive, wait_for, wait_status, write_script


def submit(ws, experiment, src, script, env, arguments=None):
    from trainyard.core import Experiment, ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src), script=script, arguments=arguments or [],
                          environment=env)
    return Experiment(ws, experiment).submit(cfg)


def test_failing_script_is_failed_with_traceback(ws, plain_env, tmp_path):
    write_script(tmp_path, "fail.py", """
        print("about to fail", flush=True)
        def inner():
            raise ValueError('boom')
        inner()
    """)
    run = submit(ws, "e2e-fail", tmp_path, "fail.py", plain_env)
    with pytest.raises(Exception) as ei:
        run.wait_for_completion(show_output=False)  # raise_on_error=True by default
    assert "boom" in str(ei.value) or "Failed" in str(ei.value), str(ei.value)
    assert wait_status(run) == "Failed"

    details = run.get_details()
    err = json.dumps(details.get("error"))
    assert "boom" in err and "Traceback" in err, details

    with_logs = run.get_details_with_logs()
    logs = with_logs["logFiles"]
    driver = [v for k, v in logs.items() if k.endswith("70_driver_log.txt")]
    assert driver, list(logs)
    assert "about to fail" in driver[0]
    assert "Traceback" in driver[0] and "ValueError: boom" in driver[0]

    # raise_on_error=False returns the details instead of raising
    d = run.wait_for_completion(show_output=False, wait_post_processing=True,
                                raise_on_error=False)
    assert d["status"] == "Failed"


def test_cancel_mid_run_kills_the_process_group(ws, plain_env, tmp_path):
    pidfile = tmp_path / "pids.json"   # outside the snapshot: outputs may not be uploaded
    src = tmp_path / "src"
    write_script(src, "sleeper.py", """
        import json, os, subprocess, sys, time
        child = subprocess.Popen(["sleep", "300"])
        with open(sys.argv[1] + ".tmp", "w") as f:
            json.dump({"script": os.getpid(), "child": child.pid}, f)
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        for i in range(3000):
            print("tick", i, flush=True)
            time.sleep(0.1)
    """)
    run = submit(ws, "e2e-cancel", src, "sleeper.py", plain_env, arguments=[str(pidfile)])
    wait_for(pidfile.exists, timeout=120, what="the script to start")
    pids = json.loads(pidfile.read_text())
    assert pid_alive(pids["script"]) and pid_alive(pids["child"])
    assert run.get_status() == "Running"

    t0 = time.time()
    run.cancel()
    assert wait_status(run, ("Canceled",), timeout=15) == "Canceled"
    assert time.time() - t0 < 15
    wait_for(lambda: not pid_alive(pids["script"]), timeout=10, what="the script to be killed")
    wait_for(lambda: not pid_alive(pids["child"]), timeout=10,
             what="the script's child process to be killed")
    # Canceled is final.
    time.sleep(1)
    assert run.get_status() == "Canceled"


SLEEP_SCRIPT = """
    import sys, time
    with open(sys.argv[1], "a") as f:
        f.write("start %r\\n" % time.time())
    time.sleep(float(sys.argv[2]))
    with open(sys.argv[1], "a") as f:
        f.write("end %r\\n" % time.time())
"""


def read_intervals(paths):
    out = []
    for p in paths:
        lines = dict(line.split() for line in p.read_text().splitlines())
        out.append((float(lines["start"]), float(lines["end"])))
    return sorted(out)


def test_concurrent_runs_all_complete(ws, plain_env, tmp_path):
    src = tmp_path / "src"
    write_script(src, "nap.py", SLEEP_SCRIPT)
    marks = [tmp_path / ("t%d" % i) for i in range(4)]
    runs = [submit(ws, "e2e-concurrent", src, "nap.py", plain_env, arguments=[str(m), "1.0"])
            for m in marks]
    assert len({r.id for r in runs}) == 4
    for r in runs:
        assert wait_status(r, timeout=180) == "Completed", r.get_details()
    assert len(read_intervals(marks)) == 4


def test_max_concurrent_runs_one_serializes(make_server, plain_env, tmp_path):
    from trainyard.core import Workspace
    srv = make_server("--max-concurrent-runs", "1")
    ws1 = Workspace.from_config(path=str(srv.config_path))
    src = tmp_path / "src"
    write_script(src, "nap.py", SLEEP_SCRIPT)
    marks = [tmp_path / ("t%d" % i) for i in range(3)]
    runs = [submit(ws1, "e2e-serial", src, "nap.py", plain_env, arguments=[str(m), "0.7"])
            for m in marks]
    for r in runs:
        assert wait_status(r, timeout=180) == "Completed", r.get_details()
    iv = read_intervals(marks)
    for (s0, e0), (s1, e1) in zip(iv, iv[1:]):
        assert s1 >= e0, "runs overlapped with --max-concurrent-runs 1: %s" % iv


def test_server_killed_and_restarted_during_logging_run_loses_no_metric(make_server, plain_env,
                                                                        tmp_path):
    from trainyard.core import Workspace
    from trainyard.core.run import Run
    srv = make_server()
    ws1 = Workspace.from_config(path=str(srv.config_path))
    src = tmp_path / "src"
    write_script(src, "logger.py", """
        import time
        from azureml.core.run import Run
        run = Run.get_context()
        for i in range(2000):
            run.log("m", i)
            if i % 100 == 0:
                print("logged", i, flush=True)
            time.sleep(0.003)
        print("done logging", flush=True)
    """)
    run = submit(ws1, "e2e-crash", src, "logger.py", plain_env)
    run_id = run.id
    wait_status(run, ("Running",), timeout=120)
    time.sleep(1.5)
    srv.kill()                       # SIGKILL: no chance to flush anything
    time.sleep(2.0)                  # the script keeps logging while the server is down
    srv.start()

    ws2 = Workspace.from_config(path=str(srv.config_path))
    from trainyard.core import Experiment
    run = Run(Experiment(ws2, "e2e-crash"), run_id)
    assert wait_status(run, timeout=180) == "Completed", run.get_details()
    m = run.get_metrics(name="m")["m"]
    assert len(m) == 2000, "got %d points" % len(m)
    assert m == list(range(2000))
