#include "compute/run_scheduler.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/spawn.h"
#include "common/util.h"
#include "store/run_tokens.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;

namespace {
const char* const kActiveStatuses[] = {"Preparing", "Provisioning", "Starting",
                                       "Running",   "Finalizing",   "CancelRequested"};

}  // namespace

bool IsAgentAlive(int pid, const std::string& run_id) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmd.find("agent") == std::string::npos || cmd.find(run_id) == std::string::npos) return false;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
  auto rp = stat.rfind(')');
  return rp == std::string::npos || rp + 2 >= stat.size() || stat[rp + 2] != 'Z';
}

RunScheduler::RunScheduler(SchedulerOptions opts, MetadataStore& store, ChangeNotifier& notifier)
    : opts_(std::move(opts)), store_(store), notifier_(notifier) {}

RunScheduler::~RunScheduler() { Stop(); }

void RunScheduler::Start() {
  // Reconcile what a previous server left behind.
  RunFilter active;
  active.include_children = true;
  for (const char* s : kActiveStatuses) active.statuses.push_back(s);
  for (auto& r : store_.ListRuns(active)) {
    // Runs an agent executes: scripts, and AutoML runs submitted with a driver definition.
    bool agent_run =
        r.kind == "script" || (r.kind == "automl" && r.definition.contains("source_directory"));
    if (!agent_run) continue;
    if (IsAgentAlive(static_cast<int>(r.agent_pid), r.id)) {
      std::lock_guard lk(mu_);
      running_[r.id] = static_cast<int>(-r.agent_pid);  // negative: adopted, not our child
      continue;
    }
    // Gone while the server was down: ship what it left, then fail the run.
    try {
      LaunchRecovery(r.id,
                     "its process was gone when the Trainyard server started: the server or the "
                     "machine stopped while the run was active");
    } catch (const std::exception& e) {
      store_.UpdateRunStatus(
          r.id, r.status == "CancelRequested" ? "Canceled" : "Failed",
          {{"message",
            "The run's agent process is gone: the Trainyard server or the machine stopped while "
            "the run was active. Logs written until then are kept."}},
          std::nullopt);
    }
  }
  RunFilter queued;
  queued.include_children = true;
  queued.statuses = {"Queued"};
  auto runs = store_.ListRuns(queued);
  std::sort(runs.begin(), runs.end(),
            [](const RunRecord& a, const RunRecord& b) { return a.created < b.created; });
  {
    std::lock_guard lk(mu_);
    for (auto& r : runs)
      if (r.kind == "script" || (r.kind == "automl" && r.definition.contains("source_directory")))
        queue_.push_back(r.id);
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void RunScheduler::Stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
}

void RunScheduler::Enqueue(const std::string& run_id) {
  {
    std::lock_guard lk(mu_);
    queue_.push_back(run_id);
  }
  cv_.notify_all();
}

int RunScheduler::Running() const {
  std::lock_guard lk(mu_);
  return static_cast<int>(running_.size());
}

void RunScheduler::Cancel(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run) throw NotFound("run '" + run_id + "' not found");
  if (IsTerminalStatus(run->status)) return;
  int pid = 0;
  {
    std::lock_guard lk(mu_);
    auto q = std::find(queue_.begin(), queue_.end(), run_id);
    if (q != queue_.end()) queue_.erase(q);
    auto it = running_.find(run_id);
    if (it != running_.end()) {
      pid = std::abs(it->second);
      cancel_requested_.insert(run_id);
    }
  }
  if (pid > 0) {
    store_.UpdateRunStatus(run_id, "CancelRequested", nullptr, std::nullopt);
    ::kill(pid, SIGTERM);
  } else {
    store_.UpdateRunStatus(run_id, "Canceled", nullptr, std::nullopt);
  }
  notifier_.Notify();
}

void RunScheduler::DispatchLoop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    // Reap agents that ended.
    std::vector<std::pair<std::string, std::string>> ended;
    for (auto it = running_.begin(); it != running_.end();) {
      int pid = it->second;
      bool gone = false;
      std::string why;
      if (pid > 0) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
          gone = true;
          why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                    : "exit code " + std::to_string(WEXITSTATUS(status));
        }
      } else if (!IsAgentAlive(-pid, it->first)) {
        gone = true;
        why = "agent process ended";
      }
      if (gone) {
        ended.emplace_back(it->first, why);
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    if (!ended.empty()) {
      lk.unlock();
      for (auto& [id, why] : ended) AgentExited(id, why);
      lk.lock();
      continue;
    }
    while (!queue_.empty() && static_cast<int>(running_.size()) < opts_.max_concurrent) {
      std::string id = queue_.front();
      queue_.pop_front();
      lk.unlock();
      try {
        Launch(id);
      } catch (const std::exception& e) {
        store_.UpdateRunStatus(id, "Failed",
                               {{"message", std::string("cannot start the run: ") + e.what()}},
                               std::nullopt);
        notifier_.Notify();
      }
      lk.lock();
    }
    cv_.wait_for(lk, std::chrono::milliseconds(running_.empty() ? 500 : 20));
  }
}

void RunScheduler::Launch(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run || run->status != "Queued") return;  // canceled meanwhile
  fs::path run_dir = fs::path(opts_.data_dir) / "runs" / run_id;
  fs::create_directories(run_dir);
  std::string agent_log = (run_dir / "agent.log").string();

  std::vector<std::string> args = AgentArgs(run_id);
  std::vector<std::string> env = AgentEnv(run_id);
  // A new session, so agents outlive a crashed server; signals unblocked (the server blocks
  // SIGTERM/SIGINT in its threads), or cancel could not reach the agent.
  pid_t pid = SpawnDetached(args, env, agent_log);
  store_.SetAgentPid(run_id, pid);
  std::lock_guard lk(mu_);
  running_[run_id] = pid;
}

std::vector<std::string> RunScheduler::AgentArgs(const std::string& run_id) const {
  std::vector<std::string> args;
  if (opts_.agent_uid != 0) {
    args = {opts_.setpriv, "--reuid=" + std::to_string(opts_.agent_uid),
            "--regid=" + std::to_string(opts_.agent_gid), "--clear-groups"};
  }
  args.insert(args.end(),
              {opts_.agent_exe, "agent", "--run", run_id, "--server", opts_.server_url});
  if (opts_.agent_node_dir.empty()) {
    args.insert(args.end(), {"--data", opts_.data_dir});
  } else {
    args.insert(args.end(), {"--node-dir", opts_.agent_node_dir});
  }
  return args;
}

std::vector<std::string> RunScheduler::AgentEnv(const std::string& run_id) const {
  // The run's own token travels in the environment, not on the command line (ps would show
  // it); the workspace token never reaches an agent.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("TRAINYARD_TOKEN=", 0) == 0 || kv.rfind("TRAINYARD_WORKSPACE=", 0) == 0) {
      continue;
    }
    // Another account gets its own home (the node dir) and environment cache there.
    if (opts_.agent_uid != 0 &&
        (kv.rfind("HOME=", 0) == 0 || kv.rfind("TRAINYARD_ENV_CACHE=", 0) == 0)) {
      continue;
    }
    env.emplace_back(*e);
  }
  if (opts_.agent_uid != 0) env.push_back("HOME=" + opts_.agent_node_dir);
  env.push_back("TRAINYARD_TOKEN=" + MintRunToken(store_, run_id));
  if (!opts_.workspace_name.empty()) env.push_back("TRAINYARD_WORKSPACE=" + opts_.workspace_name);
  return env;
}

void RunScheduler::LaunchRecovery(const std::string& run_id, const std::string& why) {
  fs::path run_dir = fs::path(opts_.data_dir) / "runs" / run_id;
  fs::create_directories(run_dir);
  std::vector<std::string> args = AgentArgs(run_id);
  args.insert(args.end(), {"--recover", "--reason", why});
  pid_t pid = SpawnDetached(args, AgentEnv(run_id), (run_dir / "recover.log").string());
  store_.SetAgentPid(run_id, pid);
  std::lock_guard lk(mu_);
  running_[run_id] = pid;
  recovering_.insert(run_id);
}

void RunScheduler::AgentExited(const std::string& run_id, const std::string& why) {
  auto run = store_.GetRun(run_id);
  bool canceled, recovered;
  {
    std::lock_guard lk(mu_);
    canceled = cancel_requested_.erase(run_id) > 0;
    recovered = recovering_.erase(run_id) > 0;
  }
  if (run && !IsTerminalStatus(run->status) && !recovered) {
    // The agent died without a final state: a recovery agent ships what it left first.
    try {
      if (canceled) {
        std::lock_guard lk(mu_);
        cancel_requested_.insert(run_id);
      }
      LaunchRecovery(run_id, "agent " + why);
      notifier_.Notify();
      return;
    } catch (const std::exception& e) {
      std::lock_guard lk(mu_);
      recovering_.erase(run_id);
    }
  }
  if (run && !IsTerminalStatus(run->status)) {
    if (canceled || run->status == "CancelRequested") {
      store_.UpdateRunStatus(run_id, "Canceled", nullptr, std::nullopt);
    } else {
      fs::path agent_log = fs::path(opts_.data_dir) / "runs" / run_id / "agent.log";
      store_.UpdateRunStatus(run_id, "Failed",
                             {{"message", "the run's agent stopped unexpectedly (" + why + ")"},
                              {"traceback", ReadFileTail(agent_log, 4000)}},
                             std::nullopt);
    }
  }
  notifier_.Notify();
}

}  // namespace trainyard
