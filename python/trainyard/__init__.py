"""Trainyard: a self-hosted workspace for Azure Machine Learning SDK v1 style workflows.

The package mirrors ``azureml``'s module paths one for one (``trainyard.core.run`` is
``azureml.core.run``); the ``azureml`` alias package makes unchanged training scripts work.
Importing ``trainyard`` or ``trainyard.core`` loads nothing else: submodules are imported
lazily on first use so scripts start fast.
"""

__version__ = "0.1.0"
