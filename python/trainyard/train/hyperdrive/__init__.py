"""HyperDrive: hyperparameter tuning (``azureml.train.hyperdrive``). The sweep runs in the
workspace server (src/hyperdrive/); these classes describe it and read its results."""

from trainyard.train.hyperdrive.parameter_expressions import (
    HyperDriveConfigException, choice, lognormal, loguniform, normal, qlognormal, qloguniform,
    qnormal, quniform, randint, uniform)
from trainyard.train.hyperdrive.policy import (BanditPolicy, EarlyTerminationPolicy,
                                               MedianStoppingPolicy, NoTerminationPolicy,
                                               TruncationSelectionPolicy)
from trainyard.train.hyperdrive.run import HyperDriveRun, PrimaryMetricGoal
from trainyard.train.hyperdrive.runconfig import HyperDriveConfig
from trainyard.train.hyperdrive.sampling import (BayesianParameterSampling,
                                                 GridParameterSampling, HyperParameterSampling,
                                                 RandomParameterSampling)

__all__ = ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy",
           "GridParameterSampling", "HyperDriveConfig", "HyperDriveConfigException",
           "HyperDriveRun", "HyperParameterSampling", "MedianStoppingPolicy",
           "NoTerminationPolicy", "PrimaryMetricGoal", "RandomParameterSampling",
           "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal",
           "qlognormal", "qloguniform", "qnormal", "quniform", "randint", "uniform"]
