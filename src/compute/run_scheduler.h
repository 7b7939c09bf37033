// RunScheduler: the queue and slots of the local compute target. Queued runs are started in
// submission order while fewer than max_concurrent agents run; each run gets its own agent
// process (`trainyard agent --run ID`), started in a new session so that it outlives a server
// crash, with a token of that run only (store/run_tokens.h). On start-up the scheduler
// reconciles: queued runs are queued again, runs whose agent is still alive are adopted. A run
// whose agent is gone (found at start-up, or an agent that exits without a final state) gets a
// recovery agent (`--recover`) that ships what the dead agent left and fails the run.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/change_notifier.h"
#include "store/metadata_store.h"

namespace trainyard {

struct SchedulerOptions {
  int max_concurrent = 2;  // slots on the local machine
  std::string agent_exe;   // path of the trainyard binary
  std::string server_url;
  std::string token;
  std::string data_dir;
  std::string workspace_name;  // handed to agents as TRAINYARD_WORKSPACE
  // Empty: agents take the local fast path (`--data <data_dir>`: the server's blob store and
  // environment cache in place). Set: agents run HTTP-only with this node cache
  // (`--node-dir`), exactly as on another machine.
  std::string agent_node_dir;
  // With agent_node_dir: run agents (and so scripts) as this account, uid:gid (the server must
  // be root). They then cannot read the data dir at all: runs are isolated from the workspace
  // token on disk. 0 = as the server's own user.
  uint32_t agent_uid = 0, agent_gid = 0;
  std::string setpriv;  // path of setpriv(1), which drops to that account before exec
};

class RunScheduler {
 public:
  RunScheduler(SchedulerOptions opts, MetadataStore& store, ChangeNotifier& notifier);
  ~RunScheduler();

  // Reconciles persisted runs and starts the dispatcher thread.
  void Start();
  void Stop();
  // Adds a Queued run to the local queue.
  void Enqueue(const std::string& run_id);
  // Cancels a queued run at once (Canceled) or asks a running one's agent to stop
  // (CancelRequested, then the agent reports Canceled).
  void Cancel(const std::string& run_id);

  // For tests and status: how many agents run now.
  int Running() const;

 private:
  void DispatchLoop();
  void Launch(const std::string& run_id);
  // Starts `trainyard agent --recover` for a run whose agent died: it ships what the agent
  // left (spool lines, log bytes) and fails the run with `why`.
  void LaunchRecovery(const std::string& run_id, const std::string& why);
  std::vector<std::string> AgentArgs(const std::string& run_id) const;
  std::vector<std::string> AgentEnv(const std::string& run_id) const;
  void Watch(const std::string& run_id, int pid, bool own_child);
  void AgentExited(const std::string& run_id, const std::string& why);

  SchedulerOptions opts_;
  MetadataStore& store_;
  ChangeNotifier& notifier_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::map<std::string, int> running_;  // run id -> agent pid
  std::set<std::string> cancel_requested_;
  std::set<std::string> recovering_;  // runs whose process now is a recovery agent
  bool stopping_ = false;
  std::thread dispatcher_;
};

// True when `pid` is alive and its command line names `run_id` (guards against pid reuse).
bool IsAgentAlive(int pid, const std::string& run_id);

}  // namespace trainyard
