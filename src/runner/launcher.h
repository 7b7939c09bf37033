// Distributed runs (docs/ARCHITECTURE.md "Distributed runs"): how many processes a run's
// definition asks for (RankPlan), how the agent starts them (RankLauncher: one launcher process
// whose output carries rank labels), and how that output is split into per-rank driver logs
// (RankOutput).
//
//   local target, MPI:            mpirun -np N `trainyard _ranks` (one supervisor per rank,
//                                  which runs `python -m mpi4py` when mpi4py is there)
//   local target, PyTorch/TF/none: `trainyard _ranks` supervisor: N children, one pipe each
//                                  ("R: " labels); a failing rank stops the others
//   inside a Slurm job, MPI:      srun --mpi=pmix -K `trainyard _ranks` (one per rank)
//   inside a Slurm job, others:   srun -N nodes --ntasks-per-node=1 -K `trainyard _ranks`
//                                  (one supervisor per node, node rank from SLURM_NODEID)
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

struct RankPlan {
  // "single" (one process), "mpi", "pytorch", "tensorflow", or "nodes" (node_count > 1 without
  // a distributed_job_config: one copy of the script per node, as AmlCompute does).
  std::string kind = "single";
  int node_count = 1;
  int processes_per_node = 1;
  int world_size = 1;
  int worker_count = 0;  // tensorflow
  int ps_count = 0;      // tensorflow
  std::string backend;   // pytorch communication_backend
  bool use_gpu = false;  // one GPU per rank (CUDA_VISIBLE_DEVICES), Estimator(use_gpu=True)

  bool distributed() const { return kind != "single"; }
  nlohmann::json ToJson() const;
};

// Reads definition.distributed_job_config / node_count / process_count_per_node (docs/REST.md
// "Distributed runs"). Throws InvalidInput naming the field for anything malformed or
// contradictory (never falls back to one process).
RankPlan PlanRanks(const nlohmann::json& definition);

// GPUs on this machine (`nvidia-smi -L` lines; 0 when nvidia-smi is missing or fails).
int CountLocalGpus();

// Where the ranks go.
struct LaunchContext {
  bool in_slurm = false;                // the agent runs as a Slurm batch step: use srun
  std::vector<std::string> node_addrs;  // in Slurm: the allocation's node addresses, in order
  std::string self_exe;                 // the trainyard binary (for the supervisor)
};

// This process's context: in_slurm when the agent runs as the batch step of a Trainyard Slurm
// job ($TRAINYARD_SLURM_JOB and $SLURM_JOB_ID), with the nodes' addresses from scontrol.
LaunchContext CurrentLaunchContext();

// Turns the user's program `argv` into the launcher's argv and adds the variables every rank
// shares to `vars` (AZUREML_NODE_COUNT, AZ_BATCH_MASTER_NODE, MASTER_ADDR/PORT, the supervisor's
// spec). Throws InvalidInput when the launcher (mpirun/srun) is missing or the plan cannot run
// in this context.
std::vector<std::string> BuildRankLaunch(const RankPlan& plan, const LaunchContext& ctx,
                                         const std::vector<std::string>& argv,
                                         std::map<std::string, std::string>& vars);

// Splits the launcher's labelled output into azureml-logs/70_driver_log_<rank>.txt (the rank's
// own lines) and azureml-logs/70_driver_log.txt (every line, "[rank R] "-prefixed, plus the
// launcher's own messages). Keeps each rank's output tail for error details.
class RankOutput {
 public:
  using Sink = std::function<void(const std::string& log_name, std::string_view data)>;
  RankOutput(std::string kind, Sink sink) : kind_(std::move(kind)), sink_(std::move(sink)) {}
  void Feed(std::string_view chunk);
  void Finish();  // a last line without newline
  // The output tail to extract the error from: the first rank whose output holds a Python
  // traceback (else the launcher's messages); `rank` gets that rank or -1.
  std::string FailureTail(int* rank) const;

 private:
  void Line(std::string_view line);
  std::string kind_;
  Sink sink_;
  std::string partial_;
  std::map<int, std::string> tails_;
  std::string launcher_tail_;
};

// `trainyard _ranks`: the per-node supervisor. Reads its spec from $TRAINYARD_RANK_SPEC,
// starts the node's ranks with their variables (one pipe each), writes their output to stdout
// as "R: line", stops every rank when one fails (exit code: the failing rank's) and, for
// TensorFlow, stops the parameter servers once every worker has succeeded.
int RunRankSupervisor();

}  // namespace trainyard
