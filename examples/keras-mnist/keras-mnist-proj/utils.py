# Reads the gzipped IDX files of MNIST (as the Azure ML sample's utils.py).
import gzip
import struct

import numpy as np


def load_data(filename, label=False):
    with gzip.open(filename) as gz:
        magic = struct.unpack(">I", gz.read(4))[0]
        n_items = struct.unpack(">I", gz.read(4))[0]
        if not label:
            n_rows = struct.unpack(">I", gz.read(4))[0]
            n_cols = struct.unpack(">I", gz.read(4))[0]
            res = np.frombuffer(gz.read(n_items * n_rows * n_cols), dtype=np.uint8)
            res = res.reshape(n_items, n_rows * n_cols)
        else:
            res = np.frombuffer(gz.read(n_items), dtype=np.uint8)
            res = res.reshape(n_items, 1)
    assert magic in (0x801, 0x803), "not an IDX file: " + filename
    return res


def one_hot_encode(array, num_of_classes):
    return np.eye(num_of_classes)[array.reshape(-1)]
