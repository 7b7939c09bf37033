"""Data science VM configuration (``azureml.core.compute.DsvmCompute``)."""

from trainyard.core.compute.compute import ComputeTarget


class DsvmProvisioningConfiguration:
    """The settings of a VM to create (stored as given)."""

    def __init__(self, vm_size="Standard_DS3_v2", ssh_port=None, location=None):
        self.vm_size = vm_size
        self.ssh_port = ssh_port
        self.location = location


class DsvmCompute(ComputeTarget):
    """A data science virtual machine."""

    _compute_type = "DataScienceVM"

    @staticmethod
    def provisioning_configuration(vm_size="Standard_DS3_v2", ssh_port=None, location=None):
        return DsvmProvisioningConfiguration(vm_size, ssh_port, location)

    @staticmethod
    def create(workspace, name, provisioning_configuration):
        return ComputeTarget.create(workspace, name, provisioning_configuration)
