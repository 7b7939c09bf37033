"""``HyperDriveConfig`` (``azureml.train.hyperdrive.runconfig``): what ``Experiment.submit``
sends to ``POST /api/v1/experiments/{name}/hyperdrive``. Everything is validated here, before
any request; the server validates again and then runs the sweep on its own (the submitting
process may exit)."""

import numbers

from trainyard._http import quote_path
from trainyard.train.hyperdrive.parameter_expressions import HyperDriveConfigException
from trainyard.train.hyperdrive.policy import EarlyTerminationPolicy, NoTerminationPolicy
from trainyard.train.hyperdrive.run import PrimaryMetricGoal
from trainyard.train.hyperdrive.sampling import (BayesianParameterSampling,
                                                  HyperParameterSampling)

MAX_DURATION_MINUTES = 10080


def _run_ids(value, what):
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    ids = []
    for item in items:
        run_id = item if isinstance(item, str) else getattr(item, "id", None)
        if not isinstance(run_id, str):
            raise HyperDriveConfigException("{} must be HyperDrive runs (or their ids), got "
                                            "{!r}".format(what, item))
        ids.append(run_id)
    return ids


class HyperDriveConfig:
    """A hyperparameter sweep: ``run_config`` (a ScriptRunConfig) or ``estimator`` is run with
    the arguments ``hyperparameter_sampling`` draws, up to ``max_total_runs`` children,
    ``max_concurrent_runs`` at a time, for at most ``max_duration_minutes``; ``policy`` stops
    children that fall behind on ``primary_metric_name``."""

    def __init__(self, hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                 max_total_runs, max_concurrent_runs=None,
                 max_duration_minutes=MAX_DURATION_MINUTES, policy=None, estimator=None,
                 run_config=None, resume_from=None, resume_child_runs=None, pipeline=None,
                 debug_flag=None, custom_run_id=None):
        given = [x for x in (estimator, run_config, pipeline) if x is not None]
        if len(given) != 1:
            raise HyperDriveConfigException(
                "Exactly one of estimator, run_config or pipeline must be given to "
                "HyperDriveConfig (got {})".format(len(given)))
        if pipeline is not None:
            raise HyperDriveConfigException(
                "HyperDriveConfig(pipeline=...) is not supported by Trainyard: give "
                "run_config=ScriptRunConfig(...) or estimator=Estimator(...)")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException(
                "hyperparameter_sampling must be a RandomParameterSampling, "
                "GridParameterSampling or BayesianParameterSampling, got {!r}".format(
                    hyperparameter_sampling))
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise HyperDriveConfigException(
                "primary_metric_name must be the name of a metric the script logs, e.g. "
                "'Accuracy'")
        if primary_metric_goal not in (PrimaryMetricGoal.MAXIMIZE, PrimaryMetricGoal.MINIMIZE):
            raise HyperDriveConfigException(
                "primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or "
                "PrimaryMetricGoal.MINIMIZE, got {!r}".format(primary_metric_goal))
        if isinstance(max_total_runs, bool) or not isinstance(max_total_runs, numbers.Integral) \
                or not 1 <= max_total_runs <= 1000:
            raise HyperDriveConfigException(
                "max_total_runs must be an integer between 1 and 1000, got {!r}".format(
                    max_total_runs))
        if max_concurrent_runs is not None and (
                isinstance(max_concurrent_runs, bool) or
                not isinstance(max_concurrent_runs, numbers.Integral) or
                not 1 <= max_concurrent_runs <= 100):
            raise HyperDriveConfigException(
                "max_concurrent_runs must be an integer between 1 and 100, got {!r}".format(
                    max_concurrent_runs))
        if max_duration_minutes is not None and (
                isinstance(max_duration_minutes, bool) or
                not isinstance(max_duration_minutes, numbers.Real) or
                not 0 < max_duration_minutes <= 43200):
            raise HyperDriveConfigException(
                "max_duration_minutes must be a number > 0 and <= 43200, got {!r}".format(
                    max_duration_minutes))
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise HyperDriveConfigException(
                "policy must be a BanditPolicy, MedianStoppingPolicy, "
                "TruncationSelectionPolicy or NoTerminationPolicy, got {!r}".format(policy))
        if isinstance(hyperparameter_sampling, BayesianParameterSampling) and \
                policy is not None and not isinstance(policy, NoTerminationPolicy):
            raise HyperDriveConfigException(
                "Bayesian sampling does not support early termination policies: use "
                "policy=None (or NoTerminationPolicy())")
        self._resume_from = _run_ids(resume_from, "resume_from")
        # Children of earlier sweeps run again first, with the same hyperparameters, each
        # given its earlier outputs/ as --resume-from (AZUREML_DATAREFERENCE_MODEL_LOCATION).
        self._resume_child_runs = _run_ids(resume_child_runs, "resume_child_runs")
        if len(set(self._resume_child_runs)) != len(self._resume_child_runs):
            raise HyperDriveConfigException("resume_child_runs lists a run twice")
        if len(self._resume_child_runs) > int(max_total_runs):
            raise HyperDriveConfigException(
                "resume_child_runs has {} runs but max_total_runs is {}: each resumed child "
                "counts as one of the sweep's runs".format(len(self._resume_child_runs),
                                                            max_total_runs))
        self._sampling = hyperparameter_sampling
        self._policy = policy if policy is not None else NoTerminationPolicy()
        self._primary_metric_name = primary_metric_name
        self._primary_metric_goal = primary_metric_goal
        self._max_total_runs = int(max_total_runs)
        self._max_concurrent_runs = max_concurrent_runs
        self._max_duration_minutes = max_duration_minutes
        self._custom_run_id = custom_run_id
        config = estimator if estimator is not None else run_config
        to_src = getattr(config, "_to_script_run_config", None)
        self._run_config = to_src() if to_src is not None else config
        if not hasattr(self._run_config, "run_config") or \
                not hasattr(self._run_config, "source_directory"):
            raise HyperDriveConfigException(
                "run_config must be a ScriptRunConfig (or estimator an Estimator), got "
                "{!r}".format(config))
        self.estimator = estimator
        self.run_config = self._run_config

    @property
    def primary_metric_name(self):
        return self._primary_metric_name

    @property
    def primary_metric_goal(self):
        return self._primary_metric_goal

    @property
    def max_total_runs(self):
        return self._max_total_runs

    @property
    def max_concurrent_runs(self):
        return self._max_concurrent_runs

    @property
    def max_duration_minutes(self):
        return self._max_duration_minutes

    @property
    def hyperparameter_sampling(self):
        return self._sampling

    @property
    def policy(self):
        return self._policy

    @property
    def source_directory(self):
        return self._run_config.source_directory

    def _to_json(self):
        return {"sampling": self._sampling.to_json(),
                "policy": self._policy.to_json(),
                "primary_metric_name": self._primary_metric_name,
                "primary_metric_goal": self._primary_metric_goal,
                "max_total_runs": self._max_total_runs,
                "max_concurrent_runs": self._max_concurrent_runs,
                "max_duration_minutes": self._max_duration_minutes,
                "resume_from": list(self._resume_from),
                "resume_child_runs": list(self._resume_child_runs)}

    def _submit_to_experiment(self, experiment, tags=None, **kwargs):
        """The hook ``Experiment.submit`` calls: returns the HyperDriveRun (the sweep runs in
        the server from here on)."""
        from trainyard.core.script_run_config import build_script_submission
        from trainyard.train.hyperdrive.run import HyperDriveRun
        child = build_script_submission(self._run_config)
        body = {"hyperdrive": self._to_json(), "config": child["config"],
                "run_id": kwargs.get("run_id") or self._custom_run_id,
                "tags": {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()}}
        dto = experiment.workspace._client.post(
            "/api/v1/experiments/{}/hyperdrive".format(quote_path(experiment.name)), body)
        return HyperDriveRun._rehydrate(experiment, dto)
