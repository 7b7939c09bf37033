"""Parameter expressions (``azureml.train.hyperdrive.parameter_expressions``).

Each function returns Azure's wire form, e.g. ``uniform(0, 1) == ['uniform', [0, 1]]`` and
``choice(1, 2) == ['choice', [[1, 2]]]``. Semantics (as Azure's, after hyperopt):
``loguniform(min, max)`` draws ``exp(uniform(min, max))``; the q-variants round the value to a
multiple of ``q`` (``round(x / q) * q``). Arguments are checked at once, so a bad space fails
before anything is submitted.
"""

import math
import numbers

from trainyard.exceptions import UserErrorException


class HyperDriveConfigException(UserErrorException, ValueError):
    """An invalid HyperDrive configuration (raised before anything is submitted)."""


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(float(value)):
        raise HyperDriveConfigException("{} must be a finite number, got {!r}".format(
            what, value))
    return value


def _q(q, fn):
    _number(q, "{}: q".format(fn))
    if q <= 0:
        raise HyperDriveConfigException(
            "{}: q must be > 0 (values are round(x / q) * q), got {!r}".format(fn, q))
    return q


def _range(min_value, max_value, fn):
    _number(min_value, "{}: min_value".format(fn))
    _number(max_value, "{}: max_value".format(fn))
    if min_value >= max_value:
        raise HyperDriveConfigException("{} needs min_value < max_value, got ({!r}, {!r})".format(
            fn, min_value, max_value))


def _sigma(mu, sigma, fn):
    _number(mu, "{}: mu".format(fn))
    _number(sigma, "{}: sigma".format(fn))
    if sigma <= 0:
        raise HyperDriveConfigException("{}: sigma must be > 0, got {!r}".format(fn, sigma))


def choice(*options):
    """One of ``options`` (numbers, strings or booleans), uniformly. ``choice([1, 2])``,
    ``choice(range(3))`` and ``choice(1, 2)`` are the same."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = options[0]
    options = list(options)
    if not options:
        raise HyperDriveConfigException("choice() needs at least one option")
    for option in options:
        if option is None or not isinstance(option, (str, bool, numbers.Real)):
            raise HyperDriveConfigException(
                "choice options must be numbers, strings or booleans, got {!r}".format(option))
    return ["choice", [options]]


def randint(upper):
    """An integer in ``[0, upper)``."""
    if isinstance(upper, bool) or not isinstance(upper, numbers.Integral) or upper < 1:
        raise HyperDriveConfigException(
            "randint(upper) needs an integer upper >= 1, got {!r}".format(upper))
    return ["randint", [upper]]


def uniform(min_value, max_value):
    """Uniform on ``[min_value, max_value]``."""
    _range(min_value, max_value, "uniform")
    return ["uniform", [min_value, max_value]]


def quniform(min_value, max_value, q):
    """``round(uniform(min_value, max_value) / q) * q``."""
    _range(min_value, max_value, "quniform")
    _q(q, "quniform")
    return ["quniform", [min_value, max_value, q]]


def loguniform(min_value, max_value):
    """``exp(uniform(min_value, max_value))``: the logarithm of the value is uniform."""
    _range(min_value, max_value, "loguniform")
    return ["loguniform", [min_value, max_value]]


def qloguniform(min_value, max_value, q):
    """``round(exp(uniform(min_value, max_value)) / q) * q``."""
    _range(min_value, max_value, "qloguniform")
    _q(q, "qloguniform")
    return ["qloguniform", [min_value, max_value, q]]


def normal(mu, sigma):
    """Normal with mean ``mu`` and standard deviation ``sigma``."""
    _sigma(mu, sigma, "normal")
    return ["normal", [mu, sigma]]


def qnormal(mu, sigma, q):
    """``round(normal(mu, sigma) / q) * q``."""
    _sigma(mu, sigma, "qnormal")
    _q(q, "qnormal")
    return ["qnormal", [mu, sigma, q]]


def lognormal(mu, sigma):
    """``exp(normal(mu, sigma))``."""
    _sigma(mu, sigma, "lognormal")
    return ["lognormal", [mu, sigma]]


def qlognormal(mu, sigma, q):
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    _sigma(mu, sigma, "qlognormal")
    _q(q, "qlognormal")
    return ["qlognormal", [mu, sigma, q]]


_CHECKS = {"choice": lambda a: choice(*a), "randint": lambda a: randint(*a),
           "uniform": lambda a: uniform(*a), "quniform": lambda a: quniform(*a),
           "loguniform": lambda a: loguniform(*a), "qloguniform": lambda a: qloguniform(*a),
           "normal": lambda a: normal(*a), "qnormal": lambda a: qnormal(*a),
           "lognormal": lambda a: lognormal(*a), "qlognormal": lambda a: qlognormal(*a)}


def _validate(name, expression):
    """Re-checks an expression found in a parameter space (it may have been written by hand)."""
    if not isinstance(expression, (list, tuple)) or len(expression) != 2 or \
            expression[0] not in _CHECKS or not isinstance(expression[1], (list, tuple)):
        raise HyperDriveConfigException(
            "hyperparameter {!r}: {!r} is not a parameter expression; use choice, randint, "
            "uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal or "
            "qlognormal".format(name, expression))
    try:
        return _CHECKS[expression[0]](list(expression[1]))
    except TypeError as exc:
        raise HyperDriveConfigException("hyperparameter {!r}: {}".format(name, exc)) from None
    except HyperDriveConfigException as exc:
        raise HyperDriveConfigException("hyperparameter {!r}: {}".format(
            name, exc.message if hasattr(exc, "message") else exc)) from None
