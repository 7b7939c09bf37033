// Compute targets: where a run's agent executes (docs/ARCHITECTURE.md, "Compute").
//
// One interface, `ComputeTarget`, with named implementations chosen by kind from a registry:
// `local` (the server's own machine, src/compute/local_target.h) and `ssh` (an attached machine
// reached with the system OpenSSH client, src/compute/ssh_target.h); `slurm` follows. The
// scheduler (run_scheduler.h) keeps one queue and `Slots()` slots per target and knows nothing
// else about where agents run: it starts, probes, cancels and adopts them through this
// interface.
//
// Thread-safety: the scheduler calls one target from one dispatcher thread, but Status(),
// Nodes() and CancelAgent() may be called from request threads at the same time; implementations
// guard their state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/metadata_store.h"

namespace trainyard {

using Json = nlohmann::json;

// What every target needs to know about the workspace it serves.
struct ComputeContext {
  std::string agent_exe;       // path of this trainyard binary (what remote nodes install)
  std::string build_id;        // BuildId() of agent_exe: agents of another build are refused
  std::string server_url;      // the server as seen from this machine
  std::string agent_node_dir;  // local agents: "" = the --data fast path, else HTTP-only here
  // With agent_node_dir: local agents (and so scripts) run as this account, uid:gid, through
  // setpriv (the server must be root). 0 = as the server's own user.
  uint32_t agent_uid = 0, agent_gid = 0;
  std::string setpriv;         // path of setpriv(1)
  std::string data_dir;        // the workspace data dir (local agents; per-target state dirs)
  std::string workspace_name;  // handed to agents as TRAINYARD_WORKSPACE
  std::string sdk_python_dir;  // the Python SDK remote nodes get next to the binary
  std::string automl_engine;   // path of _engine.abi3.so ("" when not built)
  int local_slots = 1;         // --max-concurrent-runs of the local target
  // Where the workspace's Slurm cluster is (server flags; "" = PATH / $SLURM_CONF / built-in map).
  std::string slurm_bin_dir;
  std::string slurm_conf;
  std::string slurm_vm_sizes;
  MetadataStore* store = nullptr;  // targets that read a run's definition (slurm)
};

// A target as stored in the metadata store (compute_targets table): name, type (the registry
// kind: local | ssh | ...), state (Azure's provisioning states: Creating | Succeeded | Failed),
// settings (kind-specific, no secrets: those live in the target's dir), errors of the last
// provisioning ([{code, message}]) and status (progress lines, detected resources, ...).
using ComputeTargetRecord = ComputeTargetRow;

// What a probe learned about one agent.
enum class AgentState {
  kAlive,    // still running
  kGone,     // ended (or its node is lost for good): the run must be in a final state
  kUnknown,  // the node does not answer right now; ask again later
};
struct AgentProbe {
  AgentState state = AgentState::kUnknown;
  std::string detail;      // why it is gone ("exit code 1", "node stopped answering for 60 s ...")
  bool node_lost = false;  // gone because its node is lost: nothing can run there to recover
};

// One machine of a target.
struct NodeStatus {
  std::string name;
  std::string state;  // idle | running | unreachable | leaving
  std::string message;
  int slots = 0;
  int busy = 0;
  Json resources = Json::object();  // cores, memory_mb, gpus, ...
};

using ProgressSink = std::function<void(const std::string& line)>;

class ComputeTarget {
 public:
  virtual ~ComputeTarget() = default;

  virtual const std::string& Name() const = 0;
  virtual std::string Kind() const = 0;
  // How many agents may run at once.
  virtual int Slots() const = 0;
  // The most nodes one run may use (a run asking for more is refused at submission).
  virtual int MaxNodes() const { return 1; }
  // GPUs a run gets per node: -1 = not known here (checked elsewhere), 0 = none.
  virtual int GpusPerNode() const { return -1; }
  // How often the scheduler probes this target's agents.
  virtual std::chrono::milliseconds PollInterval() const = 0;

  // Gets the target ready to run agents (connect, check, install). Reports progress lines;
  // throws Error with a message that says what is wrong and how to fix it. Returns what was
  // learned (detected resources, ...), stored in the record's status.
  virtual Json Provision(const ProgressSink& progress) = 0;
  // Called once a provisioned target is (re)loaded by a server: reconnects what Provision set
  // up (tunnels, ...). Must not block for long; failures surface through Probe.
  virtual void Resume() {}

  // Starts the agent of `run_id` detached from the server (it survives a server restart and,
  // for remote nodes, a dropped connection), with `token` (that run's own credential, minted by
  // the scheduler) in its environment. Returns an id to persist with the run (a pid).
  virtual int64_t StartAgent(const std::string& run_id, const std::string& token) = 0;
  // For a run whose agent died without a final state: starts `trainyard agent --recover
  // --reason why` where that agent ran, which ships what it left (spool lines, log bytes) and
  // fails the run. Throws when it cannot start (node unreachable): the scheduler then fails
  // the run itself.
  virtual int64_t StartRecovery(const std::string& run_id, const std::string& token,
                                const std::string& why) = 0;
  // Asks the agent to stop: SIGTERM to its process group; the agent reports Canceled.
  virtual void CancelAgent(const std::string& run_id, int64_t agent_id) = 0;
  // Checks agents (run id -> agent id) in one go (one round trip for remote nodes). Also used
  // to adopt the agents of a previous server: alive ones are watched again.
  virtual std::map<std::string, AgentProbe> Probe(const std::map<std::string, int64_t>& agents) = 0;
  // The last words of an agent that ended without reporting a final state (its log's tail).
  virtual std::string AgentLogTail(const std::string& run_id) = 0;

  virtual std::vector<NodeStatus> Nodes() = 0;
  // Kind-specific status for GET /compute-targets/{name} (connection, tunnel, ...).
  virtual Json Status() { return Json::object(); }
  // The target is going away (detach or server stop): close connections. Agents keep running.
  virtual void Shutdown() {}
};

// Builds targets of one kind, and checks their settings before anything is stored.
struct ComputeTargetKind {
  std::string kind;
  // The Azure ML compute type the SDK shows (`type`): local, VirtualMachine, ...
  std::string azure_type;
  // Validates the attach request and returns the settings to store (secrets removed and written
  // to `secrets_dir`, which the caller creates and removes on failure). Throws InvalidInput.
  std::function<Json(const Json& request, const std::string& secrets_dir)> validate;
  std::function<std::unique_ptr<ComputeTarget>(const ComputeTargetRecord&, const ComputeContext&)>
      make;
};

// The kinds this binary knows ("local", "ssh", ...), by name.
class ComputeTargetRegistry {
 public:
  static ComputeTargetRegistry& Instance();
  void Register(ComputeTargetKind kind);
  // nullptr when unknown.
  const ComputeTargetKind* Find(const std::string& kind) const;
  std::vector<std::string> Kinds() const;

 private:
  ComputeTargetRegistry();
  std::map<std::string, ComputeTargetKind> kinds_;
};

// Where a target keeps its private files (known_hosts, key, control socket): <data>/compute/<name>.
std::string ComputeTargetDir(const std::string& data_dir, const std::string& name);

}  // namespace trainyard
