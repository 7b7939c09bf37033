"""Managed cluster configuration (``azureml.core.compute.AmlCompute``)."""

from trainyard.core.compute.compute import ComputeStatus, ComputeTarget


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

    def _to_request(self):
        """The body of ``PUT /compute-targets/{name}``: a cluster is a partition of the
        workspace's Slurm cluster (docs/REST.md "Slurm")."""
        return {"type": "slurm", "vm_size": self.vm_size, "vm_priority": self.vm_priority,
                "min_nodes": self.min_nodes, "max_nodes": self.max_nodes,
                "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown,
                "description": self.description}


class AmlComputeStatus(ComputeStatus):
    """``AmlCompute.get_status()``: the provisioning state and the partition's nodes as Slurm
    reports them now (sinfo), with Azure's node counts."""

    def __init__(self, dto):
        super().__init__(dto)
        self.errors = self.provisioning_errors
        counts = {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
                  "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}
        key = {"idle": "idleNodeCount", "running": "runningNodeCount",
               "unreachable": "unusableNodeCount", "leaving": "leavingNodeCount"}
        for n in self.nodes:
            counts[key.get(n.get("state"), "unusableNodeCount")] += 1
        self.node_state_counts = counts
        self.current_node_count = len(self.nodes)
        self.target_node_count = len(self.nodes)
        self.allocation_state = "Steady"
        self.queue = self.connection.get("queue", [])

    def serialize(self):
        out = dict(self._dto)
        out.update({"currentNodeCount": self.current_node_count,
                    "targetNodeCount": self.target_node_count,
                    "allocationState": self.allocation_state,
                    "nodeStateCounts": self.node_state_counts,
                    "nodes": [{"name": n.get("name"), "state": n.get("state"),
                               "slurm_state": (n.get("resources") or {}).get("slurm_state"),
                               "message": n.get("message")} for n in self.nodes],
                    "queue": self.queue})
        return out


class AmlCompute(ComputeTarget):
    """A cluster that scales between min and max nodes."""

    _compute_type = "AmlCompute"

    def wait_for_completion(self, show_output=False, min_node_count=None,
                            timeout_in_minutes=20, is_delete_operation=False, out=None):
        """Waits for provisioning (progress printed with show_output), then shows the
        partition's nodes as Slurm reports them."""
        import sys
        out = out or sys.stdout
        super().wait_for_completion(show_output=show_output, min_node_count=min_node_count,
                                    timeout_in_minutes=timeout_in_minutes,
                                    is_delete_operation=is_delete_operation, out=out)
        if show_output:
            status = self.get_status()
            out.write("Nodes: " + ", ".join(
                "{} {}".format(n.get("name"), (n.get("resources") or {}).get("slurm_state") or
                               n.get("state")) for n in status.nodes) + "\n")
            out.write("AmlCompute wait for completion finished\n")
            out.flush()

    def get_status(self):
        """An :class:`AmlComputeStatus` with the node states Slurm reports now."""
        self.refresh_state()
        return AmlComputeStatus(self._dto)

    @staticmethod
    def provisioning_configuration(vm_size="", vm_priority="dedicated", min_nodes=0,
                                   max_nodes=None, idle_seconds_before_scaledown=1800,
                                   **kwargs):
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes, max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown, **kwargs)
