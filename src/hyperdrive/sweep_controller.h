// SweepController: runs HyperDrive sweeps inside the server. A sweep is a parent run of kind
// "hyperdrive" whose definition holds the SweepConfig; its children are ordinary script runs
// created through the same path as any submitted run (RunSubmitter), with the sampled values
// appended to the script's arguments (`--name value`) and recorded as the JSON tag and property
// `hyperparameters`.
//
// Everything the controller needs is in the metadata store (config, children, their metrics and
// statuses), so Start() resumes every unfinished sweep after a restart. The controller observes
// the store (StoreObserver): a child's new primary-metric values trigger the policy at once
// (every interval not yet evaluated, so the decisions do not depend on how the agent batched
// the values); a child's terminal status frees its slot; the parent's cancel cancels the
// children. max_concurrent_runs counts every child not yet terminal, max_total_runs every child
// created, max_duration_minutes runs from the parent's start (then the running children are
// canceled and the parent completes).
//
// Thread-safe: observer callbacks and CreateSweep may come from any thread; sweeps are stepped
// on the controller's own thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/change_notifier.h"
#include "hyperdrive/sweep_config.h"
#include "store/metadata_store.h"

namespace trainyard::hyperdrive {

// Creates and cancels runs the way a client's request would (the server passes its own request
// path, so children are validated, snapshotted and scheduled like any run, on any target).
class RunSubmitter {
 public:
  virtual ~RunSubmitter() = default;
  // POST /api/v1/experiments/{experiment}/runs with `body`; returns the run object. Throws
  // trainyard::Error as the route does.
  virtual Json CreateRun(const std::string& experiment, const Json& body) = 0;
  virtual void CancelRun(const std::string& run_id) = 0;
};

class SweepController : public StoreObserver {
 public:
  SweepController(MetadataStore& store, ChangeNotifier& notifier, RunSubmitter& submitter,
                  std::filesystem::path data_dir);
  ~SweepController() override;

  // Resumes unfinished sweeps and starts the controller thread.
  void Start();
  void Stop();

  // Validates `hyperdrive` (SweepConfig) and `child_config` (the script run config children
  // get), creates the parent run (Running) and hands it to the controller thread; returns the
  // parent's run object. Nothing is created when validation fails.
  Json CreateSweep(const std::string& experiment, const Json& hyperdrive, const Json& child_config,
                   const Json& tags, const std::string& run_id);

  // StoreObserver
  void MetricsInserted(const std::vector<MetricPoint>& points) override;
  void RunStatusChanged(const std::string& run_id, const std::string& status) override;

  // The arguments a child gets: the config's own, then `flag value` per parameter.
  static Json ChildConfig(const Json& child_config, const SweepConfig& cfg, const Json& params);
  // {"--a": 1, "b": "x"} in the space's order, as Python's json.dumps writes it.
  static std::string HyperparametersJson(const SweepConfig& cfg, const Json& params);

 private:
  struct Sweep;

  void Loop();
  void Load(const std::string& parent_id);
  // The hyperparameters a resume_child_runs entry ran with; InvalidInput when it is not an
  // ended child of a HyperDrive run or its parameters are not the space's.
  Json ResumedParameters(const SweepConfig& cfg, const std::string& child_id);
  void Step(Sweep& sw);
  void EvaluatePolicy(Sweep& sw, const std::string& child_id);
  void Finish(Sweep& sw, const std::vector<RunRecord>& children);
  void Log(const Sweep& sw, const std::string& line);
  std::vector<double> Series(const std::string& run_id, const std::string& metric);

  MetadataStore& store_;
  ChangeNotifier& notifier_;
  RunSubmitter& submitter_;
  std::filesystem::path data_dir_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> adopt_;                          // new parents to load
  std::set<std::string> dirty_;                          // parents to step
  std::set<std::pair<std::string, std::string>> evals_;  // (parent, child) with new values
  std::map<std::string, std::string> child_parent_;      // child id -> parent id
  std::map<std::string, std::string> primary_metric_;    // parent id -> metric name
  std::map<std::string, int64_t> deadlines_;             // parent id -> max duration (ms)
  std::thread thread_;

  // Owned by the controller thread.
  std::map<std::string, std::unique_ptr<Sweep>> sweeps_;
};

}  // namespace trainyard::hyperdrive
