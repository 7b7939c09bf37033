"""Compute targets (``azureml.core.compute``).

Trainyard currently has one compute target, ``local`` (runs execute on the server's host).
The provisioning and attach configuration classes exist so Azure ML code imports and builds
its configurations; creating or attaching a target raises ComputeTargetException until
remote compute is available.
"""

from trainyard.core.compute.amlcompute import AmlCompute
from trainyard.core.compute.compute import ComputeTarget, LocalCompute
from trainyard.core.compute.dsvm import DsvmCompute
from trainyard.core.compute.remote import RemoteCompute

__all__ = ["AmlCompute", "ComputeTarget", "DsvmCompute", "LocalCompute", "RemoteCompute"]
