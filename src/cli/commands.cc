#include "cli/commands.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli/args.h"
#include "cli/commands_automl.h"
#include "cli/commands_compute.h"
#include "cli/commands_data.h"
#include "cli/commands_debug.h"
#include "cli/commands_service.h"
#include "cli/commands_studio.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/validation.h"
#include "common/workspace_config.h"
#include "env/env_spec.h"
#include "net/http_client.h"
#include "net/http_types.h"
#include "runner/agent.h"
#include "server/server_main.h"

extern char** environ;

namespace trainyard::cli {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

const char* kUsage = R"(usage: trainyard <command> [options]

Workspace:
  init [--name NAME] [--dir DIR] [--port N]   create DIR/.trainyard/config.json
  up [--dir DIR]                             start the workspace server in the background
  down [--dir DIR]                           stop it
  ui [--dir DIR] [--run ID] [--open|--no-browser]
                                             print (and open) a one-time studio login link
  status [--dir DIR]                         show the server and workspace state
  server --data DIR [--host H] [--port N] [--max-concurrent-runs N]
         [--slurm-conf FILE] [--slurm-bin-dir DIR] [--slurm-vm-sizes FILE]
         [--containers-config FILE]          run a server in the foreground
Runs:
  run list [--experiment E | --parent RUN] [--status S] [--filter F] [--order-by O]
           [--limit N] [--page-size N] [--count] [--all] [--json]
                                             F, O: docs/REST.md "Run queries", e.g.
                                             --filter "metrics.acc > 0.9" --order-by "metrics.acc DESC"
  run show ID [--json]
  run logs [-f] ID                           print (and follow) a run's output
  run download ID [--prefix P] [--dest DIR]
  run cancel ID
  run submit --experiment E [--source-dir DIR] (--script FILE | --command CMD)
             [--conda-file YML | --pip-requirements TXT | --python INTERPRETER]
             [--max-duration SECONDS] [--wait] [--json] [-- ARGS...]
  experiment list [--json]
Models:
  model list [--name NAME] [--json]
  model show NAME[:VERSION] [--json]
  model download NAME[:VERSION] [--dest DIR]
  model register --name NAME --path FILE_OR_DIR [--framework F] [--framework-version V]
                 [--description TEXT] [--json]

AutoML:
  automl submit CONFIG.yml|--csv DATA.csv --label-column COL --task T ...   (`automl --help`)
  automl predict MODEL[:VERSION]|FILE.tyam DATA.csv [--proba]

Compute targets:
  compute list|show NAME                     the workspace's targets (local, attached machines)
  compute attach NAME --address HOST --username USER --private-key-file FILE ...
  compute detach NAME [--force]              (`trainyard compute --help`)
Web services:
  service deploy --name NAME --model MODEL[:VERSION] [--entry-script FILE] [--auth] ...
  service list|show|logs|keys|delete|score ...   (`trainyard service --help`)
  serve --dir SERVICE_DIR                    one service's HTTP front (started by the server)

Exit codes: 0 ok, 1 error, 2 bad input, 3 not found, 4 conflict, 5 auth.
)";

struct Workspace {
  WorkspaceConfig cfg;
  fs::path config_path;
};

Workspace LoadWorkspace(const std::string& dir) {
  auto path = FindWorkspaceConfig(dir.empty() ? fs::current_path() : fs::path(dir));
  if (!path) {
    throw NotFound("no Trainyard workspace here: no .trainyard/config.json in " +
                   (dir.empty() ? fs::current_path().string() : dir) +
                   " or its parents. Run `trainyard init` first.");
  }
  return {WorkspaceConfig::Load(*path), *path};
}

bool Healthy(const std::string& url) {
  try {
    HttpClient c(url, "");
    return c.Request("GET", "/healthz", "", "application/json", 1000).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    ThrowErrno("finding a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Reports progress of a transfer on stderr, but only once it has taken more than a second
// (short operations stay quiet): "downloading 3/10 files, 12.5 of 40.0 MB".
class Progress {
 public:
  Progress(std::string verb, size_t files, uint64_t bytes)
      : verb_(std::move(verb)),
        files_(files),
        bytes_(bytes),
        start_(std::chrono::steady_clock::now()) {}
  void Step(uint64_t bytes) {
    ++done_files_;
    done_bytes_ += bytes;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(250))
      return;
    last_ = now;
    shown_ = true;
    std::cerr << "\r" << verb_ << " " << done_files_ << "/" << files_ << " files, " << std::fixed
              << std::setprecision(1) << done_bytes_ / 1e6 << " of " << bytes_ / 1e6 << " MB"
              << (isatty(2) ? "" : "\n") << std::flush;
  }
  ~Progress() {
    if (shown_ && isatty(2)) std::cerr << "\n";
  }

 private:
  std::string verb_;
  size_t files_, done_files_ = 0;
  uint64_t bytes_, done_bytes_ = 0;
  std::chrono::steady_clock::time_point start_, last_{};
  bool shown_ = false;
};

uint64_t SizeOf(const Json& f) {
  return f.contains("size") && f["size"].is_number() ? f["size"].get<uint64_t>() : 0;
}

// --- workspace commands ---

int CmdInit(const std::vector<std::string>& a) {
  Args args(a, {"name", "dir", "port"}, {});
  fs::path dir = fs::absolute(args.Get("dir", fs::current_path().string()));
  fs::path cfg_path = dir / ".trainyard" / "config.json";
  if (fs::exists(cfg_path)) {
    std::cout << "workspace already initialized: " << cfg_path.string() << "\n";
    return 0;
  }
  std::string name = args.Get("name");
  if (name.empty()) {
    for (char c : dir.filename().string()) {
      name.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-');
    }
    if (name.empty() || !std::isalnum(static_cast<unsigned char>(name[0]))) name = "ws" + name;
  }
  ValidateName("workspace name", name);
  int port = args.GetInt("port", 0);
  if (port < 0 || port > 65535) throw InvalidInput("--port must be 0-65535");
  WorkspaceConfig cfg;
  cfg.name = name;
  cfg.token = RandomHex(24);
  cfg.data_dir = (dir / ".trainyard").string();
  cfg.server_url = "http://127.0.0.1:" + std::to_string(port ? port : FreePort());
  cfg.Save(cfg_path);
  // Keep the workspace store out of the user's git status.
  WriteFileAtomic(dir / ".trainyard" / ".gitignore", "*\n");
  std::cout << "initialized workspace '" << name << "' in " << cfg.data_dir
            << "\nnext: trainyard up\n";
  return 0;
}

int CmdUp(const std::vector<std::string>& a) {
  Args args(a, {"dir", "max-concurrent-runs"}, {});
  Workspace ws = LoadWorkspace(args.Get("dir"));
  if (Healthy(ws.cfg.server_url)) {
    std::cout << "server already running at " << ws.cfg.server_url
              << "\nstudio: " << ws.cfg.server_url << "/ (`trainyard ui` prints a login link)\n";
    try {
      Json h = HttpClient(ws.cfg.server_url, "").Request("GET", "/healthz").Json();
      if (h.value("build", "") != BuildId() || h.value("version", "") != TRAINYARD_VERSION) {
        std::cerr << "trainyard: warning: the running server is another build of trainyard ("
                  << h.value("version", "?") << ", build " << h.value("build", "?")
                  << ") than this one (" << TRAINYARD_VERSION << ", build " << BuildId()
                  << "); restart it with `trainyard down && trainyard up`\n";
      }
    } catch (const std::exception&) {
    }
    return 0;
  }
  std::string exe = SelfExe().string();
  std::vector<std::string> argv = {exe, "server", "--data", ws.cfg.data_dir};
  if (args.Has("max-concurrent-runs")) {
    argv.push_back("--max-concurrent-runs");
    argv.push_back(args.Get("max-concurrent-runs"));
  }
  std::string log = (fs::path(ws.cfg.data_dir) / "server.log").string();
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  pid_t pid = SpawnDetached(argv, env, log);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Healthy(ws.cfg.server_url)) {
      std::cout << "server started at " << ws.cfg.server_url << " (pid " << pid << ", log " << log
                << ")\nstudio: " << ws.cfg.server_url << "/ (`trainyard ui` prints a login link)\n";
      return 0;
    }
    if (::kill(pid, 0) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw InternalError("the server did not come up; see " + log);
}

int ServerPid(const Workspace& ws) {
  try {
    return std::stoi(ReadFile(fs::path(ws.cfg.data_dir) / "server.pid"));
  } catch (const std::exception&) {
    return 0;
  }
}

int CmdDown(const std::vector<std::string>& a) {
  Args args(a, {"dir"}, {});
  Workspace ws = LoadWorkspace(args.Get("dir"));
  int pid = ServerPid(ws);
  if (pid <= 0 || ::kill(pid, SIGTERM) != 0) {
    std::cout << "server is not running\n";
    return 0;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cout << "server stopped\n";
  return 0;
}

int CmdStatus(const std::vector<std::string>& a) {
  Args args(a, {"dir"}, {"json"});
  Workspace ws = LoadWorkspace(args.Get("dir"));
  bool up = Healthy(ws.cfg.server_url);
  Json out = {{"workspace", ws.cfg.name},
              {"server_url", ws.cfg.server_url},
              {"data_dir", ws.cfg.data_dir},
              {"running", up}};
  if (up) {
    HttpClient c(ws.cfg.server_url, ws.cfg.token);
    Json exps = c.Call("GET", "/api/v1/experiments")["experiments"];
    out["experiments"] = exps.size();
  }
  if (args.Has("json")) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "workspace  " << ws.cfg.name << "\nserver     " << ws.cfg.server_url
              << (up ? " (running)" : " (not running; start it with `trainyard up`)")
              << "\ndata       " << ws.cfg.data_dir << "\n";
  }
  return up ? 0 : 1;
}

int CmdServer(const std::vector<std::string>& a) {
  Args args(a,
            {"data", "host", "port", "max-concurrent-runs", "name", "agent-node-dir", "agent-user",
             "slurm-conf", "slurm-bin-dir", "slurm-vm-sizes", "containers-config"},
            {});
  ServerOptions o;
  o.data_dir = args.Get("data");
  if (o.data_dir.empty()) {
    auto path = FindWorkspaceConfig(fs::current_path());
    if (!path) throw InvalidInput("--data DIR is required outside a workspace");
    o.data_dir = path->parent_path().string();
  }
  o.host = args.Get("host", "127.0.0.1");
  o.port = args.GetInt("port", -1);
  o.max_concurrent_runs = args.GetInt("max-concurrent-runs", 0);
  o.name = args.Get("name");
  o.agent_node_dir = args.Get("agent-node-dir");
  o.agent_user = args.Get("agent-user");
  o.slurm_conf = args.Get("slurm-conf");
  o.slurm_bin_dir = args.Get("slurm-bin-dir");
  o.slurm_vm_sizes = args.Get("slurm-vm-sizes");
  o.containers_config = args.Get("containers-config");
  return RunServer(o);
}

int CmdAgent(const std::vector<std::string>& a) {
  Args args(a, {"run", "server", "data", "node-dir", "run-dir", "reason"}, {"recover"});
  AgentOptions o;
  o.run_id = args.Get("run");
  o.server_url = args.Get("server");
  o.data_dir = args.Get("data");
  o.node_dir = args.Get("node-dir");
  o.run_dir = args.Get("run-dir");
  o.recover = args.Has("recover");
  o.reason = args.Get("reason");
  const char* tok = std::getenv("TRAINYARD_TOKEN");
  o.token = tok ? tok : "";
  if (o.run_id.empty() || o.server_url.empty() || o.token.empty()) {
    throw InvalidInput(
        "usage: trainyard agent --run ID --server URL [--data DIR | --node-dir DIR] "
        "[--run-dir DIR] [--recover [--reason TEXT]], with the run's token (or the workspace "
        "token) in TRAINYARD_TOKEN");
  }
  if (!o.data_dir.empty() && !o.node_dir.empty()) {
    throw InvalidInput(
        "agent: --data (the server's data dir on this machine) and --node-dir (a node cache "
        "for an HTTP-only agent) exclude each other; give one");
  }
  if (args.Has("reason") && !o.recover) throw InvalidInput("agent: --reason goes with --recover");
  ValidateRunId("--run", o.run_id);
  return RunAgent(o);
}

// --- client commands ---

struct Client {
  Workspace ws;
  HttpClient http;
  Client() : ws(LoadWorkspace("")), http(ws.cfg.server_url, ws.cfg.token) {}
};

std::string RunUrl(const std::string& id) {
  ValidateRunId("run id", id);
  return "/api/v1/runs/" + UrlEncode(id, false);
}

int CmdRun(const std::vector<std::string>& a) {
  if (a.empty()) throw InvalidInput("usage: trainyard run list|show|logs|download|cancel ...");
  std::string sub = a[0];
  std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("run", sub, {"list", "show", "logs", "download", "submit", "cancel"});
  Client c;
  if (sub == "list") {
    // Pages through the server's cursor (page by page, printed as they come).
    Args args(rest, {"experiment", "status", "limit", "filter", "order-by", "page-size", "parent"},
              {"json", "count", "all"});
    std::vector<std::string> bases;
    if (args.Has("parent")) {
      bases.push_back(RunUrl(args.Get("parent")) + "/children");
    } else if (args.Has("experiment")) {
      bases.push_back("/api/v1/experiments/" + UrlEncode(args.Get("experiment"), false) + "/runs");
    } else {
      Json all = c.http.Call("GET", "/api/v1/experiments");
      for (auto& e : all["experiments"]) {
        bases.push_back("/api/v1/experiments/" + UrlEncode(e["name"].get<std::string>(), false) +
                        "/runs");
      }
    }
    const int limit = args.GetInt("limit", 0);
    if (limit < 0) throw InvalidInput("--limit must be >= 0 (0 = no limit)");
    int page_size = args.GetInt("page-size", 100);
    if (page_size < 1 || page_size > 10000) throw InvalidInput("--page-size must be 1..10000");
    if (limit > 0) page_size = std::min(page_size, limit);
    std::string common = "page_size=" + std::to_string(page_size);
    if (args.Has("status")) common += "&status=" + UrlEncode(args.Get("status"), false);
    if (args.Has("filter")) common += "&filter=" + UrlEncode(args.Get("filter"), false);
    if (args.Has("order-by")) common += "&order_by=" + UrlEncode(args.Get("order-by"), false);
    if (args.Has("all")) common += "&include_children=true";
    bool json = args.Has("json");
    int printed = 0;
    int64_t total = 0;
    bool have_total = false;
    if (json) std::cout << "[";
    std::vector<std::vector<std::string>> rows;
    // One listing per base (experiment, or the parent's children), each newest first. Across
    // experiments (no --experiment/--parent, no --order-by) they are merged newest first and
    // --limit applies to the merged listing; otherwise they follow each other.
    struct Source {
      std::string base, cursor;
      Json runs = Json::array();
      size_t next = 0;
      bool done = false;
      bool first = true;
    };
    std::vector<Source> sources;
    for (auto& base : bases) sources.push_back({base});
    auto refill = [&](Source& s) {
      while (!s.done && s.next >= s.runs.size()) {
        std::string q = s.base + "?" + common;
        if (s.first && args.Has("count")) q += "&count=true";
        if (!s.cursor.empty()) q += "&cursor=" + UrlEncode(s.cursor, false);
        Json page = c.http.Call("GET", q);
        if (page.contains("total")) {
          total += page["total"].get<int64_t>();
          have_total = true;
        }
        s.first = false;
        s.runs = page["runs"];
        s.next = 0;
        if (page["next_cursor"].is_null()) {
          s.done = true;
        } else {
          s.cursor = page["next_cursor"].get<std::string>();
        }
      }
      return s.next < s.runs.size();
    };
    const bool merge = !args.Has("parent") && !args.Has("experiment") && !args.Has("order-by");
    size_t current = 0;
    while (limit == 0 || printed < limit) {
      Source* pick = nullptr;
      if (merge) {
        for (auto& s : sources) {
          if (!refill(s)) continue;
          if (pick == nullptr ||
              Str(s.runs[s.next], "created_utc") > Str(pick->runs[pick->next], "created_utc")) {
            pick = &s;
          }
        }
      } else {
        while (current < sources.size() && !refill(sources[current])) ++current;
        if (current < sources.size()) pick = &sources[current];
      }
      if (pick == nullptr) break;
      const Json& r = pick->runs[pick->next++];
      if (json) {
        std::cout << (printed ? ",\n" : "\n") << r.dump(2);
      } else {
        rows.push_back({Str(r, "id"), Str(r, "experiment"), Str(r, "number"), Str(r, "status"),
                        Str(r, "created_utc"), Str(r, "script")});
      }
      ++printed;
      if (!json && rows.size() >= 1000) {  // print long listings in blocks
        PrintTable({"RUN ID", "EXPERIMENT", "NUMBER", "STATUS", "CREATED", "SCRIPT"}, rows);
        rows.clear();
      }
    }
    if (json) {
      std::cout << (printed ? "\n]\n" : "]\n");
      if (have_total) std::cerr << "total: " << total << "\n";
      return 0;
    }
    if (!rows.empty() || printed == 0) {
      PrintTable({"RUN ID", "EXPERIMENT", "NUMBER", "STATUS", "CREATED", "SCRIPT"}, rows);
    }
    if (have_total) std::cout << "total: " << total << "\n";
    return 0;
  }
  if (sub == "show") {
    Args args(rest, {}, {"json"});
    Json r = c.http.Call("GET", RunUrl(args.Positional(0, "run id")));
    if (args.Has("json")) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    Json m = c.http.Call("GET", RunUrl(r["id"]) + "/metrics")["metrics"];
    std::cout << "run         " << Str(r, "id") << "\nexperiment  " << Str(r, "experiment")
              << "\nstatus      " << Str(r, "status") << "\nstarted     "
              << Str(r, "start_time_utc") << "\nended       " << Str(r, "end_time_utc")
              << "\nscript      " << Str(r, "script") << "\nportal      " << Str(r, "portal_url")
              << "\n";
    if (!r["error"].is_null()) std::cout << "error       " << Str(r["error"], "message") << "\n";
    if (r["properties"].contains("slurm.job_id")) {
      std::cout << "target      " << Str(r, "compute_target") << " (Slurm job "
                << Str(r["properties"], "slurm.job_id") << ", partition "
                << Str(r["properties"], "slurm.partition") << ")\n"
                << "slurm       " << Str(r["tags"], "slurm.state")
                << (Str(r["tags"], "slurm.reason").empty()
                        ? ""
                        : " (" + Str(r["tags"], "slurm.reason") + ")")
                << ", nodes " << Str(r["tags"], "slurm.nodes") << "\n";
    }
    if (r["properties"].contains("trainyard.container_image")) {
      std::cout << "container   " << Str(r["properties"], "trainyard.container_image") << "@"
                << Str(r["properties"], "trainyard.container_image_digest") << "\n";
    }
    if (!m.empty()) {
      std::cout << "metrics\n";
      for (auto& [k, v] : m.items()) std::cout << "  " << k << " = " << v.dump() << "\n";
    }
    return 0;
  }
  if (sub == "logs") {
    Args args(rest, {"name"}, {"f", "follow"});
    std::string id = args.Positional(0, "run id");
    bool follow = args.Has("f") || args.Has("follow");
    std::string name = args.Get("name", "azureml-logs/70_driver_log.txt");
    uint64_t offset = 0;
    for (;;) {
      std::string q = RunUrl(id) + "/logs/" + UrlEncode(name, true) +
                      "?offset=" + std::to_string(offset) + (follow ? "&wait_ms=20000" : "");
      ClientResponse r = c.http.Request("GET", q);
      if (r.status == 404 && r.body.find("NotFound") != std::string::npos) ThrowHttpError(r);
      if (r.status / 100 != 2) ThrowHttpError(r);
      std::cout << r.body << std::flush;
      offset += r.body.size();
      std::string status = r.headers["x-run-status"];
      uint64_t size = std::stoull(r.headers.count("x-log-size") ? r.headers["x-log-size"] : "0");
      if (!follow) return 0;
      if ((status == "Completed" || status == "Failed" || status == "Canceled") && offset >= size) {
        return 0;
      }
    }
  }
  if (sub == "download") {
    Args args(rest, {"prefix", "dest"}, {});
    std::string id = args.Positional(0, "run id");
    fs::path dest = args.Get("dest", ".");
    std::string prefix = args.Get("prefix");
    int n = 0;
    Json listing = c.http.Call("GET", RunUrl(id) + "/artifacts");
    Json wanted = Json::array();
    uint64_t total = 0;
    for (auto& f : listing["files"]) {
      std::string path = f["path"];
      if (!prefix.empty() && path.rfind(prefix, 0) != 0) continue;
      ValidateRelativePath("artifact path", path);
      total += SizeOf(f);
      wanted.push_back(f);
    }
    Progress progress("downloading", wanted.size(), total);
    for (auto& f : wanted) {
      std::string path = f["path"];
      ClientResponse r = c.http.DownloadToFile(RunUrl(id) + "/artifacts/" + UrlEncode(path, true),
                                               (dest / path).string());
      if (r.status / 100 != 2) ThrowHttpError(r);
      progress.Step(SizeOf(f));
      ++n;
    }
    std::cout << "downloaded " << n << " file(s) to " << dest.string() << "\n";
    return 0;
  }
  if (sub == "submit") {
    Args args(rest,
              {"experiment", "source-dir", "script", "command", "conda-file", "pip-requirements",
               "compute-target", "python", "max-duration"},
              {"wait", "json"});
    std::string exp = args.Get("experiment");
    if (exp.empty()) throw InvalidInput("--experiment NAME is required");
    ValidateName("experiment name", exp);
    Json cfg = {{"source_directory", fs::absolute(args.Get("source-dir", ".")).string()},
                {"arguments", args.rest()},
                {"compute_target", args.Get("compute-target", "local")}};
    if (args.Has("script")) cfg["script"] = args.Get("script");
    if (args.Has("command")) cfg["command"] = args.Get("command");
    if (args.Has("max-duration")) cfg["max_run_duration_seconds"] = args.GetInt("max-duration", 0);
    if (args.Has("conda-file")) {
      cfg["environment"] =
          EnvSpec::FromCondaYaml(ReadFile(args.Get("conda-file")), "cli-env").ToJson();
    } else if (args.Has("pip-requirements")) {
      cfg["environment"] = {{"name", "cli-env"},
                            {"pip_requirements", ReadFile(args.Get("pip-requirements"))}};
    } else if (args.Has("python")) {
      cfg["environment"] = {
          {"name", "cli-env"},
          {"python",
           {{"user_managed_dependencies", true}, {"interpreter_path", args.Get("python")}}}};
    }
    Json r = c.http.Call("POST", "/api/v1/experiments/" + exp + "/runs",
                         {{"kind", "script"}, {"config", cfg}});
    std::string id = r["id"];
    if (r.contains("properties") && r["properties"].contains("environment_warning")) {
      std::cerr << "Warning: " << Str(r["properties"], "environment_warning") << "\n";
    }
    if (args.Has("wait")) {
      std::string status = r["status"];
      while (status != "Completed" && status != "Failed" && status != "Canceled") {
        r = c.http.Call("GET", RunUrl(id) + "?wait_ms=30000&status=" + status);
        status = r["status"];
      }
    }
    if (args.Has("json")) {
      std::cout << r.dump(2) << "\n";
    } else {
      std::cout << id << ": " << Str(r, "status") << "\n";
    }
    return Str(r, "status") == "Failed" ? 1 : 0;
  }
  if (sub == "cancel") {
    Args args(rest, {}, {});
    Json r = c.http.Call("POST", RunUrl(args.Positional(0, "run id")) + "/cancel");
    std::cout << Str(r, "id") << ": " << Str(r, "status") << "\n";
    return 0;
  }
  throw InvalidInput("unknown run command '" + sub +
                     "'; use list, show, logs, download, cancel, submit");
}

std::string ModelUrl(const std::string& spec) {
  auto colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  ValidateName("model name", name);
  if (colon == std::string::npos) return "/api/v1/models/" + name;
  return "/api/v1/models/" + name + "/versions/" + UrlEncode(spec.substr(colon + 1), false);
}

int CmdModel(const std::vector<std::string>& a) {
  if (a.empty()) throw InvalidInput("usage: trainyard model list|show|download ...");
  std::string sub = a[0];
  std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("model", sub, {"list", "show", "download", "register"});
  Client c;
  if (sub == "list") {
    Args args(rest, {"name"}, {"json", "latest"});
    std::string q = "/api/v1/models?name=" + UrlEncode(args.Get("name"), false) +
                    (args.Has("latest") ? "&latest=true" : "");
    Json models = c.http.Call("GET", q)["models"];
    if (args.Has("json")) {
      std::cout << models.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& m : models) {
      rows.push_back({Str(m, "name"), Str(m, "version"), Str(m, "model_framework"),
                      Str(m, "run_id"), Str(m, "created_utc")});
    }
    PrintTable({"NAME", "VERSION", "FRAMEWORK", "RUN", "CREATED"}, rows);
    return 0;
  }
  if (sub == "show") {
    Args args(rest, {}, {"json"});
    std::cout << c.http.Call("GET", ModelUrl(args.Positional(0, "model NAME[:VERSION]"))).dump(2)
              << "\n";
    return 0;
  }
  if (sub == "download") {
    Args args(rest, {"dest"}, {});
    Json m = c.http.Call("GET", ModelUrl(args.Positional(0, "model NAME[:VERSION]")));
    fs::path dest = args.Get("dest", ".");
    uint64_t total = 0;
    for (auto& f : m["files"]) total += SizeOf(f);
    Progress progress("downloading", m["files"].size(), total);
    for (auto& f : m["files"]) {
      std::string path = ValidateRelativePath("model file", f["path"].get<std::string>());
      ClientResponse r = c.http.DownloadToFile("/api/v1/blobs/" + f["sha256"].get<std::string>(),
                                               (dest / path).string());
      if (r.status / 100 != 2) ThrowHttpError(r);
      progress.Step(SizeOf(f));
    }
    std::cout << (dest / Str(m, "path")).string() << "\n";
    return 0;
  }
  if (sub == "register") {
    Args args(rest, {"name", "path", "framework", "framework-version", "description"}, {"json"});
    std::string name = args.Get("name");
    ValidateName("model name", name);
    fs::path root = fs::absolute(args.Get("path"));
    if (args.Get("path").empty() || !fs::exists(root)) {
      throw InvalidInput("--path must name an existing model file or folder");
    }
    while (root.filename().empty() && root.has_parent_path() && root != root.parent_path()) {
      root = root.parent_path();
    }
    // Hash every file, upload the blobs the server lacks, then register the manifest.
    std::vector<std::pair<std::string, fs::path>> files;  // model-relative path, local path
    if (fs::is_directory(root)) {
      for (auto& e : fs::recursive_directory_iterator(root)) {
        if (e.is_regular_file()) {
          files.emplace_back((root.filename() / fs::relative(e.path(), root)).string(), e.path());
        }
      }
    } else {
      files.emplace_back(root.filename().string(), root);
    }
    if (files.empty()) throw InvalidInput("--path '" + root.string() + "' holds no files");
    Json manifest = Json::array(), shas = Json::array();
    uint64_t total = 0;
    for (auto& [rel, local] : files) {
      ValidateRelativePath("model file", rel);
      std::ifstream in(local, std::ios::binary);
      if (!in) throw NotFound("cannot read " + local.string());
      Sha256 hash;
      uint64_t size = 0;
      char buf[1 << 16];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        hash.Update(buf, static_cast<size_t>(in.gcount()));
        size += static_cast<uint64_t>(in.gcount());
      }
      std::string sha = hash.FinalHex();
      manifest.push_back({{"path", rel}, {"sha256", sha}, {"size", size}});
      shas.push_back(sha);
      total += size;
    }
    Json missing = c.http.Call("POST", "/api/v1/blobs/missing", {{"sha256", shas}})["missing"];
    std::set<std::string> need(missing.begin(), missing.end());
    Progress progress("uploading", need.size(), total);
    for (size_t i = 0; i < files.size(); ++i) {
      std::string sha = manifest[i]["sha256"];
      if (!need.erase(sha)) continue;
      ClientResponse r = c.http.UploadFile("PUT", "/api/v1/blobs/" + sha, files[i].second.string());
      if (r.status / 100 != 2) ThrowHttpError(r);
      progress.Step(SizeOf(manifest[i]));
    }
    Json body = {{"name", name},
                 {"files", manifest},
                 {"path", root.filename().string()},
                 {"description", args.Get("description")}};
    if (args.Has("framework")) body["model_framework"] = args.Get("framework");
    if (args.Has("framework-version"))
      body["model_framework_version"] = args.Get("framework-version");
    Json m = c.http.Call("POST", "/api/v1/models", body);
    if (args.Has("json")) {
      std::cout << m.dump(2) << "\n";
    } else {
      std::cout << "registered " << Str(m, "id") << "\n";
    }
    return 0;
  }
  throw InvalidInput("unknown model command '" + sub + "'; use list, show, download, register");
}

int CmdExperiment(const std::vector<std::string>& a) {
  Args args(a.empty() ? a : std::vector<std::string>(a.begin() + 1, a.end()), {}, {"json"});
  if (a.empty()) throw InvalidInput("usage: trainyard experiment list [--json]");
  RequireSubcommand("experiment", a[0], {"list"});
  Client c;
  Json exps = c.http.Call("GET", "/api/v1/experiments")["experiments"];
  if (args.Has("json")) {
    std::cout << exps.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& e : exps) rows.push_back({Str(e, "name"), Str(e, "created_utc")});
  PrintTable({"EXPERIMENT", "CREATED"}, rows);
  return 0;
}

}  // namespace

int Dispatch(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage << "\n" << kDataUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "trainyard " << TRAINYARD_VERSION << " (build " << BuildId() << ")\n";
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& cmd = args[0];
  RequireSubcommand("", cmd,
                    {"init",  "up",      "down",    "ui",         "status",  "server",
                     "agent", "run",     "model",   "experiment", "dataset", "datastore",
                     "env",   "service", "compute", "automl",     "serve",   "debug-seed-runs",
                     "help",  "version"});
  if (cmd == "init") return CmdInit(rest);
  if (cmd == "up") return CmdUp(rest);
  if (cmd == "down") return CmdDown(rest);
  if (cmd == "ui") return CmdUi(rest);
  if (cmd == "status") return CmdStatus(rest);
  if (cmd == "server") return CmdServer(rest);
  if (cmd == "agent") return CmdAgent(rest);
  if (cmd == "debug-seed-runs") return CmdDebugSeedRuns(rest);
  if (cmd == "run") return CmdRun(rest);
  if (cmd == "model") return CmdModel(rest);
  if (cmd == "experiment") return CmdExperiment(rest);
  if (cmd == "dataset" || cmd == "datastore" || cmd == "env") return DispatchData(cmd, rest);
  if (cmd == "service") return CmdService(rest);
  if (cmd == "compute") return CmdCompute(rest);
  if (cmd == "automl") return CmdAutoml(rest);
  if (cmd == "serve") return CmdServe(rest);
  throw InvalidInput("unknown command '" + cmd + "'; run `trainyard --help`");
}

}  // namespace trainyard::cli
