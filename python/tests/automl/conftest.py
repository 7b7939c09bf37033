import pytest

np = pytest.importorskip("numpy")  # the tests compare against scikit-learn (numpy needed)


@pytest.fixture(scope="session")
def automl():
    import trainyard._automl as automl
    return automl


@pytest.fixture(scope="session")
def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="session")
def iris_split():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=1, stratify=y)


@pytest.fixture(scope="session")
def cancer_split():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="session")
def regression_split():
    from sklearn.datasets import make_friedman1
    from sklearn.model_selection import train_test_split
    X, y = make_friedman1(n_samples=600, n_features=8, noise=0.5, random_state=0)
    return train_test_split(X, y, test_size=0.25, random_state=0)
