"""Early termination policies (``azureml.train.hyperdrive.policy``). The server evaluates
them each time a child logs the primary metric (src/hyperdrive/policy.h has the exact rules).
An interval is one logged value of the primary metric."""

import numbers

from trainyard.train.hyperdrive.parameter_expressions import HyperDriveConfigException


def _int(value, what, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise HyperDriveConfigException("{} must be an integer >= {}, got {!r}".format(
            what, minimum, value))
    return int(value)


class EarlyTerminationPolicy:
    """Base class: a policy name and its properties."""

    def __init__(self, name, properties=None):
        self._name = name
        self._properties = properties or {}

    @property
    def policy_name(self):
        return self._name

    def to_json(self):
        return {"name": self._name, "properties": dict(self._properties)}


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Every run runs to completion."""

    POLICY_NAME = "Default"

    def __init__(self):
        super().__init__(self.POLICY_NAME)


class BanditPolicy(EarlyTerminationPolicy):
    """Stops a run whose best value is not within ``slack_factor`` (ratio) or
    ``slack_amount`` (absolute) of the best run at the same interval; applied every
    ``evaluation_interval`` intervals from interval ``delay_evaluation`` on."""

    POLICY_NAME = "Bandit"

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None,
                 delay_evaluation=0):
        if (slack_factor is None) == (slack_amount is None):
            raise HyperDriveConfigException(
                "BanditPolicy needs exactly one of slack_factor and slack_amount")
        slack = slack_factor if slack_factor is not None else slack_amount
        if isinstance(slack, bool) or not isinstance(slack, numbers.Real) or slack < 0:
            raise HyperDriveConfigException("BanditPolicy: {} must be a number >= 0, got "
                                            "{!r}".format("slack_factor" if slack_factor
                                                          is not None else "slack_amount",
                                                          slack))
        properties = {"evaluation_interval": _int(evaluation_interval, "evaluation_interval", 1),
                      "delay_evaluation": _int(delay_evaluation, "delay_evaluation", 0)}
        if slack_factor is not None:
            properties["slack_factor"] = slack_factor
        else:
            properties["slack_amount"] = slack_amount
        super().__init__(self.POLICY_NAME, properties)
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stops a run whose best value is worse than the median of the runs' running averages."""

    POLICY_NAME = "MedianStopping"

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        super().__init__(self.POLICY_NAME, {
            "evaluation_interval": _int(evaluation_interval, "evaluation_interval", 1),
            "delay_evaluation": _int(delay_evaluation, "delay_evaluation", 0)})
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """Stops the lowest ``truncation_percentage`` percent of runs at each interval."""

    POLICY_NAME = "TruncationSelection"

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0,
                 exclude_finished_jobs=False):
        if isinstance(truncation_percentage, bool) or \
                not isinstance(truncation_percentage, numbers.Integral) or \
                not 1 <= truncation_percentage <= 99:
            raise HyperDriveConfigException(
                "truncation_percentage must be an integer between 1 and 99, got {!r}".format(
                    truncation_percentage))
        super().__init__(self.POLICY_NAME, {
            "truncation_percentage": int(truncation_percentage),
            "evaluation_interval": _int(evaluation_interval, "evaluation_interval", 1),
            "delay_evaluation": _int(delay_evaluation, "delay_evaluation", 0),
            "exclude_finished_jobs": bool(exclude_finished_jobs)})
        self.truncation_percentage = truncation_percentage
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation
        self.exclude_finished_jobs = exclude_finished_jobs
