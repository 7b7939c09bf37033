"""Compute targets (``azureml.core.compute.ComputeTarget``): server objects of a workspace.

Every workspace has the built-in ``local`` target (the server's machine). Other machines are
attached with ``ComputeTarget.attach(ws, name, RemoteCompute.attach_configuration(...))``; the
server validates the request (nothing is stored when it is wrong), then connects, checks and
installs Trainyard on the machine in the background: ``wait_for_completion(show_output=True)``
prints that progress and raises ComputeTargetException when it failed.
"""

import sys
import time

from trainyard.exceptions import ComputeTargetException, UserErrorException

_TERMINAL = ("Succeeded", "Failed", "Canceled")
_PATH = "/api/v1/compute-targets"


def _quote(name):
    from trainyard._http import quote_path
    return quote_path(name)


def _class_for(dto):
    from trainyard.core.compute.amlcompute import AmlCompute
    from trainyard.core.compute.remote import RemoteCompute
    return {"local": LocalCompute, "VirtualMachine": RemoteCompute,
            "AmlCompute": AmlCompute}.get(dto.get("type"), ComputeTarget)


class ComputeStatus:
    """What ``get_status()`` returns: the provisioning state and the target's queue and nodes.
    Compares equal to its provisioning state string (``target.get_status() == "Succeeded"``)."""

    def __init__(self, dto):
        self._dto = dto
        self.provisioning_state = dto.get("provisioning_state")
        self.provisioning_errors = dto.get("provisioning_errors")
        sched = dto.get("scheduler") or {}
        self.slots = sched.get("slots")
        self.running_runs = sched.get("running")
        self.queued_runs = sched.get("queued")
        self.nodes = sched.get("nodes") or []
        self.connection = sched.get("target") or {}

    def serialize(self):
        return dict(self._dto)

    def __eq__(self, other):
        if isinstance(other, str):
            return other == self.provisioning_state
        return isinstance(other, ComputeStatus) and other._dto == self._dto

    def __hash__(self):
        return hash(self.provisioning_state)

    def __str__(self):
        return str(self.provisioning_state)

    def __repr__(self):
        return "ComputeStatus(provisioning_state={!r}, slots={!r}, running={!r}, queued={!r})" \
            .format(self.provisioning_state, self.slots, self.running_runs, self.queued_runs)


class ComputeTarget:
    """A named compute target of a workspace.

    ``ComputeTarget(workspace, name)`` returns the existing target (as its subclass:
    LocalCompute, RemoteCompute) or raises ComputeTargetException when the workspace has none of
    that name.
    """

    _compute_type = None

    def __new__(cls, workspace=None, name=None):
        if workspace is None or name is None:  # unpickling / subclass construction
            return super().__new__(cls)
        dto = cls._get_dto(workspace, name)
        target_cls = _class_for(dto)
        if cls is not ComputeTarget and not issubclass(target_cls, cls):
            raise ComputeTargetException(
                "Compute target {!r} is a {} target, not {}".format(
                    name, dto.get("type"), cls.__name__))
        target = super().__new__(target_cls)
        target._init(workspace, dto)
        return target

    def __init__(self, workspace=None, name=None):
        pass  # initialised in __new__

    @staticmethod
    def _get_dto(workspace, name):
        try:
            return workspace._client.get("{}/{}".format(_PATH, _quote(name)))
        except UserErrorException as e:
            if getattr(e, "status_code", None) == 404:
                raise ComputeTargetException(
                    "ComputeTargetNotFound: Compute Target with name {} not found in provided "
                    "workspace. {}".format(name, e)) from None
            raise ComputeTargetException(str(e)) from None

    def _init(self, workspace, dto):
        self.workspace = workspace
        self._dto = dto
        self.name = dto["name"]
        self.type = dto.get("type")
        self.provisioning_state = dto.get("provisioning_state")
        self.provisioning_errors = dto.get("provisioning_errors")
        self.location = None
        self.tags = None
        self.description = None
        settings = dto.get("settings") or {}
        self._settings = settings

    @classmethod
    def _from_dto(cls, workspace, dto):
        target = object.__new__(_class_for(dto))
        target._init(workspace, dto)
        return target

    @classmethod
    def _for_name(cls, workspace, name):
        return cls(workspace, name)

    # ----- creating -------------------------------------------------------------------
    @staticmethod
    def create(workspace, name, provisioning_configuration):
        """Creates a cluster: ``AmlCompute.provisioning_configuration(...)`` becomes a partition
        of the workspace's Slurm cluster (docs/REST.md "Slurm"). Returns at once with the target
        Creating (see ``wait_for_completion``)."""
        if getattr(provisioning_configuration, "_to_request", None) is None:
            raise ComputeTargetException(
                "Cannot create compute target {!r}: Trainyard creates clusters from "
                "AmlCompute.provisioning_configuration(...) (on the workspace's Slurm cluster); "
                "attach an existing machine with ComputeTarget.attach(ws, name, "
                "RemoteCompute.attach_configuration(...)), or run on 'local'.".format(name))
        return ComputeTarget.attach(workspace, name, provisioning_configuration)

    @staticmethod
    def attach(workspace, name, attach_configuration):
        """Attaches an existing machine. Returns at once with the target Creating: the server
        connects and installs in the background (see ``wait_for_completion``)."""
        to_request = getattr(attach_configuration, "_to_request", None)
        if to_request is None:
            raise ComputeTargetException(
                "attach_configuration must come from RemoteCompute.attach_configuration(...) "
                "(or, with ComputeTarget.create, AmlCompute.provisioning_configuration(...)), "
                "got {}".format(type(attach_configuration).__name__))
        body = to_request()
        try:
            dto = workspace._client.put("{}/{}".format(_PATH, _quote(name)), body)
        except UserErrorException as e:
            raise ComputeTargetException("Cannot attach compute target {!r}: {}".format(
                name, e)) from None
        return ComputeTarget._from_dto(workspace, dto)

    @staticmethod
    def list(workspace):
        answer = workspace._client.get(_PATH)
        return [ComputeTarget._from_dto(workspace, d) for d in answer.get("compute_targets", [])]

    # ----- state ------------------------------------------------------------------------
    def refresh_state(self):
        self._init(self.workspace, self._get_dto(self.workspace, self.name))

    def get_status(self):
        self.refresh_state()
        return ComputeStatus(self._dto)

    def wait_for_completion(self, show_output=False, min_node_count=None, timeout_in_minutes=20,
                            is_delete_operation=False, out=None):
        """Waits until provisioning finished, printing its progress lines as the server records
        them when ``show_output``. Raises ComputeTargetException when it failed."""
        out = out or sys.stdout
        deadline = time.monotonic() + timeout_in_minutes * 60
        shown = 0
        delay = 0.1
        while True:
            self.refresh_state()
            lines = (self._dto.get("status") or {}).get("progress") or []
            if show_output:
                for p in lines[shown:]:
                    out.write("{} {}\n".format(p.get("time", ""), p.get("message", "")))
                out.flush()
            shown = len(lines)
            if self.provisioning_state in _TERMINAL:
                break
            if time.monotonic() > deadline:
                raise ComputeTargetException(
                    "Timed out after {} minutes waiting for compute target {!r} (state {})".format(
                        timeout_in_minutes, self.name, self.provisioning_state))
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        if show_output:
            out.write("Provisioning operation finished, operation \"{}\"\n".format(
                self.provisioning_state))
            out.flush()
        if self.provisioning_state != "Succeeded":
            errors = self.provisioning_errors or []
            raise ComputeTargetException(
                "Compute object provisioning polling reached non-successful terminal state, "
                "current provisioning state: {}\nProvisioning operation error:\n{}".format(
                    self.provisioning_state,
                    "\n".join(e.get("message", str(e)) for e in errors) or "(no details)"))

    def detach(self, force=False):
        """Detaches the target (the machine is left as it is). Refused while runs are queued or
        active on it, unless ``force=True`` (they are canceled)."""
        try:
            self.workspace._client.request(
                "DELETE", "{}/{}".format(_PATH, _quote(self.name)),
                params={"force": "true" if force else "false"})
        except UserErrorException as e:
            raise ComputeTargetException("Cannot detach compute target {!r}: {}".format(
                self.name, e)) from None
        self.provisioning_state = "Deleted"

    def delete(self, force=False):
        """For an attached machine the same as ``detach()``."""
        self.detach(force=force)

    def serialize(self):
        return dict(self._dto)

    def __eq__(self, other):
        return isinstance(other, ComputeTarget) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return "{}(workspace={!r}, name={}, type={}, provisioning state={})".format(
            type(self).__name__, getattr(self, "workspace", None), getattr(self, "name", None),
            getattr(self, "type", None), getattr(self, "provisioning_state", None))


class LocalCompute(ComputeTarget):
    """The server's own host."""

    _compute_type = "local"

    def detach(self, force=False):
        raise ComputeTargetException("The built-in 'local' compute target cannot be detached")

    delete = detach
