"""HyperDrive SDK objects: Azure's wire forms and the validation done before any request."""
import pytest

from trainyard.core import ScriptRunConfig
from trainyard.train import hyperdrive as hd


def test_expressions_have_azures_wire_form():
    assert hd.choice(1, 2) == ["choice", [[1, 2]]]
    assert hd.choice([1, 2]) == hd.choice(range(1, 3)) == ["choice", [[1, 2]]]
    assert hd.randint(5) == ["randint", [5]]
    assert hd.uniform(0, 1) == ["uniform", [0, 1]]
    assert hd.quniform(0, 10, 2) == ["quniform", [0, 10, 2]]
    assert hd.loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert hd.qloguniform(0, 4, 5) == ["qloguniform", [0, 4, 5]]
    assert hd.normal(0, 1) == ["normal", [0, 1]]
    assert hd.qnormal(0, 1, 1) == ["qnormal", [0, 1, 1]]
    assert hd.lognormal(0, 1) == ["lognormal", [0, 1]]
    assert hd.qlognormal(0, 1, 1) == ["qlognormal", [0, 1, 1]]


@pytest.mark.parametrize("make, message", [
    (lambda: hd.quniform(0, 10, 0), "q must be > 0"),
    (lambda: hd.qnormal(0, 1, -1), "q must be > 0"),
    (lambda: hd.uniform(1, 1), "min_value < max_value"),
    (lambda: hd.normal(0, 0), "sigma must be > 0"),
    (lambda: hd.randint(0), "upper >= 1"),
    (lambda: hd.choice(), "at least one option"),
    (lambda: hd.RandomParameterSampling({"--x": ["quniform", [0, 1, 0]]}), "q must be > 0"),
    (lambda: hd.RandomParameterSampling({"--x": ["beta", [1, 2]]}), "not a parameter expr"),
    (lambda: hd.RandomParameterSampling({}), "non-empty"),
    (lambda: hd.RandomParameterSampling({"--x": hd.uniform(0, 1)}, {"seed": 1}), "rng_seed"),
    (lambda: hd.GridParameterSampling({"--x": hd.uniform(0, 1)}), "only choice"),
    (lambda: hd.BayesianParameterSampling({"--x": hd.loguniform(0, 1)}), "only choice"),
    (lambda: hd.BanditPolicy(), "exactly one of slack_factor"),
    (lambda: hd.BanditPolicy(slack_factor=0.1, slack_amount=0.2), "exactly one"),
    (lambda: hd.BanditPolicy(slack_factor=0.1, evaluation_interval=0), "evaluation_interval"),
    (lambda: hd.TruncationSelectionPolicy(0), "between 1 and 99"),
])
def test_invalid_configurations_raise_before_submit(make, message):
    with pytest.raises(hd.HyperDriveConfigException, match=message):
        make()


def test_hyperdrive_config_validation(tmp_path):
    src = ScriptRunConfig(source_directory=str(tmp_path), script="train.py")
    ps = hd.RandomParameterSampling({"--lr": hd.loguniform(-6, -1)})
    ok = dict(run_config=src, hyperparameter_sampling=ps, primary_metric_name="Accuracy",
              primary_metric_goal=hd.PrimaryMetricGoal.MAXIMIZE, max_total_runs=20)
    cfg = hd.HyperDriveConfig(**ok)
    wire = cfg._to_json()
    assert wire["sampling"]["parameter_space"] == [
        {"name": "--lr", "expression": ["loguniform", [-6, -1]]}]
    assert wire["policy"] == {"name": "Default", "properties": {}}
    for change, message in [({"max_total_runs": 0}, "max_total_runs"),
                            ({"max_total_runs": 1001}, "max_total_runs"),
                            ({"max_concurrent_runs": 0}, "max_concurrent_runs"),
                            ({"max_duration_minutes": 0}, "max_duration_minutes"),
                            ({"primary_metric_goal": "up"}, "primary_metric_goal"),
                            ({"primary_metric_name": ""}, "primary_metric_name"),
                            ({"policy": "bandit"}, "policy must be"),
                            ({"resume_child_runs": [1]}, "resume_child_runs"),
                            ({"estimator": src}, "Exactly one of")]:
        with pytest.raises(hd.HyperDriveConfigException, match=message):
            hd.HyperDriveConfig(**dict(ok, **change))
    bayes = dict(ok, hyperparameter_sampling=hd.BayesianParameterSampling(
        {"--x": hd.uniform(0, 1)}))
    with pytest.raises(hd.HyperDriveConfigException, match="Bayesian"):
        hd.HyperDriveConfig(policy=hd.MedianStoppingPolicy(), **bayes)
    hd.HyperDriveConfig(policy=hd.NoTerminationPolicy(), **bayes)


def test_azureml_module_paths():
    import azureml.train.hyperdrive as a
    from azureml.train.hyperdrive.run import PrimaryMetricGoal
    from azureml.train.hyperdrive.runconfig import HyperDriveConfig
    from azureml.train.hyperdrive.sampling import RandomParameterSampling
    from azureml.train.hyperdrive.parameter_expressions import choice
    from azureml.train.hyperdrive.policy import BanditPolicy
    assert a.HyperDriveConfig is HyperDriveConfig and PrimaryMetricGoal.MAXIMIZE == "MAXIMIZE"
    assert RandomParameterSampling and choice and BanditPolicy
