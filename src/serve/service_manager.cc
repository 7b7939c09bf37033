#include "serve/service_manager.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/validation.h"
#include "net/http_client.h"
#include "runner/run_environment.h"
#include "runner/submission.h"
#include "serve/service_keys.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kServeLog = "service.log";

bool PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    ThrowErrno("finding a free port for the service");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

Json ReadJsonFile(const fs::path& p) {
  try {
    return Json::parse(ReadFile(p));
  } catch (const std::exception&) {
    return Json();
  }
}

bool ProcessIsFront(pid_t pid, const fs::path& dir) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmd.find("serve") != std::string::npos && cmd.find(dir.string()) != std::string::npos;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double PositiveNumber(const Json& cfg, const char* key, double def) {
  if (!cfg.contains(key) || cfg[key].is_null()) return def;
  if (!cfg[key].is_number() || cfg[key].get<double>() <= 0) {
    throw InvalidInput(std::string("deployment_config.") + key + " must be a positive number");
  }
  return cfg[key].get<double>();
}

int64_t IntInRange(const Json& cfg, const char* key, int64_t def, int64_t lo, int64_t hi) {
  if (!cfg.contains(key) || cfg[key].is_null()) return def;
  if (!cfg[key].is_number_integer() || cfg[key].get<int64_t>() < lo ||
      cfg[key].get<int64_t>() > hi) {
    throw InvalidInput(std::string("deployment_config.") + key + " must be an integer from " +
                       std::to_string(lo) + " to " + std::to_string(hi));
  }
  return cfg[key].get<int64_t>();
}

Json StringMap(const Json& in, const char* what) {
  if (in.is_null()) return Json::object();
  if (!in.is_object()) throw InvalidInput(std::string(what) + " must be a JSON object");
  Json out = Json::object();
  for (auto& [k, v] : in.items()) {
    ValidateKey(what, k);
    out[k] = v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump();
  }
  return out;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// A front that did not come up: kind "Failed" (it reported a failed scorer start) or
// "Crashed" (it exited without a report).
class ScorerStartFailure : public std::runtime_error {
 public:
  ScorerStartFailure(std::string kind, Json error)
      : std::runtime_error(error.value("message", "")),
        kind(std::move(kind)),
        error(std::move(error)) {}
  std::string kind;
  Json error;
};

}  // namespace

void ValidateServiceName(std::string_view name) {
  bool ok = name.size() >= 3 && name.size() <= 32 && name.front() >= 'a' && name.front() <= 'z' &&
            name.back() != '-';
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) ok = false;
  }
  if (!ok) {
    throw InvalidInput("service name '" + std::string(name) +
                           "' is invalid: use 3 to 32 characters of lowercase letters, digits "
                           "and '-', starting with a letter and not ending with '-'",
                       "InvalidServiceName");
  }
}

struct ServiceManager::Live {
  pid_t pid = -1;
  std::thread op;
  std::atomic<bool> op_running{false};
  int restarts = 0;
  bool down = false;
  Clock::time_point restart_at{};
  Clock::time_point healthy_since{};
};

ServiceManager::ServiceManager(ServiceManagerOptions opts, MetadataStore& store, BlobStore& blobs)
    : opts_(std::move(opts)), store_(store), blobs_(blobs) {}

ServiceManager::~ServiceManager() { Stop(); }

fs::path ServiceManager::Dir(const std::string& name) const {
  return opts_.data_dir / "services" / name;
}

ServiceRecord ServiceManager::Require(const std::string& name) {
  ValidateServiceName(name);
  auto r = store_.GetService(name);
  if (!r) throw NotFound("service '" + name + "' not found");
  return *r;
}

void ServiceManager::AppendLog(const std::string& name, std::string_view text) {
  std::error_code ec;
  fs::create_directories(Dir(name), ec);
  std::ofstream out(Dir(name) / kServeLog, std::ios::app | std::ios::binary);
  out << text;
}

Json ServiceManager::ToJson(const ServiceRecord& r) {
  const Json& spec = r.spec;
  const Json dc = spec.value("deployment_config", Json::object());
  std::string base = "http://127.0.0.1:" + std::to_string(r.port);
  Json models = Json::array();
  for (auto& m : spec.value("models", Json::array())) {
    models.push_back(
        {{"name", m["name"]},
         {"version", m["version"]},
         {"id", m["name"].get<std::string>() + ":" + std::to_string(m["version"].get<int64_t>())}});
  }
  pid_t pid = -1;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(r.name); it != live_.end()) pid = it->second->pid;
  }
  return {{"name", r.name},
          {"state", r.state},
          {"error", r.error},
          {"scoring_uri", base + "/score"},
          {"swagger_uri", base + "/swagger.json"},
          {"port", r.port},
          {"compute_type", dc.value("compute_type", "ACI")},
          {"auth_enabled", dc.value("auth_enabled", false)},
          {"created_utc", FormatIsoTime(r.created)},
          {"updated_utc", FormatIsoTime(r.updated)},
          {"generation", r.generation},
          {"models", models},
          {"no_code", spec.value("no_code", false)},
          {"scorer", spec.value("scorer", "python")},
          {"tags", dc.value("tags", Json::object())},
          {"properties", dc.value("properties", Json::object())},
          {"description", dc.value("description", "")},
          {"deployment_config", dc},
          {"inference_config", spec.value("inference_config", Json())},
          {"last_operation", spec.value("last_operation", Json())},
          {"pid", pid > 0 ? Json(pid) : Json()}};
}

Json ServiceManager::BuildSpec(const Json& body, const Json* base) {
  if (!body.is_object()) throw InvalidInput("request body must be a JSON object");
  Json spec = base ? *base : Json::object();
  // Models: [{"name", "version"?}] resolved to registered versions.
  if (body.contains("models") || !base) {
    const Json& ms = body.value("models", Json());
    if (!ms.is_array() || ms.empty()) {
      throw InvalidInput(
          "'models' must list at least one registered model ({\"name\", \"version\"})");
    }
    Json resolved = Json::array();
    for (auto& m : ms) {
      std::string mname = m.is_string() ? m.get<std::string>() : m.value("name", "");
      ValidateName("models[].name", mname);
      int64_t version = 0;
      if (m.is_object() && m.contains("version") && !m["version"].is_null()) {
        if (!m["version"].is_number_integer() || m["version"].get<int64_t>() <= 0) {
          throw InvalidInput("models[].version must be a positive integer");
        }
        version = m["version"];
      }
      auto rec = store_.GetModel(mname, version);
      if (!rec) {
        throw NotFound("model '" + mname + "'" +
                       (version ? " version " + std::to_string(version) : std::string()) +
                       " is not registered in this workspace");
      }
      resolved.push_back({{"name", rec->name},
                          {"version", rec->version},
                          {"framework", rec->framework},
                          {"path", rec->path},
                          {"files", rec->files}});
    }
    spec["models"] = resolved;
  }
  // Deployment configuration.
  if (body.contains("deployment_config") || !base) {
    Json in = body.value("deployment_config", Json::object());
    if (in.is_null()) in = Json::object();
    if (!in.is_object()) throw InvalidInput("'deployment_config' must be a JSON object");
    Json old = spec.value("deployment_config", Json::object());
    for (auto& [k, v] : in.items()) old[k] = v;  // an update changes only what it names
    Json dc = Json::object();
    std::string ct = old.value("compute_type", "ACI");
    if (ct != "ACI" && ct != "Local") {
      throw InvalidInput("deployment_config.compute_type must be 'ACI' or 'Local'");
    }
    dc["compute_type"] = ct;
    dc["cpu_cores"] = PositiveNumber(old, "cpu_cores", 0.1);
    dc["memory_gb"] = PositiveNumber(old, "memory_gb", 0.5);
    if (old.contains("auth_enabled") && !old["auth_enabled"].is_null() &&
        !old["auth_enabled"].is_boolean()) {
      throw InvalidInput("deployment_config.auth_enabled must be true or false");
    }
    dc["auth_enabled"] = old.value("auth_enabled", false) == true;
    dc["workers"] = IntInRange(old, "workers", 1, 1, 64);
    dc["scoring_timeout_ms"] = IntInRange(old, "scoring_timeout_ms", 60000, 1, 3600000);
    dc["max_request_bytes"] =
        IntInRange(old, "max_request_bytes", 100ll << 20, 1, int64_t{1} << 30);
    dc["port"] = IntInRange(old, "port", 0, 0, 65535);
    dc["tags"] = StringMap(old.value("tags", Json()), "deployment_config.tags");
    dc["properties"] = StringMap(old.value("properties", Json()), "deployment_config.properties");
    dc["description"] = old.value("description", Json("")).is_string()
                            ? old.value("description", std::string())
                            : std::string();
    for (const char* k : {"input_example", "output_example"}) {
      if (old.contains(k)) dc[k] = old[k];
    }
    spec["deployment_config"] = dc;
  }
  // Inference configuration: entry script + source directory + environment; none = no-code.
  if (body.contains("inference_config") || !base) {
    const Json& ic = body.value("inference_config", Json());
    if (ic.is_null()) {
      spec["inference_config"] = nullptr;
    } else {
      if (!ic.is_object()) throw InvalidInput("'inference_config' must be a JSON object");
      std::string entry = ic.value("entry_script", Json("")).is_string()
                              ? ic.value("entry_script", std::string())
                              : std::string();
      if (entry.empty()) throw InvalidInput("inference_config.entry_script is required");
      entry = ValidateRelativePath("inference_config.entry_script", entry);
      std::string src = ic.value("source_directory", Json("")).is_string()
                            ? ic.value("source_directory", std::string())
                            : std::string();
      if (src.empty() || !fs::path(src).is_absolute() || !fs::is_directory(src)) {
        throw InvalidInput(
            "inference_config.source_directory must be an existing absolute "
            "directory (got '" +
            src + "')");
      }
      if (!fs::is_regular_file(fs::path(src) / entry)) {
        throw InvalidInput("entry script '" + entry + "' not found in source directory " + src,
                           "EntryScriptNotFound");
      }
      Json env = ValidateEnvironmentSpec(ic.value("environment", Json()));
      SnapshotRef snap = SnapshotDirectory(Json(src), blobs_, SubmissionLimits{});
      spec["inference_config"] = {{"entry_script", entry},
                                  {"source_directory", src},
                                  {"snapshot_id", snap.snapshot_id},
                                  {"environment", env}};
    }
  }
  // Which scorer.
  const Json& ic = spec["inference_config"];
  spec["no_code"] = ic.is_null();
  spec["scorer"] = "python";
  if (ic.is_null()) {
    if (spec["models"].size() != 1) {
      throw InvalidInput(
          "no-code deployment takes exactly one model; for several models pass an "
          "InferenceConfig(entry_script=..., environment=...)",
          "NoCodeDeploymentUnsupported");
    }
    const Json& m = spec["models"][0];
    std::string fw = Lower(m.value("framework", ""));
    if (fw == "xgboost") {
      spec["scorer"] = "xgboost";
    } else if (fw != "scikitlearn") {
      throw InvalidInput(
          "model '" + m["name"].get<std::string>() + "' was registered with model_framework=" +
              (fw.empty() ? std::string("None") : m.value("framework", "")) +
              "; no-code deployment needs a model registered with "
              "model_framework=Model.Framework.SCIKITLEARN (or XGBoost). Otherwise pass an "
              "InferenceConfig(entry_script='score.py', environment=env) with init() and run().",
          "NoCodeDeploymentUnsupported");
    }
  }
  return spec;
}

Json ServiceManager::Deploy(const Json& body) {
  if (!body.is_object()) throw InvalidInput("request body must be a JSON object");
  std::string name = body.value("name", Json("")).is_string() ? body.value("name", "") : "";
  ValidateServiceName(name);
  bool overwrite = body.value("overwrite", false) == true;
  Json spec = BuildSpec(body, nullptr);
  auto existing = store_.GetService(name);
  if (existing && !overwrite) {
    throw Conflict("a service named '" + name +
                   "' already exists; pass overwrite=True to replace it, or use service.update()");
  }
  int port = static_cast<int>(spec["deployment_config"]["port"].get<int64_t>());
  if (existing && port == 0) port = existing->port;  // keep the scoring URI stable
  if (existing) {
    {
      std::lock_guard lk(mu_);
      auto it = live_.find(name);
      if (it != live_.end() && it->second->op_running) {
        throw Conflict("service '" + name +
                       "' is Transitioning; wait for the current operation to finish");
      }
    }
    Delete(name);
  }
  if (port == 0) {
    port = PickFreePort();
  } else if (!PortFree(port)) {
    throw Conflict("port " + std::to_string(port) +
                   " is in use; choose another port in the deployment configuration");
  }
  ServiceRecord r;
  r.name = name;
  r.created = r.updated = NowMillis();
  r.state = "Transitioning";
  r.spec = spec;
  r.spec["last_operation"] = {{"kind", "deploy"}, {"status", "Running"}, {"error", nullptr}};
  r.primary_key = serve::GenerateServiceKey();
  r.secondary_key = serve::GenerateServiceKey();
  r.port = port;
  r.generation = 1;
  store_.PutService(r);
  std::error_code ec;
  fs::remove_all(Dir(name), ec);
  fs::create_directories(Dir(name));
  AppendLog(name, "trainyard: deploying service '" + name + "' (generation 1) on port " +
                      std::to_string(port) + "\n");
  StartOperation(name, "deploy");
  return ToJson(r);
}

Json ServiceManager::Update(const std::string& name, const Json& body) {
  ServiceRecord r = Require(name);
  {
    std::lock_guard lk(mu_);
    auto it = live_.find(name);
    if (it != live_.end() && it->second->op_running) {
      throw Conflict("service '" + name +
                     "' is Transitioning; wait for the current operation to finish");
    }
  }
  if (r.state == "Failed") {
    // Nothing serves: an update is a fresh deployment of the new spec.
  }
  Json spec = BuildSpec(body, &r.spec);
  Json new_dc = spec["deployment_config"];
  if (new_dc["port"].get<int64_t>() != 0 && new_dc["port"].get<int64_t>() != r.port) {
    throw InvalidInput("deployment_config.port cannot change in an update; delete and redeploy");
  }
  spec["previous"] = r.spec;
  spec["previous"].erase("previous");
  spec["last_operation"] = {{"kind", "update"}, {"status", "Running"}, {"error", nullptr}};
  r.spec = spec;
  r.generation += 1;
  r.updated = NowMillis();
  r.state = "Transitioning";
  store_.PutService(r);
  AppendLog(name, "trainyard: updating service '" + name + "' to generation " +
                      std::to_string(r.generation) + "\n");
  StartOperation(name, "update");
  return ToJson(r);
}

void ServiceManager::StartOperation(const std::string& name, const std::string& kind) {
  std::lock_guard lk(mu_);
  if (stopping_) return;
  auto& live = live_[name];
  if (!live) live = std::make_shared<Live>();
  if (live->op.joinable()) live->op.join();  // the previous one has finished (op_running false)
  live->op_running = true;
  live->op = std::thread([this, name, kind, l = live] {
    try {
      RunOperation(name, kind);
    } catch (const std::exception& e) {
      std::cerr << "service " << name << ": " << kind << " failed: " << e.what() << std::endl;
    }
    l->op_running = false;
  });
}

void ServiceManager::SetState(const std::string& name, const std::string& state, const Json& error,
                              const Json* last_operation) {
  auto r = store_.GetService(name);
  if (!r) return;
  r->state = state;
  r->error = error;
  r->updated = NowMillis();
  if (last_operation) r->spec["last_operation"] = *last_operation;
  store_.PutService(*r);
}

Json ServiceManager::Materialize(const ServiceRecord& r,
                                 const std::function<void(std::string_view)>& log) {
  const Json& spec = r.spec;
  fs::path dir = Dir(r.name);
  fs::path gen = dir / ("gen-" + std::to_string(r.generation));
  std::error_code ec;
  fs::remove_all(gen, ec);
  fs::create_directories(gen / "models");
  // Model files: gen/models/<name>/<version>/<files>.
  const Json& models = spec["models"];
  for (auto& m : models) {
    fs::path mdir =
        gen / "models" / m["name"].get<std::string>() / std::to_string(m["version"].get<int64_t>());
    for (auto& f : m["files"]) {
      std::string rel = ValidateRelativePath("model file", f["path"].get<std::string>());
      blobs_.CopyTo(f["sha256"].get<std::string>(), mdir / rel, false);
    }
  }
  log("trainyard: model files materialized in " + (gen / "models").string() + "\n");
  const Json& m0 = models[0];
  fs::path model_dir = models.size() == 1 ? gen / "models" / m0["name"].get<std::string>() /
                                                std::to_string(m0["version"].get<int64_t>())
                                          : gen / "models";
  const Json& dc = spec["deployment_config"];
  Json scorer;
  if (spec.value("scorer", "python") == "xgboost") {
    scorer = {{"kind", "xgboost"},
              {"model_file", (model_dir / m0["path"].get<std::string>()).string()},
              {"nthread", 1}};
    if (fs::is_directory(scorer["model_file"].get<std::string>())) {
      throw InvalidInput(
          "an XGBoost model for no-code deployment must be one model file "
          "(.json, .ubj or .model), not a folder");
    }
  } else {
    const Json& ic = spec["inference_config"];
    Json env_spec;
    std::string entry, source;
    if (ic.is_null()) {
      // The built-in no-code scikit-learn scorer, in an environment with scikit-learn.
      env_spec = {{"name", "trainyard-sklearn-inference"},
                  {"python",
                   {{"conda_dependencies",
                     {{"name", "trainyard-sklearn-inference"},
                      {"dependencies", {"scikit-learn", "numpy"}}}}}}};
      entry = opts_.sdk_python_dir + "/trainyard/_serve_nocode.py";
      source = gen.string();
    } else {
      fs::path src = gen / "source";
      RestoreSnapshotInto(blobs_, ic["snapshot_id"].get<std::string>(), src);
      env_spec = ic.value("environment", Json());
      entry = (src / ic["entry_script"].get<std::string>()).string();
      source = src.string();
    }
    log("trainyard: preparing the environment\n");
    MaterializedRunEnv env =
        MaterializeRunEnvironment(env_spec, opts_.data_dir / "envs", opts_.sdk_python_dir,
                                  [&](std::string_view line) { log(std::string(line) + "\n"); });
    Json vars = Json::object();
    for (auto& [k, v] : env.variables) vars[k] = v;
    vars["AZUREML_MODEL_DIR"] = model_dir.string();
    vars["TRAINYARD_SERVICE_NAME"] = r.name;
    vars["AZUREML_ENTRY_SCRIPT"] = entry;
    if (!ic.is_null()) vars["AZUREML_SOURCE_DIRECTORY"] = source;
    scorer = {{"kind", "python"},
              {"python", env.python},
              {"worker_script", opts_.sdk_python_dir + "/trainyard/_serve_worker.py"},
              {"entry_script", entry},
              {"source_dir", source},
              {"env", vars},
              {"workers", dc["workers"]},
              {"init_timeout_s", opts_.ready_timeout.count()}};
  }
  Json cfg = {{"name", r.name},
              {"host", "127.0.0.1"},
              {"port", r.port},
              {"generation", r.generation},
              {"auth_enabled", dc["auth_enabled"]},
              {"keys_file", (dir / "keys.json").string()},
              {"timeout_ms", dc["scoring_timeout_ms"]},
              {"max_body_bytes", dc["max_request_bytes"]},
              {"input_example", dc.value("input_example", Json())},
              {"output_example", dc.value("output_example", Json())},
              {"scorer", scorer}};
  serve::SaveKeyFile(dir / "keys.json", {r.primary_key, r.secondary_key});
  WriteFileAtomic(dir / "serve.json", cfg.dump(2));
  return cfg;
}

Json ServiceManager::AwaitStatus(const std::string& name, int64_t generation, int64_t since,
                                 pid_t pid) {
  fs::path status = Dir(name) / "status.json";
  auto deadline = Clock::now() + opts_.ready_timeout;
  while (Clock::now() < deadline) {
    Json s = ReadJsonFile(status);
    if (s.is_object() && s.value("generation", int64_t{-1}) == generation &&
        s.value("time", int64_t{0}) >= since && (pid <= 0 || s.value("pid", -1) == pid)) {
      return s;
    }
    if (pid > 0) {
      int st = 0;
      pid_t w = ::waitpid(pid, &st, WNOHANG);
      if (w == pid) {
        Json s2 = ReadJsonFile(status);
        if (s2.is_object() && s2.value("pid", -1) == pid) return s2;
        return {{"state", "Crashed"},
                {"error",
                 {{"message", "the service process exited (" + Describe(st) +
                                  ") before it was ready; see the service logs"},
                  {"traceback", ""}}}};
      }
    }
    {
      std::lock_guard lk(mu_);
      if (stopping_) return {{"state", "Stopped"}, {"error", nullptr}};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {{"state", "Failed"},
          {"error",
           {{"message", "the service did not become ready within " +
                            std::to_string(opts_.ready_timeout.count()) + " s"},
            {"traceback", ""}}}};
}

void ServiceManager::SpawnFront(const std::string& name, int64_t generation) {
  fs::path dir = Dir(name);
  std::error_code ec;
  fs::remove(dir / "status.json", ec);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  int64_t since = NowMillis();
  pid_t pid = SpawnDetached({opts_.self_exe, "serve", "--dir", dir.string(), "--watch-parent"}, env,
                            (dir / kServeLog).string());
  {
    std::lock_guard lk(mu_);
    auto& live = live_[name];
    if (!live) live = std::make_shared<Live>();
    live->pid = pid;
    live->down = false;
  }
  Json s = AwaitStatus(name, generation, since, pid);
  std::string state = s.value("state", "");
  if (state == "Healthy") {
    // The probe a load balancer would make.
    try {
      HttpClient probe("http://127.0.0.1:" + std::to_string(s.value("port", 0)), "");
      probe.Request("GET", "/", "", "application/json", 5000);
    } catch (const std::exception&) {
    }
    return;
  }
  if (state == "Stopped") throw ScorerStartFailure("Stopped", {{"message", "server stopping"}});
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end() && it->second->pid == pid) {
      it->second->pid = -1;
    }
  }
  if (::kill(pid, 0) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  Json err = s.value("error", Json());
  if (err.is_null()) err = {{"message", "the service process stopped"}, {"traceback", ""}};
  throw ScorerStartFailure(state == "Crashed" ? "Crashed" : "Failed", err);
}

void ServiceManager::RunOperation(const std::string& name, const std::string& kind) {
  auto rec = store_.GetService(name);
  if (!rec) return;
  ServiceRecord r = *rec;
  auto log = [&](std::string_view text) { AppendLog(name, text); };
  Json op = r.spec.value("last_operation", Json::object());
  op["kind"] = kind == "restart" ? op.value("kind", "deploy") : kind;
  auto finish_ok = [&] {
    Json done = {{"kind", op["kind"]}, {"status", "Succeeded"}, {"error", nullptr}};
    SetState(name, "Healthy", nullptr, &done);
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end()) {
      it->second->healthy_since = Clock::now();
    }
  };
  auto finish_failed = [&](const std::string& state, const Json& error) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;  // interrupted by a server stop: resumed by the next Start()
    }
    Json done = {{"kind", op["kind"]}, {"status", "Failed"}, {"error", error}};
    SetState(name, state, error, &done);
    log("trainyard: " + op["kind"].get<std::string>() +
        " failed: " + error.value("message", std::string()) + "\n");
  };

  if (kind == "restart") {
    try {
      SpawnFront(name, r.generation);
      log("trainyard: service restarted\n");
      finish_ok();
    } catch (const ScorerStartFailure& e) {
      if (e.kind == "Stopped") return;
      if (e.kind == "Failed") return finish_failed("Failed", e.error);
      std::lock_guard lk(mu_);
      auto& live = live_[name];
      if (!live) live = std::make_shared<Live>();
      int delay = std::min(30, 1 << std::min(live->restarts, 5));
      live->restarts++;
      live->down = true;
      live->restart_at = Clock::now() + std::chrono::seconds(delay);
      SetState(name, "Unhealthy",
               {{"message", e.error.value("message", std::string()) + "; restarting in " +
                                std::to_string(delay) + " s"},
                {"traceback", ""}});
    } catch (const std::exception& e) {
      finish_failed("Failed", {{"message", e.what()}, {"traceback", ""}});
    }
    return;
  }

  pid_t running = -1;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end()) running = it->second->pid;
  }
  bool in_place = kind == "update" && running > 0 && ::kill(running, 0) == 0;
  fs::path dir = Dir(name);
  std::error_code ec;
  if (in_place)
    fs::copy_file(dir / "serve.json", dir / "serve.json.prev", fs::copy_options::overwrite_existing,
                  ec);
  auto revert = [&](const Json& error) {
    // The old generation keeps serving: restore its config and record.
    Json prev = r.spec.value("previous", Json::object());
    fs::rename(dir / "serve.json.prev", dir / "serve.json", ec);
    r.spec = prev;
    r.generation -= 1;
    r.state = "Healthy";
    r.error = nullptr;
    r.spec["last_operation"] = {{"kind", "update"}, {"status", "Failed"}, {"error", error}};
    r.updated = NowMillis();
    store_.PutService(r);
    ::kill(running, SIGHUP);
    log("trainyard: update failed, generation " + std::to_string(r.generation) +
        " keeps serving: " + error.value("message", std::string()) + "\n");
  };
  try {
    Materialize(r, log);
  } catch (const std::exception& e) {
    Json error = {{"message", std::string("preparing the service failed: ") + e.what()},
                  {"traceback", ""}};
    if (in_place) return revert(error);
    return finish_failed("Failed", error);
  }
  if (in_place) {
    int64_t since = NowMillis();
    ::kill(running, SIGHUP);
    Json s = AwaitStatus(name, r.generation, since, running);
    if (s.value("state", "") == "Healthy") {
      log("trainyard: generation " + std::to_string(r.generation) + " is serving\n");
      finish_ok();
      for (int64_t g = r.generation - 2; g >= 1 && g >= r.generation - 4; --g) {
        fs::remove_all(dir / ("gen-" + std::to_string(g)), ec);
      }
      return;
    }
    Json err = s.value("error", Json());
    if (err.is_null()) err = {{"message", "the service process stopped"}, {"traceback", ""}};
    return revert(err);
  }
  if (running > 0) StopFront(name);
  try {
    SpawnFront(name, r.generation);
    log("trainyard: service is Healthy\n");
    finish_ok();
  } catch (const ScorerStartFailure& e) {
    finish_failed("Failed", e.error);
  } catch (const std::exception& e) {
    finish_failed("Failed", {{"message", e.what()}, {"traceback", ""}});
  }
}

void ServiceManager::StopFront(const std::string& name) {
  pid_t pid = -1;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end()) {
      pid = it->second->pid;
      it->second->pid = -1;
      it->second->down = false;
    }
  }
  bool child = pid > 0;
  if (pid <= 0) {
    Json s = ReadJsonFile(Dir(name) / "status.json");
    pid = s.is_object() ? s.value("pid", -1) : -1;
    if (!ProcessIsFront(pid, Dir(name))) return;
  }
  ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    bool gone = child ? ::waitpid(pid, nullptr, WNOHANG) == pid || ::kill(pid, 0) != 0
                      : ::kill(pid, 0) != 0;
    if (gone) return;
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  if (child) ::waitpid(pid, nullptr, 0);
}

void ServiceManager::Delete(const std::string& name) {
  Require(name);
  std::shared_ptr<Live> live;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end()) live = it->second;
  }
  StopFront(name);
  if (live && live->op.joinable()) {
    // An operation in progress notices its process is gone and ends.
    StopFront(name);
    live->op.join();
    StopFront(name);
  }
  {
    std::lock_guard lk(mu_);
    live_.erase(name);
  }
  store_.DeleteService(name);
  std::error_code ec;
  fs::remove_all(Dir(name), ec);
}

Json ServiceManager::Get(const std::string& name) { return ToJson(Require(name)); }

Json ServiceManager::List() {
  Json arr = Json::array();
  for (auto& r : store_.ListServices()) arr.push_back(ToJson(r));
  return {{"services", arr}};
}

std::string ServiceManager::Logs(const std::string& name, size_t max_bytes) {
  Require(name);
  return ReadFileTail(Dir(name) / kServeLog, max_bytes);
}

Json ServiceManager::Keys(const std::string& name) {
  ServiceRecord r = Require(name);
  return {{"primaryKey", r.primary_key}, {"secondaryKey", r.secondary_key}};
}

Json ServiceManager::RegenerateKey(const std::string& name, const std::string& which) {
  ServiceRecord r = Require(name);
  std::string w = Lower(which);
  if (w == "primary") {
    r.primary_key = serve::GenerateServiceKey();
  } else if (w == "secondary") {
    r.secondary_key = serve::GenerateServiceKey();
  } else {
    throw InvalidInput("key must be 'Primary' or 'Secondary' (got '" + which + "')");
  }
  r.updated = NowMillis();
  store_.PutService(r);
  serve::SaveKeyFile(Dir(name) / "keys.json", {r.primary_key, r.secondary_key});
  pid_t pid = -1;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(name); it != live_.end()) pid = it->second->pid;
  }
  if (pid > 0 && ::kill(pid, 0) == 0) {
    // The front re-reads the keys on SIGHUP and then rewrites its status file.
    int64_t since = NowMillis();
    ::kill(pid, SIGHUP);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      Json s = ReadJsonFile(Dir(name) / "status.json");
      if (s.is_object() && s.value("time", int64_t{0}) >= since) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return {{"primaryKey", r.primary_key}, {"secondaryKey", r.secondary_key}};
}

void ServiceManager::Start() {
  for (auto& r : store_.ListServices()) {
    // A front left over from a server that was killed: end it so its port is free.
    Json s = ReadJsonFile(Dir(r.name) / "status.json");
    pid_t old = s.is_object() ? s.value("pid", -1) : -1;
    if (ProcessIsFront(old, Dir(r.name))) {
      ::kill(old, SIGTERM);
      for (int i = 0; i < 500 && ::kill(old, 0) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (::kill(old, 0) == 0) ::kill(old, SIGKILL);
    }
    if (r.state == "Failed") continue;
    bool interrupted =
        r.spec.value("last_operation", Json::object()).value("status", "") == "Running";
    bool have_config = fs::exists(Dir(r.name) / "serve.json");
    SetState(r.name, "Transitioning", nullptr);
    AppendLog(r.name, "trainyard: workspace server started; bringing the service back\n");
    StartOperation(r.name, interrupted || !have_config ? "deploy" : "restart");
  }
  supervisor_ = std::thread([this] { SuperviseLoop(); });
}

void ServiceManager::SuperviseLoop() {
  for (;;) {
    std::vector<std::string> restart;
    std::vector<std::pair<std::string, Json>> failed, unhealthy;
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      for (auto& [name, live] : live_) {
        if (live->op_running) continue;
        if (live->pid > 0) {
          int st = 0;
          if (::waitpid(live->pid, &st, WNOHANG) != live->pid) {
            if (live->restarts && Clock::now() - live->healthy_since > std::chrono::seconds(60)) {
              live->restarts = 0;
            }
            continue;
          }
          pid_t pid = live->pid;
          live->pid = -1;
          Json s = ReadJsonFile(Dir(name) / "status.json");
          if (s.is_object() && s.value("pid", -1) == pid && s.value("state", "") == "Failed" &&
              WIFEXITED(st) && WEXITSTATUS(st) == 3) {
            failed.emplace_back(name, s.value("error", Json()));
            continue;
          }
          int delay = std::min(30, 1 << std::min(live->restarts, 5));
          live->restarts++;
          live->down = true;
          live->restart_at = Clock::now() + std::chrono::seconds(delay);
          unhealthy.emplace_back(
              name, Json{{"message", "the service process exited (" + Describe(st) +
                                         "); restarting in " + std::to_string(delay) + " s"},
                         {"traceback", ""}});
        } else if (live->down && Clock::now() >= live->restart_at) {
          live->down = false;
          restart.push_back(name);
        }
      }
    }
    for (auto& [name, err] : failed) SetState(name, "Failed", err);
    for (auto& [name, err] : unhealthy) {
      SetState(name, "Unhealthy", err);
      AppendLog(name, "trainyard: " + err.value("message", std::string()) + "\n");
    }
    for (auto& name : restart) {
      SetState(name, "Transitioning", nullptr);
      StartOperation(name, "restart");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ServiceManager::Stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (supervisor_.joinable()) supervisor_.join();
  std::vector<std::pair<std::string, std::shared_ptr<Live>>> all;
  {
    std::lock_guard lk(mu_);
    for (auto& [name, live] : live_) all.emplace_back(name, live);
  }
  for (auto& [name, live] : all) {
    if (live->op.joinable()) live->op.join();
  }
  std::vector<pid_t> pids;
  for (auto& [name, live] : all) {
    if (live->pid > 0) {
      ::kill(live->pid, SIGTERM);
      pids.push_back(live->pid);
    }
  }
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (pid_t pid : pids) {
    while (::waitpid(pid, nullptr, WNOHANG) != pid && ::kill(pid, 0) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace trainyard
