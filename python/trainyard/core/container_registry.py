"""``azureml.core.container_registry``: where a base image lives (see Environment.docker)."""

from trainyard.core.environment import ContainerRegistry

__all__ = ["ContainerRegistry"]
