"""Trains a small XGBoost model through libxgboost's C API with ctypes (standard library only),
so the model file is one that the native scorer's libxgboost surely loads — the pip xgboost
wheels write newer model formats. Used by bench/p6_serving.py and the e2e tests.

    train_xgboost_model(path, rows=500, features=4)  ->  writes a binary:logistic JSON model
"""
import ctypes
import ctypes.util
import math
import random


def _lib():
    name = ctypes.util.find_library("xgboost") or "libxgboost.so"
    lib = ctypes.CDLL(name)
    lib.XGBGetLastError.restype = ctypes.c_char_p
    return lib


def _check(lib, rc):
    if rc != 0:
        raise RuntimeError("xgboost: " + lib.XGBGetLastError().decode())


def sample_rows(n, features, seed=7):
    rnd = random.Random(seed)
    return [[rnd.random() for _ in range(features)] for _ in range(n)]


def label(row):
    return 1.0 if row[0] + 0.5 * row[1] > 0.75 else 0.0


def train_xgboost_model(path, rows=500, features=4, rounds=20):
    lib = _lib()
    data = sample_rows(rows, features)
    flat = (ctypes.c_float * (rows * features))(*[v for r in data for v in r])
    labels = (ctypes.c_float * rows)(*[label(r) for r in data])
    dmat = ctypes.c_void_p()
    _check(lib, lib.XGDMatrixCreateFromMat(flat, ctypes.c_uint64(rows),
                                           ctypes.c_uint64(features), ctypes.c_float(math.nan),
                                           ctypes.byref(dmat)))
    _check(lib, lib.XGDMatrixSetFloatInfo(dmat, b"label", labels, ctypes.c_uint64(rows)))
    booster = ctypes.c_void_p()
    dmats = (ctypes.c_void_p * 1)(dmat)
    _check(lib, lib.XGBoosterCreate(dmats, ctypes.c_uint64(1), ctypes.byref(booster)))
    for key, value in ((b"objective", b"binary:logistic"), (b"max_depth", b"3"),
                       (b"nthread", b"1"), (b"eta", b"0.3")):
        _check(lib, lib.XGBoosterSetParam(booster, key, value))
    for i in range(rounds):
        _check(lib, lib.XGBoosterUpdateOneIter(booster, ctypes.c_int(i), dmat))
    _check(lib, lib.XGBoosterSaveModel(booster, str(path).encode()))
    lib.XGBoosterFree(booster)
    lib.XGDMatrixFree(dmat)
    return str(path)
