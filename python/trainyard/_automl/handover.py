"""The dataset handover format (docs/AUTOML.md, src/automl/data_io.h), standard library only.

A data script's {"X": ..., "y": ...} is written with `write(path, X, y, feature_names)`;
X may be a list of rows or a numpy array (NaN = missing), y numbers or labels (str).
"""
import array
import math
import struct
import sys

MAGIC = b"TYDS"
VERSION = 1


def _rows(X):
    if hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy()
    if hasattr(X, "tolist"):
        X = X.tolist()
    return [list(r) for r in X]


def _le_doubles(values):
    a = array.array("d", (float(v) for v in values))
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def _short(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def encode(X, y=None, feature_names=None):
    try:
        import numpy as np
        if isinstance(X, np.ndarray) and X.ndim == 2:
            rows, cols = X.shape
            body_x = np.ascontiguousarray(X, dtype="<f8").tobytes()
        else:
            raise ImportError
    except ImportError:
        data = _rows(X)
        rows = len(data)
        cols = len(data[0]) if rows else 0
        for i, r in enumerate(data):
            if len(r) != cols:
                raise ValueError("X row %d has %d values, row 0 has %d" % (i, len(r), cols))
        body_x = _le_doubles(v for r in data for v in r)
    if hasattr(feature_names, "tolist"):
        feature_names = feature_names.tolist()
    names = [str(n) for n in (feature_names or [])]
    if names and len(names) != cols:
        raise ValueError("%d feature names for %d columns" % (len(names), cols))
    out = [MAGIC, struct.pack("<IQQI", VERSION, rows, cols, len(names))]
    out += [_short(n) for n in names]
    out.append(body_x)
    if y is None:
        out.append(b"\x00")
        return b"".join(out)
    if hasattr(y, "tolist"):
        y = y.tolist()
    y = list(y)
    if len(y) != rows:
        raise ValueError("y has %d values but X has %d rows" % (len(y), rows))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in y):
        out.append(b"\x01")
        out.append(_le_doubles(y))
    else:
        labels, index = [], {}
        for v in y:
            key = str(v)
            if key not in index:
                index[key] = len(labels)
                labels.append(key)
        out.append(b"\x02" + struct.pack("<I", len(labels)))
        out += [_short(s) for s in labels]
        out.append(struct.pack("<%dI" % rows, *(index[str(v)] for v in y)))
    return b"".join(out)


def write(path, X, y=None, feature_names=None):
    with open(path, "wb") as f:
        f.write(encode(X, y, feature_names))


def read(path):
    """Returns (X rows as lists, y list or None, feature_names)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != MAGIC:
        raise ValueError("not a Trainyard handover file")
    version, rows, cols, n_names = struct.unpack_from("<IQQI", data, 4)
    if version != VERSION:
        raise ValueError("unsupported handover version %d" % version)
    pos = 4 + struct.calcsize("<IQQI")
    names = []
    for _ in range(n_names):
        (n,) = struct.unpack_from("<I", data, pos)
        names.append(data[pos + 4:pos + 4 + n].decode("utf-8"))
        pos += 4 + n
    flat = struct.unpack_from("<%dd" % (rows * cols), data, pos)
    pos += 8 * rows * cols
    X = [list(flat[i * cols:(i + 1) * cols]) for i in range(rows)]
    kind = data[pos]
    pos += 1
    y = None
    if kind == 1:
        y = list(struct.unpack_from("<%dd" % rows, data, pos))
    elif kind == 2:
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        labels = []
        for _ in range(n):
            (m,) = struct.unpack_from("<I", data, pos)
            labels.append(data[pos + 4:pos + 4 + m].decode("utf-8"))
            pos += 4 + m
        y = [labels[k] for k in struct.unpack_from("<%dI" % rows, data, pos)]
    return X, y, names


__all__ = ["encode", "write", "read", "MAGIC", "VERSION"]
_ = math  # NaN passes through struct/array unchanged
