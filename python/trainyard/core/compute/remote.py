"""Attached machines reached over SSH (``azureml.core.compute.RemoteCompute``)."""

import os

from trainyard.core.compute.compute import ComputeTarget
from trainyard.exceptions import ComputeTargetException


class RemoteComputeAttachConfiguration:
    """How to reach a machine to attach. The private key file is read on this machine when the
    target is attached (its content goes to the server, which keeps it in the target's 0600 dir),
    as Azure ML does."""

    def __init__(self, address=None, ssh_port=22, username="", password=None,
                 private_key_file=None, private_key_passphrase=None):
        self.address = address
        self.ssh_port = ssh_port
        self.username = username
        self.password = password
        self.private_key_file = private_key_file
        self.private_key_passphrase = private_key_passphrase
        # Trainyard settings (optional): slots, heartbeat, the server URL agents use.
        self.max_concurrent_runs = None
        self.heartbeat_timeout_seconds = None
        self.agent_server_url = None

    def _to_request(self):
        body = {"type": "ssh", "address": self.address, "ssh_port": self.ssh_port,
                "username": self.username}
        if self.private_key_file:
            path = os.path.expanduser(os.fspath(self.private_key_file))
            if not os.path.isfile(path):
                raise ComputeTargetException(
                    "private_key_file {!r} does not exist (or is not a file): give the path of "
                    "the private key whose public key is in ~/.ssh/authorized_keys on {}".format(
                        os.fspath(self.private_key_file), self.address))
            try:
                with open(path, "r", encoding="utf-8") as f:
                    body["private_key"] = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise ComputeTargetException("cannot read private_key_file {!r}: {}".format(
                    path, e)) from None
        for k in ("password", "private_key_passphrase", "max_concurrent_runs",
                  "heartbeat_timeout_seconds", "agent_server_url"):
            v = getattr(self, k)
            if v is not None:
                body[k] = v
        return body


class RemoteCompute(ComputeTarget):
    """A machine reached over SSH."""

    _compute_type = "VirtualMachine"

    def _init(self, workspace, dto):
        super()._init(workspace, dto)
        s = dto.get("settings") or {}
        self.address = s.get("address")
        self.ssh_port = s.get("ssh_port")
        self.admin_username = s.get("username")

    @staticmethod
    def attach_configuration(address=None, ssh_port=22, username="", password=None,
                             private_key_file=None, private_key_passphrase=None):
        return RemoteComputeAttachConfiguration(address, ssh_port, username, password,
                                                private_key_file, private_key_passphrase)

    @staticmethod
    def attach(workspace, name, username, address, ssh_port=22, password="",
               private_key_file="", private_key_passphrase=""):
        """Deprecated Azure form: ``RemoteCompute.attach(ws, name, username, address, ...)``."""
        cfg = RemoteComputeAttachConfiguration(address, ssh_port, username, password or None,
                                               private_key_file or None,
                                               private_key_passphrase or None)
        return ComputeTarget.attach(workspace, name, cfg)
