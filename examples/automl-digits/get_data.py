# The seed's get_data.py: scikit-learn's digits, all but the first 10 rows.
from sklearn import datasets
from scipy import sparse  # noqa: F401  (imported in the seed)
import numpy as np  # noqa: F401


def get_data():

    digits = datasets.load_digits()
    X_digits = digits.data[10:, :]
    y_digits = digits.target[10:]

    return {"X": X_digits, "y": y_digits}
