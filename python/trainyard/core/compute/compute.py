"""The compute target base class."""

from trainyard.exceptions import ComputeTargetException

_UNAVAILABLE = ("Only the 'local' compute target is available in Trainyard for now; "
                "submit with compute_target='local' (the default).")


class ComputeTarget:
    """A named compute target of a workspace.

    ``ComputeTarget(workspace, name)`` returns the existing target or raises
    ComputeTargetException when the workspace has none of that name.
    """

    _compute_type = None

    def __new__(cls, workspace=None, name=None):
        if workspace is None or name is None:  # unpickling / subclass construction
            return super().__new__(cls)
        names = workspace.get_details().get("compute_targets") or ["local"]
        if name not in names:
            raise ComputeTargetException(
                "ComputeTargetNotFound: Compute Target with name {} not found in provided "
                "workspace (available: {}). {}".format(name, ", ".join(names), _UNAVAILABLE))
        if name == "local" and cls not in (ComputeTarget, LocalCompute):
            raise ComputeTargetException("Compute target 'local' is a local target, not "
                                         "{}".format(cls.__name__))
        target_cls = LocalCompute if name == "local" else cls
        target = super().__new__(target_cls)
        target._init(workspace, name)
        return target

    def __init__(self, workspace=None, name=None):
        pass  # initialised in __new__

    def _init(self, workspace, name):
        self.workspace = workspace
        self.name = name
        self.type = self._compute_type or "local"
        self.provisioning_state = "Succeeded"
        self.provisioning_errors = None
        if name != "local":
            self._refresh_from_server()

    def _path(self):
        from urllib.parse import quote
        return "/api/v1/compute-targets/" + quote(self.name, safe="")

    def _refresh_from_server(self):
        """Type, provisioning state and errors from ``GET /compute-targets/{name}``."""
        try:
            dto = self.workspace._client.get(self._path())
        except Exception:  # an older server without the route: keep the defaults
            return None
        self._dto = dto
        self.type = dto.get("type") or self.type
        self.provisioning_state = dto.get("provisioning_state") or self.provisioning_state
        self.provisioning_errors = dto.get("provisioning_errors")
        if self.type == "AmlCompute" and type(self) is ComputeTarget:
            from trainyard.core.compute.amlcompute import AmlCompute
            self.__class__ = AmlCompute
        return dto

    @classmethod
    def _for_name(cls, workspace, name):
        """A target object for a name the server listed (no request)."""
        target = object.__new__(LocalCompute if name == "local" else ComputeTarget)
        target._init(workspace, name)
        return target

    @staticmethod
    def create(workspace, name, provisioning_configuration):
        """Creates the target on the server (``PUT /compute-targets/{name}``); provisioning
        continues in the background: ``wait_for_completion()`` waits for it."""
        to_request = getattr(provisioning_configuration, "_to_request", None)
        if to_request is None:
            raise ComputeTargetException("Cannot create compute target {!r} from {}. {}".format(
                name, type(provisioning_configuration).__name__, _UNAVAILABLE))
        from urllib.parse import quote
        workspace._client.put("/api/v1/compute-targets/" + quote(name, safe=""),
                              body=to_request())
        target = object.__new__(ComputeTarget)
        target._init(workspace, name)
        return target

    @staticmethod
    def attach(workspace, name, attach_configuration):
        raise ComputeTargetException("Cannot attach compute target {!r}. {}".format(
            name, _UNAVAILABLE))

    @staticmethod
    def list(workspace):
        return list(workspace.compute_targets.values())

    def wait_for_completion(self, show_output=False, min_node_count=None,
                            timeout_in_minutes=20, is_delete_operation=False):
        """Targets are ready when they exist: returns at once."""
        if show_output:
            print("Provisioning state of {}: {}".format(self.name, self.provisioning_state))

    def get_status(self):
        return self.provisioning_state

    def refresh_state(self):
        pass

    def delete(self):
        raise ComputeTargetException("The {!r} compute target cannot be deleted".format(
            self.name))

    def detach(self):
        raise ComputeTargetException("The {!r} compute target cannot be detached".format(
            self.name))

    def __eq__(self, other):
        return isinstance(other, ComputeTarget) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return "{}(workspace={!r}, name={}, type={}, provisioning state={})".format(
            type(self).__name__, self.workspace, self.name, self.type,
            self.provisioning_state)


class LocalCompute(ComputeTarget):
    """The server's own host."""

    _compute_type = "local"
