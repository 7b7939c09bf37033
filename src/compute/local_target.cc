#include "compute/local_target.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/spawn.h"
#include "common/util.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;

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

LocalTarget::LocalTarget(std::string name, const ComputeContext& ctx, int slots)
    : name_(std::move(name)), ctx_(ctx), slots_(std::max(1, slots)) {}

Json LocalTarget::Provision(const ProgressSink& progress) {
  progress("local: the server's own machine, " + std::to_string(slots_) + " slots");
  return {{"cores", static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))}};
}

std::vector<std::string> LocalTarget::AgentArgs(const std::string& run_id) const {
  std::vector<std::string> args;
  if (ctx_.agent_uid != 0) {
    args = {ctx_.setpriv, "--reuid=" + std::to_string(ctx_.agent_uid),
            "--regid=" + std::to_string(ctx_.agent_gid), "--clear-groups"};
  }
  args.insert(args.end(), {ctx_.agent_exe, "agent", "--run", run_id, "--server", ctx_.server_url});

  if (ctx_.agent_node_dir.empty()) {
    args.insert(args.end(), {"--data", ctx_.data_dir});  // the fast path: the data dir in place
  } else {
    args.insert(args.end(), {"--node-dir", ctx_.agent_node_dir});  // HTTP-only, as remote
  }
  return args;
}

std::vector<std::string> LocalTarget::AgentEnv(const std::string& token) const {
  // The run's own token travels in the environment, not on the command line (ps would show
  // it); the workspace token never reaches an agent.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("TRAINYARD_TOKEN=", 0) == 0 || kv.rfind("TRAINYARD_WORKSPACE=", 0) == 0) {
      continue;
    }
    // Another account gets its own home (the node dir) and environment cache there.
    if (ctx_.agent_uid != 0 &&
        (kv.rfind("HOME=", 0) == 0 || kv.rfind("TRAINYARD_ENV_CACHE=", 0) == 0)) {
      continue;
    }
    env.emplace_back(*e);
  }
  if (ctx_.agent_uid != 0) env.push_back("HOME=" + ctx_.agent_node_dir);
  env.push_back("TRAINYARD_TOKEN=" + token);
  if (!ctx_.workspace_name.empty()) env.push_back("TRAINYARD_WORKSPACE=" + ctx_.workspace_name);
  return env;
}

int64_t LocalTarget::Spawn(const std::vector<std::string>& args, const std::string& token,
                           const std::string& log) {
  // A new session, so agents outlive a crashed server; signals unblocked (the server blocks
  // SIGTERM/SIGINT in its threads), or cancel could not reach the agent.
  pid_t pid = SpawnDetached(args, AgentEnv(token), log);
  std::lock_guard lk(mu_);
  children_.insert(pid);
  return pid;
}

int64_t LocalTarget::StartAgent(const std::string& run_id, const std::string& token) {
  fs::path run_dir = fs::path(ctx_.data_dir) / "runs" / run_id;
  fs::create_directories(run_dir);
  return Spawn(AgentArgs(run_id), token, (run_dir / "agent.log").string());
}

int64_t LocalTarget::StartRecovery(const std::string& run_id, const std::string& token,
                                   const std::string& why) {
  fs::path run_dir = fs::path(ctx_.data_dir) / "runs" / run_id;
  fs::create_directories(run_dir);
  std::vector<std::string> args = AgentArgs(run_id);
  args.insert(args.end(), {"--recover", "--reason", why});
  return Spawn(args, token, (run_dir / "recover.log").string());
}

void LocalTarget::CancelAgent(const std::string&, int64_t agent_id) {
  if (agent_id > 0) ::kill(static_cast<pid_t>(agent_id), SIGTERM);
}

std::map<std::string, AgentProbe> LocalTarget::Probe(const std::map<std::string, int64_t>& agents) {
  std::map<std::string, AgentProbe> out;
  std::lock_guard lk(mu_);
  for (auto& [run_id, pid64] : agents) {
    pid_t pid = static_cast<pid_t>(pid64);
    AgentProbe p{AgentState::kAlive, ""};
    if (children_.count(pid64)) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        children_.erase(pid64);
        p.state = AgentState::kGone;
        p.detail = r == pid && WIFSIGNALED(status)
                       ? "killed by signal " + std::to_string(WTERMSIG(status))
                       : "exit code " + std::to_string(WEXITSTATUS(status));
      }
    } else if (!IsAgentAlive(pid, run_id)) {  // adopted from a previous server
      p.state = AgentState::kGone;
      p.detail = "agent process ended";
    }
    out[run_id] = p;
  }
  busy_ = 0;
  for (auto& [id, p] : out) busy_ += p.state == AgentState::kAlive;
  return out;
}

std::string LocalTarget::AgentLogTail(const std::string& run_id) {
  return ReadFileTail(fs::path(ctx_.data_dir) / "runs" / run_id / "agent.log", 4000);
}

std::vector<NodeStatus> LocalTarget::Nodes() {
  NodeStatus n;
  n.name = "localhost";
  n.slots = slots_;
  {
    std::lock_guard lk(mu_);
    n.busy = busy_;
  }
  n.state = n.busy > 0 ? "running" : "idle";
  n.resources = {{"cores", static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))}};
  return {n};
}

void RegisterLocalComputeTarget(ComputeTargetRegistry& registry) {
  ComputeTargetKind k;
  k.kind = "local";
  k.azure_type = "local";
  k.validate = [](const Json&, const std::string&) -> Json {
    throw InvalidInput(
        "the 'local' target is built in (the server's machine); attach remote machines with "
        "type 'ssh' (RemoteCompute.attach_configuration)");
  };
  k.make = [](const ComputeTargetRecord& rec, const ComputeContext& ctx) {
    int slots = rec.settings.value("max_concurrent_runs", ctx.local_slots);
    return std::unique_ptr<ComputeTarget>(new LocalTarget(rec.name, ctx, slots));
  };
  registry.Register(std::move(k));
}

}  // namespace trainyard
