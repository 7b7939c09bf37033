// The Slurm command-line client of the `slurm` compute target (docs/ARCHITECTURE.md "Slurm").
// Trainyard never schedules by itself: runs are Slurm batch jobs (sbatch), their state is read
// with squeue / scontrol, nodes with sinfo, cancel is scancel. The workspace is told once where
// the cluster is (server flags --slurm-bin-dir / --slurm-conf, else PATH and $SLURM_CONF).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainyard {

struct SlurmConfig {
  std::string bin_dir;     // where sbatch/squeue/... are; "" = PATH
  std::string slurm_conf;  // SLURM_CONF for every command; "" = the environment's / default
};

struct SlurmNodeInfo {
  std::string name;
  std::string state;  // sinfo's long state: idle, allocated, mixed, down, drained, ...
  int cpus = 0;
  int64_t memory_mb = 0;
  std::string gres;    // "(null)" from sinfo becomes ""
  std::string reason;  // why down/drained
};

struct SlurmJobInfo {
  int64_t id = 0;
  std::string name;
  std::string state;   // PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT,
                       // NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE; "" = unknown
  std::string reason;  // pending reason / why it ended
  std::string nodes;   // node list (compressed form)
  bool known = false;  // Slurm still knows the job (squeue, or scontrol within MinJobAge)
  bool Active() const {
    return state == "PENDING" || state == "RUNNING" || state == "CONFIGURING" ||
           state == "COMPLETING" || state == "SUSPENDED" || state == "REQUEUED" ||
           state == "RESIZING" || state == "SIGNALING" || state == "STAGE_OUT";
  }
};

struct SlurmJobRequest {
  std::string name;  // the run id
  std::string partition;
  int nodes = 1;
  int tasks_per_node = 1;
  int cpus_per_task = 0;  // 0: Slurm's default
  std::string gres;       // e.g. "gpu:1"
  std::string constraint;
  bool exclusive = true;                   // the run owns its nodes (AmlCompute: one job per node)
  int64_t time_limit_minutes = 0;          // 0: the partition's
  std::string workdir;                     // -D
  std::string output;                      // -o (may hold %j)
  std::string script_path;                 // the batch script
  std::map<std::string, std::string> env;  // added to the job's environment (sbatch --export=ALL)
};

class SlurmClient {
 public:
  explicit SlurmClient(SlurmConfig config) : config_(std::move(config)) {}

  // Throws InvalidInput naming what is missing when the Slurm commands or the controller
  // cannot be reached.
  void Check() const;
  bool PartitionExists(const std::string& partition) const;
  std::vector<std::string> Partitions() const;
  std::vector<SlurmNodeInfo> Nodes(const std::string& partition) const;
  // sbatch --parsable; returns the job id. Throws Error with sbatch's message.
  int64_t Submit(const SlurmJobRequest& request) const;
  void Cancel(int64_t job_id) const;
  // The jobs' states: squeue for queued/running ones, scontrol for those that just ended.
  std::map<int64_t, SlurmJobInfo> Jobs(const std::vector<int64_t>& ids) const;
  // Active jobs by name (run ids), for adopting jobs after a server restart.
  std::vector<SlurmJobInfo> ActiveJobsNamed(const std::vector<std::string>& names) const;
  // The argv prefix for `command`, and the environment changes every command gets.
  std::string Command(const std::string& name) const;

  const SlurmConfig& config() const { return config_; }

 private:
  std::string RunOrThrow(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {}) const;
  SlurmConfig config_;
};

// "n[1-3],m2" -> {"n1","n2","n3","m2"} (Slurm's hostlist form; one bracket level).
std::vector<std::string> ExpandSlurmHostlist(const std::string& list);

}  // namespace trainyard
