// The `slurm` compute target (Azure ML's AmlCompute cluster): a Slurm partition of the
// workspace's cluster (docs/ARCHITECTURE.md "Slurm"; the cluster's commands: slurm_client.h).
//
// - Create (Provision): checks the cluster answers, resolves vm_size to partition / constraint /
//   GRES through the vm-size map (server flag --slurm-vm-sizes FILE, else the built-in one:
//   STANDARD_NC<k>/ND<k>/NV<k>... -> GRES gpu:<k/6>, other sizes -> nothing), checks the
//   partition exists and has GPUs when the size asks for them, and records its nodes.
// - Runs: one batch job per run (sbatch: job name = run id, nodes and tasks per node from the
//   run's distributed config, time limit = max_run_duration + 5 min so the agent's own limit
//   fires first, --no-requeue); the batch script runs `trainyard agent`, which starts the ranks
//   with srun (runner/launcher.h). The job id is the agent id (and property slurm.job_id).
// - Probe: squeue -t all; PENDING/RUNNING -> alive (tags slurm.state / slurm.reason /
//   slurm.nodes follow the job); ended without the agent reporting -> gone with Slurm's state
//   and reason; jobs without a recorded id are found again by name (server restart).
// - Slots = max_nodes: at most max_nodes runs (each holds at least one node) are handed to
//   Slurm at once; more wait Queued in Trainyard's queue. A run asking for more nodes than
//   max_nodes (or than the partition has) is refused at submission.
#pragma once

#include <mutex>

#include "compute/compute_target.h"
#include "compute/slurm_client.h"

namespace trainyard {

struct SlurmVmSize {
  std::string partition;
  std::string constraint;
  std::string gres;
  int cpus_per_task = 0;
};

// The vm-size map entry for `vm_size` ("" and unknown sizes: no GRES, no constraint). `map_file`
// (JSON: {"STANDARD_NC6": {"partition":..., "gres":..., "constraint":..., "cpus_per_task":...},
// "*": {...}}) overrides the built-in rule; throws InvalidInput when it cannot be read.
SlurmVmSize ResolveSlurmVmSize(const std::string& vm_size, const std::string& map_file);

class SlurmTarget : public ComputeTarget {
 public:
  SlurmTarget(const ComputeTargetRecord& rec, const ComputeContext& ctx);

  const std::string& Name() const override { return name_; }
  std::string Kind() const override { return "slurm"; }
  int Slots() const override { return max_nodes_; }
  int MaxNodes() const override;
  int GpusPerNode() const override;
  std::chrono::milliseconds PollInterval() const override { return std::chrono::milliseconds(250); }
  Json Provision(const ProgressSink& progress) override;
  int64_t StartAgent(const std::string& run_id, const std::string& token) override;
  // Not started: the batch job is over, and the run is failed with Slurm's reason instead
  // (throws, as the interface allows; the agent itself ships its logs when Slurm stops it).
  int64_t StartRecovery(const std::string& run_id, const std::string& token,
                        const std::string& why) override;
  void CancelAgent(const std::string& run_id, int64_t agent_id) override;
  std::map<std::string, AgentProbe> Probe(const std::map<std::string, int64_t>& agents) override;
  std::string AgentLogTail(const std::string& run_id) override;
  std::vector<NodeStatus> Nodes() override;
  Json Status() override;

 private:
  std::string name_;
  ComputeContext ctx_;
  SlurmClient client_;
  Json settings_;
  SlurmVmSize size_;
  std::string partition_;
  int max_nodes_ = 1;
  int partition_nodes_ = 0;
  std::mutex mu_;
  std::map<std::string, SlurmJobInfo> last_;  // run id -> last seen job state
};

void RegisterSlurmComputeTarget(ComputeTargetRegistry& registry);

}  // namespace trainyard
