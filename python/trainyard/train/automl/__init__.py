"""AutoML (``azureml.train.automl``): ``AutoMLConfig`` submitted with ``Experiment.submit``
runs a search over the native engine's pipelines as child runs (docs/AUTOML.md)."""

from trainyard.train.automl.automl_config import AutoMLConfig

__all__ = ["AutoMLConfig"]
