// The `local` compute target: agents run on the server's own machine, one process per run
// (`trainyard agent --run ID`) started with SpawnDetached in a new session so that it outlives
// a crashed server; its output goes to <data>/runs/<id>/agent.log.
#pragma once

#include <mutex>
#include <set>

#include "compute/compute_target.h"

namespace trainyard {

class LocalTarget : public ComputeTarget {
 public:
  LocalTarget(std::string name, const ComputeContext& ctx, int slots);

  const std::string& Name() const override { return name_; }
  std::string Kind() const override { return "local"; }
  int Slots() const override { return slots_; }
  std::chrono::milliseconds PollInterval() const override { return std::chrono::milliseconds(20); }
  Json Provision(const ProgressSink& progress) override;
  int64_t StartAgent(const std::string& run_id, const std::string& token) override;
  int64_t StartRecovery(const std::string& run_id, const std::string& token,
                        const std::string& why) override;
  void CancelAgent(const std::string& run_id, int64_t agent_id) override;
  std::map<std::string, AgentProbe> Probe(const std::map<std::string, int64_t>& agents) override;
  std::string AgentLogTail(const std::string& run_id) override;
  std::vector<NodeStatus> Nodes() override;

 private:
  std::vector<std::string> AgentArgs(const std::string& run_id) const;
  std::vector<std::string> AgentEnv(const std::string& token) const;
  int64_t Spawn(const std::vector<std::string>& args, const std::string& token,
                const std::string& log);

  std::string name_;
  ComputeContext ctx_;
  int slots_;
  std::mutex mu_;
  std::set<int64_t> children_;  // agents this process started (reaped with waitpid)
  int busy_ = 0;
};

// True when `pid` is alive and its command line names `run_id` (guards against pid reuse).
bool IsAgentAlive(int pid, const std::string& run_id);

}  // namespace trainyard
