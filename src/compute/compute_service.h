// ComputeService: the workspace's compute targets as server objects. Records live in the
// metadata store (compute_targets); each provisioned target is handed to the RunScheduler, which
// gives it a queue and slots. Attach validates the request through the kind's registry entry
// before anything is stored (bad input: nothing stored), stores the target as Creating and
// provisions it on a background thread whose progress lines are written to the record (what
// `wait_for_completion(show_output=True)` prints); it ends Succeeded (scheduled) or Failed (with
// errors). The built-in `local` target always exists.
//
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "compute/compute_target.h"
#include "compute/run_scheduler.h"
#include "store/metadata_store.h"

namespace trainyard {

class ComputeService {
 public:
  ComputeService(ComputeContext ctx, MetadataStore& store, RunScheduler& scheduler);
  ~ComputeService();

  // Creates the `local` record when absent, schedules every Succeeded target (reconnecting
  // remote ones), fails targets whose provisioning a previous server left unfinished, then
  // starts the scheduler.
  void Start();
  void Stop();

  // Validates and stores a new target (state Creating), then provisions it in the background.
  // request: {"type": "ssh", ...kind settings and secrets}. InvalidInput / Conflict (name taken)
  // with nothing stored.
  Json Attach(const std::string& name, const Json& request);
  // Removes a target. Conflict while it is being provisioned or (without force) has runs.
  void Detach(const std::string& name, bool force);
  Json Get(const std::string& name);
  Json List();
  std::vector<std::string> Names();
  // Throws when runs cannot be submitted to `name` (unknown, Creating, Failed): the message
  // says what to do. Called before anything of a submission is stored.
  void RequireUsable(const std::string& name);
  // Throws when a run on `name` asks for more nodes than the target has (max_nodes).
  void RequireNodes(const std::string& name, int node_count);
  // Throws when a run asks for GPUs (use_gpu) on a target whose nodes have none.
  void RequireGpus(const std::string& name, int processes_per_node);

 private:
  Json ToJson(const ComputeTargetRecord& r, bool detailed);
  void Provision(ComputeTargetRecord rec);

  ComputeContext ctx_;
  MetadataStore& store_;
  RunScheduler& scheduler_;
  std::mutex mu_;  // serializes attach/detach/provisioning record updates
  std::map<std::string, std::thread> provisioning_;
  bool stopping_ = false;
};

}  // namespace trainyard
