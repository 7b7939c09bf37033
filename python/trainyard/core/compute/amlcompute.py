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

    def _to_request(self):
        """The body of ``PUT /compute-targets/{name}``: a cluster is a partition of the
        workspace's Slurm cluster (docs/REST.md "Slurm")."""
        return {"type": "slurm", "vm_size": self.vm_size, "vm_priority": self.vm_priority,
                "min_nodes": self.min_nodes, "max_nodes": self.max_nodes,
                "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown,
                "description": self.description}


class AmlComputeStatus:
    """``AmlCompute.get_status()``: the partition's node counts from Slurm (sinfo)."""

    def __init__(self, dto):
        scheduler = dto.get("scheduler") or {}
        self.provisioning_state = dto.get("provisioning_state")
        self.errors = dto.get("provisioning_errors")
        self.nodes = [{"name": n.get("name"), "state": n.get("state"),
                       "slurm_state": (n.get("resources") or {}).get("slurm_state"),
                       "message": n.get("message")} for n in scheduler.get("nodes") or []]
        counts = {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
                  "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}
        key = {"idle": "idleNodeCount", "running": "runningNodeCount",
               "unreachable": "unusableNodeCount", "leaving": "leavingNodeCount"}
        for n in self.nodes:
            counts[key.get(n["state"], "unusableNodeCount")] += 1
        self.node_state_counts = counts
        self.current_node_count = len(self.nodes)
        self.target_node_count = len(self.nodes)
        self.allocation_state = "Steady"
        self.queue = (scheduler.get("target") or {}).get("queue", [])
        self.running_runs = scheduler.get("running", 0)
        self.queued_runs = scheduler.get("queued", 0)

    def serialize(self):
        return {"provisioningState": self.provisioning_state, "errors": self.errors,
                "currentNodeCount": self.current_node_count,
                "targetNodeCount": self.target_node_count,
                "allocationState": self.allocation_state,
                "nodeStateCounts": self.node_state_counts, "nodes": self.nodes,
                "queue": self.queue}

    def __repr__(self):
        return "AmlComputeStatus({})".format(self.serialize())


class AmlCompute(ComputeTarget):
    """A cluster that scales between min and max nodes."""

    _compute_type = "AmlCompute"

    def wait_for_completion(self, show_output=False, min_node_count=None,
                            timeout_in_minutes=20, is_delete_operation=False):
        """Waits until provisioning has finished (progress lines printed with show_output),
        then shows the partition's nodes as Slurm reports them. Raises
        ComputeTargetException when provisioning failed."""
        import time
        from trainyard.exceptions import ComputeTargetException
        deadline = time.time() + timeout_in_minutes * 60
        shown = 0
        while True:
            dto = self._refresh_from_server() or {}
            progress = (dto.get("status") or {}).get("progress") or []
            if show_output:
                for p in progress[shown:]:
                    print(p.get("message", ""), flush=True)
            shown = len(progress)
            if self.provisioning_state != "Creating" or time.time() > deadline:
                break
            time.sleep(0.2)
        if self.provisioning_state == "Failed":
            raise ComputeTargetException("Compute target {!r} failed to provision: {}".format(
                self.name, self.provisioning_errors))
        if show_output:
            status = self.get_status()
            print("Provisioning operation finished, operation \"{}\"".format(
                self.provisioning_state))
            print("Nodes: " + ", ".join("{} {}".format(n["name"], n["slurm_state"] or n["state"])
                                        for n in status.nodes))
            print("AmlCompute wait for completion finished", flush=True)

    def get_status(self):
        """An :class:`AmlComputeStatus` with the node states Slurm reports now."""
        return AmlComputeStatus(self._refresh_from_server() or {})

    def refresh_state(self):
        self._refresh_from_server()

    @staticmethod
    def provisioning_configuration(vm_size="", vm_priority="dedicated", min_nodes=0,
                                   max_nodes=None, idle_seconds_before_scaledown=1800,
                                   **kwargs):
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes, max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown, **kwargs)
