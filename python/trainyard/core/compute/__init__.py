"""Compute targets (``azureml.core.compute``).

Every workspace has ``local`` (the server's host). Existing machines are attached over SSH with
``ComputeTarget.attach(ws, name, RemoteCompute.attach_configuration(...))``. Creating VMs or
clusters (``ComputeTarget.create``) is not available: the provisioning configuration classes
exist so Azure ML code imports and builds its configurations.
"""

from trainyard.core.compute.amlcompute import AmlCompute
from trainyard.core.compute.compute import ComputeTarget, LocalCompute
from trainyard.core.compute.dsvm import DsvmCompute
from trainyard.core.compute.remote import RemoteCompute

__all__ = ["AmlCompute", "ComputeTarget", "DsvmCompute", "LocalCompute", "RemoteCompute"]
