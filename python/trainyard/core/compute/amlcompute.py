"""Managed cluster configuration (``azureml.core.compute.AmlCompute``)."""

from trainyard.core.compute.compute import ComputeTarget


class AmlComputeProvisioningConfiguration:
    """The settings of a cluster to create (stored as given)."""

    def __init__(self, vm_size="", vm_priority="dedicated", min_nodes=0, max_nodes=None,
                 idle_seconds_before_scaledown=1800, admin_username=None,
                 admin_user_password=None, admin_user_ssh_key=None, vnet_resourcegroup_name=None,
                 vnet_name=None, subnet_name=None, tags=None, description=None,
                 remote_login_port_public_access="NotSpecified", identity_type=None,
                 identity_id=None, location=None):
        self.vm_size = vm_size
        self.vm_priority = vm_priority
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown
        self.admin_username = admin_username
        self.tags = tags
        self.description = description
        self.location = location


class AmlCompute(ComputeTarget):
    """A cluster that scales between min and max nodes."""

    _compute_type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size="", vm_priority="dedicated", min_nodes=0,
                                   max_nodes=None, idle_seconds_before_scaledown=1800,
                                   **kwargs):
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes, max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown, **kwargs)
