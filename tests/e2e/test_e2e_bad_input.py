"""Bad input through the SDK, as a user makes it: each error says what was wrong."""
import time

import pytest

from e2e_util import wait_status, write_script


def submit(ws, experiment, config):
    from trainyard.core import Experiment
    return Experiment(ws, experiment).submit(config)


def src_with_script(tmp_path, name="ok.py"):
    write_script(tmp_path, name, "print('ok')\n")
    return tmp_path


def run_ids(ws, experiment):
    from trainyard.core import Experiment
    return sorted(r.id for r in Experiment(ws, experiment).get_runs())


def test_invalid_experiment_name(ws, plain_env, tmp_path):
    from trainyard.core import Experiment, ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src_with_script(tmp_path)), script="ok.py",
                          environment=plain_env)
    with pytest.raises(Exception) as ei:
        Experiment(ws, "bad name!").submit(cfg)
    msg = str(ei.value)
    assert "bad name!" in msg, msg
    # the message states the rule
    assert "letters" in msg and "digits" in msg, msg


def test_unknown_compute_target(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src_with_script(tmp_path)), script="ok.py",
                          compute_target="no-such-cluster", environment=plain_env)
    with pytest.raises(Exception) as ei:
        submit(ws, "e2e-bad-input", cfg)
    assert "no-such-cluster" in str(ei.value), str(ei.value)


def test_missing_script(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    cfg = ScriptRunConfig(source_directory=str(src_with_script(tmp_path)), script="nope.py",
                          environment=plain_env)
    with pytest.raises(Exception) as ei:
        submit(ws, "e2e-bad-input", cfg)
    assert "nope.py" in str(ei.value), str(ei.value)


def test_missing_source_directory(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    missing = tmp_path / "does-not-exist"
    cfg = ScriptRunConfig(source_directory=str(missing), script="train.py", environment=plain_env)
    with pytest.raises(Exception) as ei:
        submit(ws, "e2e-bad-input", cfg)
    assert "does-not-exist" in str(ei.value), str(ei.value)


def test_snapshot_over_file_limit_creates_nothing(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    exp = "e2e-snapshot-limit"
    good = tmp_path / "good"
    src_with_script(good)
    run = submit(ws, exp, ScriptRunConfig(source_directory=str(good), script="ok.py",
                                          environment=plain_env))
    assert wait_status(run) == "Completed"
    before = run_ids(ws, exp)
    assert before == [run.id]

    big = tmp_path / "big"
    src_with_script(big)
    for i in range(2000):   # + ok.py = 2001 files
        (big / ("f%04d.txt" % i)).write_text("x")
    cfg = ScriptRunConfig(source_directory=str(big), script="ok.py", environment=plain_env)
    with pytest.raises(Exception) as ei:
        submit(ws, exp, cfg)
    assert "2000" in str(ei.value), str(ei.value)
    assert run_ids(ws, exp) == before


def test_snapshot_over_size_limit_has_the_azure_message(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    exp = "e2e-snapshot-limit"
    big = tmp_path / "big"
    src_with_script(big)
    with open(big / "weights.bin", "wb") as f:   # sparse: no real disk use
        f.truncate(301 * 1024 * 1024)
    cfg = ScriptRunConfig(source_directory=str(big), script="ok.py", environment=plain_env)
    t0 = time.time()
    with pytest.raises(Exception) as ei:
        submit(ws, exp, cfg)
    assert "Your total snapshot size exceeds the limit of 300.0 MB" in str(ei.value), str(ei.value)
    assert time.time() - t0 < 60


def test_amlignore_keeps_big_snapshot_under_limit(ws, plain_env, tmp_path):
    from trainyard.core import ScriptRunConfig
    big = tmp_path / "big"
    src_with_script(big)
    (big / "data").mkdir()
    for i in range(2100):
        (big / "data" / ("f%04d.txt" % i)).write_text("x")
    (big / ".amlignore").write_text("data/\n")
    run = submit(ws, "e2e-snapshot-limit", ScriptRunConfig(
        source_directory=str(big), script="ok.py", environment=plain_env))
    assert wait_status(run) == "Completed"


def test_register_model_with_missing_path(completed_run):
    with pytest.raises(Exception) as ei:
        completed_run.register_model(model_name="e2e-missing", model_path="outputs/nope.pkl")
    msg = str(ei.value)
    assert "model_path" in msg and "outputs/nope.pkl" in msg, msg


def test_property_cannot_change(ws):
    from trainyard.core import Experiment
    run = Experiment(ws, "e2e-bad-input").start_logging()
    try:
        run.add_properties({"origin": "a"})
        run.add_properties({"origin": "a"})
        with pytest.raises(Exception) as ei:
            run.add_properties({"origin": "b"})
        assert "origin" in str(ei.value), str(ei.value)
        assert run.get_properties()["origin"] == "a"
    finally:
        run.complete()
