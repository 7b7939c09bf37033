#include "cli/commands_compute.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "common/workspace_config.h"
#include "net/http_client.h"
#include "net/http_types.h"

namespace trainyard::cli {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

const char* kComputeUsage = R"(usage: trainyard compute <command>
  list [--json]
  show NAME [--json]
  attach NAME --address HOST --username USER [--ssh-port 22]
         (--private-key-file FILE [--passphrase-stdin] | --password-stdin)
         [--max-concurrent-runs N] [--heartbeat-timeout SECONDS] [--agent-server-url URL]
         [--no-wait] [--json]
  create NAME --type slurm --max-nodes N [--vm-size SIZE] [--min-nodes N]
         [--idle-seconds-before-scaledown S] [--partition P] [--no-wait] [--json]
  detach NAME [--force]
create makes an AmlCompute cluster: a partition of the workspace's Slurm cluster (the server's
--slurm-conf); vm_size maps to partition/constraint/GRES (docs/REST.md "Slurm").
attach connects to the machine over SSH, records its host key, checks python3 and disk, detects
cores/memory/GPUs and installs this trainyard build under ~/.trainyard/ there; it prints that
progress until the target is ready (or failed). Secrets are read from stdin, never from argv.
)";

struct ComputeClient {
  WorkspaceConfig cfg;
  std::unique_ptr<HttpClient> http;
  ComputeClient() {
    auto path = FindWorkspaceConfig(fs::current_path());
    if (!path) {
      throw NotFound("no Trainyard workspace here: no .trainyard/config.json in " +
                     fs::current_path().string() + " or its parents. Run `trainyard init` first.");
    }
    cfg = WorkspaceConfig::Load(*path);
    http = std::make_unique<HttpClient>(cfg.server_url, cfg.token);
  }
};

std::string TargetUrl(const std::string& name) {
  ValidateComputeName("compute target name", name);
  return "/api/v1/compute-targets/" + name;
}

std::string S(const Json& j, const char* k) {
  if (!j.contains(k) || j[k].is_null()) return "";
  return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
}

std::string ReadStdinSecret() {
  std::string line;
  std::getline(std::cin, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

// Polls the target, printing progress lines, until Succeeded or Failed. Returns the last JSON.
Json WaitForTarget(HttpClient& http, const std::string& name, bool print) {
  size_t shown = 0;
  for (;;) {
    Json t = http.Call("GET", TargetUrl(name));
    const Json& lines = t["status"].value("progress", Json::array());
    for (; shown < lines.size(); ++shown) {
      if (print) std::cout << S(lines[shown], "time") << " " << S(lines[shown], "message") << "\n";
    }
    std::cout.flush();
    std::string state = S(t, "provisioning_state");
    if (state == "Succeeded" || state == "Failed") return t;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int List(const std::vector<std::string>& a) {
  Args args(a, {}, {"json"});
  ComputeClient c;
  Json list = c.http->Call("GET", "/api/v1/compute-targets")["compute_targets"];
  if (args.Has("json")) {
    std::cout << list.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& t : list) {
    const Json& st = t["settings"];
    std::string where = S(t, "kind") == "ssh"
                            ? S(st, "username") + "@" + S(st, "address") + ":" + S(st, "ssh_port")
                            : "this machine";
    if (S(t, "kind") == "slurm") where = "slurm partition " + S(t["status"], "partition");
    rows.push_back({S(t, "name"), S(t, "kind"), S(t, "provisioning_state"), where});
  }
  PrintTable({"NAME", "KIND", "STATE", "WHERE"}, rows);
  return 0;
}

int Show(const std::vector<std::string>& a) {
  Args args(a, {}, {"json"});
  const std::string& name = args.Positional(0, "compute target name");
  ComputeClient c;
  Json t = c.http->Call("GET", TargetUrl(name));
  if (args.Has("json")) {
    std::cout << t.dump(2) << "\n";
    return 0;
  }
  std::cout << "name:     " << S(t, "name") << "\n"
            << "kind:     " << S(t, "kind") << " (" << S(t, "type") << ")\n"
            << "state:    " << S(t, "provisioning_state") << "\n";
  if (t["provisioning_errors"].is_array()) {
    for (auto& e : t["provisioning_errors"]) std::cout << "error:    " << S(e, "message") << "\n";
  }
  for (auto& [k, v] : t["settings"].items()) {
    std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  }
  if (t.contains("scheduler")) {
    const Json& s = t["scheduler"];
    std::cout << "slots:    " << S(s, "slots") << " (running " << S(s, "running") << ", queued "
              << S(s, "queued") << ")\n";
    std::vector<std::vector<std::string>> rows;
    for (auto& n : s["nodes"]) {
      rows.push_back({S(n, "name"), S(n, "state"), S(n, "busy") + "/" + S(n, "slots"),
                      S(n["resources"], "cores"), S(n["resources"], "memory_mb"),
                      std::to_string(n["resources"].value("gpus", Json::array()).size()),
                      S(n, "message")});
    }
    PrintTable({"NODE", "STATE", "BUSY", "CORES", "MEMORY_MB", "GPUS", "MESSAGE"}, rows);
    if (s["target"].contains("queue") && !s["target"]["queue"].empty()) {
      std::vector<std::vector<std::string>> q;
      for (auto& j : s["target"]["queue"]) {
        q.push_back({S(j, "run_id"), S(j, "job_id"), S(j, "state"), S(j, "reason"), S(j, "nodes")});
      }
      std::cout << "Slurm queue:\n";
      PrintTable({"RUN", "JOB", "STATE", "REASON", "NODES"}, q);
    }
    if (s["target"].contains("tunnel") && !s["target"]["tunnel"].is_null()) {
      std::cout << "tunnel:   " << S(s["target"], "tunnel") << "\n";
    }
  }
  return 0;
}

int Attach(const std::vector<std::string>& a) {
  Args args(a,
            {"address", "username", "ssh-port", "private-key-file", "max-concurrent-runs",
             "heartbeat-timeout", "agent-server-url"},
            {"password-stdin", "passphrase-stdin", "no-wait", "json"});
  const std::string& name = args.Positional(0, "compute target name");
  ValidateComputeName("compute target name", name);
  Json body = {
      {"type", "ssh"}, {"address", args.Get("address")}, {"username", args.Get("username")}};
  if (args.Has("ssh-port")) {
    std::string p = args.Get("ssh-port");
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 6) {
      throw InvalidInput("--ssh-port must be a port number (1-65535), got '" + p + "'");
    }
    body["ssh_port"] = std::stoi(p);
  }
  if (args.Has("private-key-file")) {
    fs::path key = args.Get("private-key-file");
    std::error_code ec;
    if (!fs::is_regular_file(key, ec)) {
      throw InvalidInput("--private-key-file '" + key.string() +
                         "' does not exist (or is not a file): give the private key whose public "
                         "key is in ~/.ssh/authorized_keys on the machine");
    }
    body["private_key"] = ReadFile(key);
  }
  if (args.Has("password-stdin") && args.Has("passphrase-stdin")) {
    throw InvalidInput("--password-stdin and --passphrase-stdin exclude each other");
  }
  if (args.Has("password-stdin")) body["password"] = ReadStdinSecret();
  if (args.Has("passphrase-stdin")) body["private_key_passphrase"] = ReadStdinSecret();
  if (args.Has("max-concurrent-runs")) {
    body["max_concurrent_runs"] = args.GetInt("max-concurrent-runs", 0);
  }
  if (args.Has("heartbeat-timeout")) {
    body["heartbeat_timeout_seconds"] = args.GetInt("heartbeat-timeout", 0);
  }
  if (args.Has("agent-server-url")) body["agent_server_url"] = args.Get("agent-server-url");
  ComputeClient c;
  Json t = c.http->Call("PUT", TargetUrl(name), body);
  if (!args.Has("no-wait")) t = WaitForTarget(*c.http, name, !args.Has("json"));
  if (args.Has("json")) std::cout << t.dump(2) << "\n";
  if (S(t, "provisioning_state") == "Failed") {
    std::string msg = t["provisioning_errors"].is_array() && !t["provisioning_errors"].empty()
                          ? S(t["provisioning_errors"][0], "message")
                          : "attach failed";
    throw Error("ProvisioningFailed",
                "compute target '" + name + "' failed: " + msg +
                    " (it stays listed as Failed: `trainyard compute detach " + name + "`)",
                400);
  }
  if (!args.Has("json") && !args.Has("no-wait")) {
    std::cout << "compute target '" << name << "' is ready\n";
  }
  return 0;
}

int Create(const std::vector<std::string>& a) {
  Args args(
      a,
      {"type", "vm-size", "max-nodes", "min-nodes", "idle-seconds-before-scaledown", "partition"},
      {"no-wait", "json"});
  const std::string& name = args.Positional(0, "compute target name");
  ValidateComputeName("compute target name", name);
  std::string type = args.Get("type", "slurm");
  if (type != "slurm") {
    throw InvalidInput(
        "compute create makes clusters (--type slurm); attach machines with "
        "`trainyard compute attach`");
  }
  if (!args.Has("max-nodes")) throw InvalidInput("compute create needs --max-nodes N");
  Json body = {
      {"type", "slurm"},
      {"vm_size", args.Get("vm-size")},
      {"max_nodes", args.GetInt("max-nodes", 0)},
      {"min_nodes", args.GetInt("min-nodes", 0)},
      {"idle_seconds_before_scaledown", args.GetInt("idle-seconds-before-scaledown", 1800)}};
  if (args.Has("partition")) body["partition"] = args.Get("partition");
  ComputeClient c;
  Json t = c.http->Call("PUT", TargetUrl(name), body);
  if (!args.Has("no-wait")) t = WaitForTarget(*c.http, name, !args.Has("json"));
  if (args.Has("json")) std::cout << t.dump(2) << "\n";
  if (S(t, "provisioning_state") == "Failed") {
    std::string msg = t["provisioning_errors"].is_array() && !t["provisioning_errors"].empty()
                          ? S(t["provisioning_errors"][0], "message")
                          : "create failed";
    throw Error("ProvisioningFailed",
                "compute target '" + name + "' failed: " + msg +
                    " (it stays listed as Failed: `trainyard compute detach " + name + "`)",
                400);
  }
  if (!args.Has("json") && !args.Has("no-wait")) {
    std::cout << "compute target '" << name << "' is ready\n";
  }
  return 0;
}

int Detach(const std::vector<std::string>& a) {
  Args args(a, {}, {"force"});
  const std::string& name = args.Positional(0, "compute target name");
  ComputeClient c;
  c.http->Call("DELETE", TargetUrl(name) + (args.Has("force") ? "?force=true" : ""));
  std::cout << "detached compute target '" << name << "'\n";
  return 0;
}

}  // namespace

int CmdCompute(const std::vector<std::string>& a) {
  if (a.empty() || a[0] == "-h" || a[0] == "--help") {
    std::cout << kComputeUsage;
    return a.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("compute", a[0], {"list", "show", "attach", "create", "detach"});
  if (a[0] == "list") return List(rest);
  if (a[0] == "show") return Show(rest);
  if (a[0] == "attach") return Attach(rest);
  if (a[0] == "create") return Create(rest);
  if (a[0] == "detach") return Detach(rest);
  throw InvalidInput(std::string("unknown compute command '") + a[0] + "'\n" + kComputeUsage);
}

}  // namespace trainyard::cli
