// RunScheduler: one FIFO queue and `Slots()` slots per compute target (compute_target.h). Each
// target gets a dispatcher thread that starts queued runs' agents while slots are free, probes
// running agents every `PollInterval()`, and marks a run Failed when its agent ended without
// reporting a final state. Nothing here knows where agents run.
//
// Every agent start gets a fresh token of its run (store/run_tokens.h), never the workspace
// token. A run whose agent ended without a final state gets a recovery agent on the same target
// first (`agent --recover`: ships what the dead agent left, then fails the run); when that
// cannot start, or it too ends without a final state, the scheduler fails the run.
//
// When a target is added (server start, attach) its runs are reconciled: Queued runs are queued
// again in creation order, active runs whose agent is alive are adopted, those whose agent is
// gone get a recovery agent (or become Failed with a message). Active runs on a target that no
// longer exists become Failed at Start().
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/change_notifier.h"
#include "compute/compute_target.h"
#include "store/metadata_store.h"

namespace trainyard {

class RunScheduler {
 public:
  RunScheduler(MetadataStore& store, ChangeNotifier& notifier);
  ~RunScheduler();

  // Adds a target (reconciling its runs) and starts its dispatcher thread. Conflict when a
  // target of that name is there.
  void AddTarget(std::unique_ptr<ComputeTarget> target);
  // Removes a target. Conflict when it has queued or active runs, unless `force`: then queued
  // runs are Canceled and active ones are asked to stop and marked Canceled. The agents' nodes
  // are left alone otherwise.
  void RemoveTarget(const std::string& name, bool force);
  bool HasTarget(const std::string& name) const;
  // The most nodes one run may use on `name` (ComputeTarget::MaxNodes); 0 when unknown.
  int TargetMaxNodes(const std::string& name) const;
  // ComputeTarget::GpusPerNode of `name`; -1 when unknown.
  int TargetGpusPerNode(const std::string& name) const;
  // Fails active and queued runs whose target is not (or no longer) known. Call after the
  // targets of the store were added.
  void Start();
  void Stop();
  // Adds a Queued run to its target's queue (Failed at once when the target is gone).
  void Enqueue(const std::string& run_id);
  // Cancels a queued run at once (Canceled) or asks a running one's agent to stop
  // (CancelRequested, then the agent reports Canceled).
  void Cancel(const std::string& run_id);

  // For tests and status: how many agents run now (all targets).
  int Running() const;
  // Queue and slot figures of one target and its nodes: {slots, running, queued, nodes: [...]}.
  Json TargetStatus(const std::string& name) const;
  // Ids of the runs queued on or running on a target.
  std::vector<std::string> ActiveRuns(const std::string& name) const;

 private:
  struct Lane {
    std::unique_ptr<ComputeTarget> target;
    std::deque<std::string> queue;
    std::map<std::string, int64_t> running;  // run id -> agent id
    std::set<std::string> cancel_requested;
    std::set<std::string> recovering;  // runs whose process now is a recovery agent
    bool stopping = false;
    std::condition_variable cv;
    std::thread thread;
  };

  void DispatchLoop(Lane* lane);
  void Launch(Lane* lane, const std::string& run_id);
  void AgentExited(Lane* lane, const std::string& run_id, const AgentProbe& probe);
  // Starts the target's recovery agent for a run whose agent died (it ships what was left and
  // fails the run); false when that cannot start.
  bool Recover(Lane* lane, const std::string& run_id, const std::string& why);
  static void StopLane(Lane* lane, std::unique_lock<std::mutex>& lk);

  MetadataStore& store_;
  ChangeNotifier& notifier_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Lane>> lanes_;
  bool stopping_ = false;
};

}  // namespace trainyard
