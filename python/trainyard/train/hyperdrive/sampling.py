"""Hyperparameter samplings (``azureml.train.hyperdrive.sampling``). The sampling itself runs
in the server (src/hyperdrive/); these objects describe it."""

import numbers

from trainyard.train.hyperdrive.parameter_expressions import (HyperDriveConfigException,
                                                               _validate)


class HyperParameterSampling:
    """Base class: a named sampling method over a parameter space (dict name -> expression).
    Names starting with '-' are passed to the script as they are, others as ``--name``."""

    def __init__(self, sampling_method_name, parameter_space, properties=None,
                 supported_distributions=None):
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise HyperDriveConfigException(
                "parameter_space must be a non-empty dictionary of hyperparameter name -> "
                "parameter expression, e.g. {'--lr': loguniform(-6, -1)}")
        for name, expression in parameter_space.items():
            if not isinstance(name, str) or not name:
                raise HyperDriveConfigException(
                    "hyperparameter names must be non-empty strings, got {!r}".format(name))
            _validate(name, expression)
            if supported_distributions and expression[0] not in supported_distributions:
                raise HyperDriveConfigException(
                    "{} supports only {} expressions: {!r} is {}()".format(
                        type(self).__name__, ", ".join(supported_distributions), name,
                        expression[0]))
        self._sampling_method_name = sampling_method_name
        self._parameter_space = dict(parameter_space)
        self._properties = dict(properties) if properties else None

    @property
    def sampling_method_name(self):
        return self._sampling_method_name

    @property
    def parameter_space(self):
        return self._parameter_space

    def to_json(self):
        """The wire form sent to the server (the space's order is kept)."""
        return {"name": self._sampling_method_name,
                "parameter_space": [{"name": k, "expression": list(v)}
                                    for k, v in self._parameter_space.items()],
                "properties": self._properties or {}}


class RandomParameterSampling(HyperParameterSampling):
    """Random draws from every kind of expression. ``properties={'rng_seed': n}`` makes the
    draws reproducible (draw i depends only on the seed and i)."""

    SAMPLING_NAME = "RANDOM"

    def __init__(self, parameter_space, properties=None):
        properties = dict(properties or {})
        unknown = set(properties) - {"rng_seed"}
        if unknown:
            raise HyperDriveConfigException(
                "RandomParameterSampling properties: unknown {}; the supported property is "
                "rng_seed".format(", ".join(sorted(map(repr, unknown)))))
        seed = properties.get("rng_seed")
        if seed is not None and (isinstance(seed, bool) or
                                 not isinstance(seed, numbers.Integral) or seed < 0):
            raise HyperDriveConfigException(
                "rng_seed must be a non-negative integer, got {!r}".format(seed))
        super().__init__(self.SAMPLING_NAME, parameter_space, properties)


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the ``choice`` values, once (the last parameter varies fastest)."""

    SAMPLING_NAME = "GRID"

    def __init__(self, parameter_space):
        super().__init__(self.SAMPLING_NAME, parameter_space,
                         supported_distributions=("choice",))


class BayesianParameterSampling(HyperParameterSampling):
    """A Gaussian process on the finished runs' primary metric picks the next point by
    expected improvement. choice, uniform and quniform only; no early termination policy."""

    SAMPLING_NAME = "BayesianOptimization"

    def __init__(self, parameter_space):
        super().__init__(self.SAMPLING_NAME, parameter_space,
                         supported_distributions=("choice", "uniform", "quniform"))
