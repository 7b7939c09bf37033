"""Attached machines reached over SSH (``azureml.core.compute.RemoteCompute``)."""

from trainyard.core.compute.compute import ComputeTarget


class RemoteComputeAttachConfiguration:
    """How to reach a machine to attach (stored as given)."""

    def __init__(self, address=None, ssh_port=22, username="", password=None,
                 private_key_file=None, private_key_passphrase=None):
        self.address = address
        self.ssh_port = ssh_port
        self.username = username
        self.password = password
        self.private_key_file = private_key_file
        self.private_key_passphrase = private_key_passphrase


class RemoteCompute(ComputeTarget):
    """A machine reached over SSH."""

    _compute_type = "VirtualMachine"

    @staticmethod
    def attach_configuration(address=None, ssh_port=22, username="", password=None,
                             private_key_file=None, private_key_passphrase=None):
        return RemoteComputeAttachConfiguration(address, ssh_port, username, password,
                                                private_key_file, private_key_passphrase)
