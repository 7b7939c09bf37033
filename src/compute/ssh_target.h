// The `ssh` compute target (Azure ML's RemoteCompute): one attached machine reached with the
// system OpenSSH client (docs/DEPENDENCIES.md says why not libssh).
//
// - Connection: one ControlMaster per target (a child of the server, ControlPersist off) that
//   every other ssh call shares (~0.14 s a call instead of ~0.4 s). Key auth runs in BatchMode;
//   a password or a key passphrase is given to ssh through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force)
//   from a 0600 file in the target's dir. The host key is recorded on first use in the target's
//   own known_hosts (<data>/compute/<name>/known_hosts); afterwards a changed key is refused.
// - Attach (Provision): connect, check the OS/arch, python3 and free disk, detect cores, memory
//   and GPUs (nvidia-smi), install this binary with the Python SDK (and the AutoML engine) under
//   ~/.trainyard/<build id>/ on the node, and choose how agents reach the server: directly, or
//   through a reverse tunnel (-R) on the master when the server listens on loopback.
// - Runs: the agent starts detached on the node (setsid, own session; it survives a dropped
//   connection), refusing a binary of another build; its pid is written to
//   /tmp/azureml_run/<run id>/agent.pid and its log to /tmp/azureml_run/<run id>/azureml-logs/.
//   Cancel sends SIGTERM to its process group. Probes check every agent in one ssh call; a node
//   that does not answer for heartbeat_timeout_seconds fails its runs with the reason.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "compute/compute_target.h"

namespace trainyard {

struct SshSettings {
  std::string address;
  int port = 22;
  std::string username;
  std::string auth;  // key | password
  bool key_passphrase = false;
  int max_concurrent_runs = 0;  // 0: the node's cores
  int heartbeat_timeout_seconds = 120;
  std::string agent_server_url;  // "" : tunnel when the server is on loopback, else direct
  static SshSettings FromJson(const Json& j);
};

class SshTarget : public ComputeTarget {
 public:
  SshTarget(const ComputeTargetRecord& rec, const ComputeContext& ctx);
  ~SshTarget() override;

  const std::string& Name() const override { return name_; }
  std::string Kind() const override { return "ssh"; }
  int Slots() const override;
  std::chrono::milliseconds PollInterval() const override { return std::chrono::milliseconds(500); }
  Json Provision(const ProgressSink& progress) override;
  void Resume() override;
  int64_t StartAgent(const std::string& run_id, const std::string& token) override;
  int64_t StartRecovery(const std::string& run_id, const std::string& token,
                        const std::string& why) override;
  void CancelAgent(const std::string& run_id, int64_t agent_id) override;
  std::map<std::string, AgentProbe> Probe(const std::map<std::string, int64_t>& agents) override;
  std::string AgentLogTail(const std::string& run_id) override;
  std::vector<NodeStatus> Nodes() override;
  Json Status() override;
  void Shutdown() override;

  struct Result {
    int exit_code = -1;
    std::string out, err;
    bool timed_out = false;
  };

 private:
  std::vector<std::string> BaseArgs(bool strict_host_key) const;
  std::map<std::string, std::string> SshEnv() const;
  // Starts the control master (and the reverse tunnel when one is set up) unless it runs.
  void EnsureConnected(bool first_use);
  void StopMaster();
  // Runs `script` with sh on the node (sent on stdin, so secrets never show in ps). Throws a
  // clear Error when ssh itself fails (exit 255).
  Result Remote(const std::string& script, int timeout_s = 60, const std::string& stdin_extra = "");
  Result RemoteRaw(const std::vector<std::string>& remote_argv, const std::string& input,
                   int timeout_s);
  std::string Describe() const;  // user@address:port
  // Starts `trainyard agent ... extra` detached on the node; returns its pid.
  int64_t LaunchOnNode(const std::string& run_id, const std::string& token,
                       const std::string& extra_args, const std::string& log_name);
  std::string InstallDir() const;
  std::string AgentServerUrl() const;

  // Runs `job` on the target's own long-lived thread. The control master is forked there: its
  // PR_SET_PDEATHSIG follows the forking *thread*, so it fires only when the target (or the
  // whole server, even killed) goes away, not when a request or provisioning thread ends.
  void OnSpawner(const std::function<void()>& job);

  std::string name_;
  ComputeContext ctx_;
  SshSettings s_;
  std::string dir_;  // <data>/compute/<name>
  std::string control_path_;
  Json learned_;  // the record's status: cores, tunnel_port, home, ...

  mutable std::mutex mu_;
  pid_t master_pid_ = -1;
  bool provisioned_ = false;
  int tunnel_port_ = 0;  // on the node; 0: no tunnel
  std::string last_error_;
  std::optional<std::chrono::steady_clock::time_point> unreachable_since_;
  int busy_ = 0;
  std::atomic<int> cores_{1};

  std::mutex sp_mu_;
  std::condition_variable sp_cv_;
  std::function<void()> sp_job_;
  bool sp_done_ = false, sp_stop_ = false;
  std::thread spawner_;
};

// Runs argv (no shell) with `input` on stdin; stdout and stderr captured. env entries are set on
// top of this process's environment. SIGKILL to the process group after timeout_s.
SshTarget::Result RunCaptured(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& env,
                              const std::string& input, int timeout_s);

// Turns ssh's stderr into a message that says what is wrong and what to do (host key changed,
// authentication refused, connection refused, unreachable, ...).
std::string ExplainSshFailure(const std::string& stderr_text, const std::string& who,
                              const std::string& known_hosts);

}  // namespace trainyard
