"""JSON conversion shared by metric logging and request bodies.

``jsonable`` turns what users log (numpy scalars and arrays, pandas Series, tuples, NaN and
infinities) into plain JSON values without importing numpy: objects with ``tolist()`` are
converted through it, non-finite floats become the strings "NaN", "Infinity", "-Infinity"
(the encoding the server expects, REST.md "Metrics").
"""

import json

_INF = float("inf")
_NINF = float("-inf")

encode_str = json.encoder.encode_basestring_ascii  # C speedup: str -> quoted JSON string


def encode_float(value):
    """Returns a finite float unchanged and a non-finite one as its JSON string form."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == _NINF:
        return "-Infinity"
    return value


def jsonable(value):
    """Returns ``value`` as plain JSON data (dict, list, str, int, float, bool, None).

    Raises TypeError for objects with no JSON meaning (the caller names the metric).
    """
    t = type(value)
    if t is float:
        return encode_float(value)
    if t is int or t is str or t is bool or value is None:
        return value
    if t is list or t is tuple:
        return [jsonable(v) for v in value]
    if t is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    tolist = getattr(value, "tolist", None)  # numpy scalar/array, pandas Series/Index
    if callable(tolist):
        return jsonable(tolist())
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return encode_float(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range, set, frozenset)):
        return [jsonable(v) for v in value]
    import numbers
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return encode_float(float(value))
    raise TypeError("{} is not a JSON value".format(type(value).__name__))


def dumps(value):
    """Compact JSON text of ``jsonable(value)``."""
    return json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)


def dumps_scalar(value):
    """Fast path for one scalar; returns JSON text or None when ``value`` is not a plain
    Python scalar (the caller then uses :func:`jsonable`)."""
    t = type(value)
    if t is float:
        v = encode_float(value)
        return repr(v) if v is value else '"{}"'.format(v)
    if t is int:
        return int.__repr__(value)
    if t is bool:
        return "true" if value else "false"
    if t is str:
        return encode_str(value)
    return None
