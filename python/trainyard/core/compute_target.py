"""Compute target errors (``azureml.core.compute_target``)."""

from trainyard.exceptions import ComputeTargetException

__all__ = ["ComputeTargetException"]
