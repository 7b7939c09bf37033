#include "cli/commands_service.h"

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/util.h"
#include "common/workspace_config.h"
#include "env/env_spec.h"
#include "net/http_client.h"
#include "net/http_types.h"
#include "serve/serve_front.h"
#include "serve/service_manager.h"

namespace trainyard::cli {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

const char* kServiceUsage = R"(usage: trainyard service <command>
  deploy --name NAME --model MODEL[:VERSION][,MODEL[:VERSION]...]
         [--entry-script FILE [--source-dir DIR]]
         [--conda-file YML | --pip-requirements TXT | --python INTERPRETER]
         [--auth] [--workers N] [--cpu-cores X] [--memory-gb Y] [--port P]
         [--timeout-ms MS] [--local] [--overwrite] [--no-wait] [--json]
  list [--json]
  show NAME [--json]
  logs NAME [--tail BYTES]
  keys NAME [--regen primary|secondary] [--json]
  delete NAME
  score NAME (--data JSON | --file FILE) [--key KEY]
Without --entry-script, the model is deployed no-code (scikit-learn or XGBoost models).
)";

struct ServiceClient {
  WorkspaceConfig cfg;
  std::unique_ptr<HttpClient> http;
  ServiceClient() {
    auto path = FindWorkspaceConfig(fs::current_path());
    if (!path) {
      throw NotFound("no Trainyard workspace here: no .trainyard/config.json in " +
                     fs::current_path().string() + " or its parents. Run `trainyard init` first.");
    }
    cfg = WorkspaceConfig::Load(*path);
    http = std::make_unique<HttpClient>(cfg.server_url, cfg.token);
  }
};

std::string ServiceUrl(const std::string& name) {
  ValidateServiceName(name);
  return "/api/v1/services/" + name;
}

void PrintService(const Json& s) {
  std::cout << "name:         " << Str(s, "name") << "\n"
            << "state:        " << Str(s, "state") << "\n"
            << "scoring_uri:  " << Str(s, "scoring_uri") << "\n"
            << "swagger_uri:  " << Str(s, "swagger_uri") << "\n"
            << "auth_enabled: " << (s.value("auth_enabled", false) ? "true" : "false") << "\n"
            << "compute_type: " << Str(s, "compute_type") << "\n";
  std::string models;
  for (auto& m : s.value("models", Json::array())) {
    models += (models.empty() ? "" : ", ") + Str(m, "id");
  }
  std::cout << "models:       " << models << "\n";
  if (s.contains("error") && s["error"].is_object()) {
    std::cout << "error:        " << Str(s["error"], "message") << "\n";
    std::string tb = Str(s["error"], "traceback");
    if (!tb.empty()) std::cout << tb << "\n";
  }
}

// Polls until the service's last operation is over; returns the service.
Json WaitForService(HttpClient& http, const std::string& name) {
  std::string last;
  for (;;) {
    Json s = http.Call("GET", ServiceUrl(name));
    std::string state = Str(s, "state");
    std::string op = s.contains("last_operation") && s["last_operation"].is_object()
                         ? Str(s["last_operation"], "status")
                         : "";
    if (state != last) {
      std::cerr << (last.empty() ? "" : "\n") << state << std::flush;
      last = state;
    } else {
      std::cerr << "." << std::flush;
    }
    if (op != "Running" && state != "Transitioning") {
      std::cerr << "\n";
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

Json ModelList(const std::string& spec) {
  Json out = Json::array();
  size_t i = 0;
  while (i <= spec.size()) {
    size_t j = spec.find(',', i);
    if (j == std::string::npos) j = spec.size();
    std::string one = spec.substr(i, j - i);
    if (!one.empty()) {
      auto colon = one.find(':');
      Json m = {{"name", one.substr(0, colon)}};
      if (colon != std::string::npos) {
        try {
          m["version"] = std::stoll(one.substr(colon + 1));
        } catch (const std::exception&) {
          throw InvalidInput("--model: version in '" + one + "' must be a number");
        }
      }
      out.push_back(m);
    }
    i = j + 1;
  }
  if (out.empty()) throw InvalidInput("--model names at least one registered model");
  return out;
}

int Deploy(const std::vector<std::string>& rest) {
  Args args(rest,
            {"name", "model", "entry-script", "source-dir", "conda-file", "pip-requirements",
             "python", "workers", "cpu-cores", "memory-gb", "port", "timeout-ms"},
            {"auth", "local", "overwrite", "no-wait", "json"});
  ServiceClient c;
  Json dc = {{"auth_enabled", args.Has("auth")},
             {"compute_type", args.Has("local") ? "Local" : "ACI"},
             {"workers", args.GetInt("workers", 1)}};
  if (args.Has("cpu-cores")) dc["cpu_cores"] = std::stod(args.Get("cpu-cores"));
  if (args.Has("memory-gb")) dc["memory_gb"] = std::stod(args.Get("memory-gb"));
  if (args.Has("port")) dc["port"] = args.GetInt("port", 0);
  if (args.Has("timeout-ms")) dc["scoring_timeout_ms"] = args.GetInt("timeout-ms", 60000);
  Json body = {{"name", args.Get("name")},
               {"models", ModelList(args.Get("model"))},
               {"deployment_config", dc},
               {"overwrite", args.Has("overwrite")}};
  if (args.Has("entry-script")) {
    fs::path entry = fs::absolute(args.Get("entry-script"));
    fs::path src =
        args.Has("source-dir") ? fs::absolute(args.Get("source-dir")) : entry.parent_path();
    Json env;
    if (args.Has("conda-file")) {
      env = EnvSpec::FromCondaYaml(ReadFile(args.Get("conda-file")), "cli-env").ToJson();
    } else if (args.Has("pip-requirements")) {
      env = {{"name", "cli-env"}, {"pip_requirements", ReadFile(args.Get("pip-requirements"))}};
    } else if (args.Has("python")) {
      env = {{"name", "cli-env"},
             {"python",
              {{"user_managed_dependencies", true}, {"interpreter_path", args.Get("python")}}}};
    }
    std::string rel = args.Has("source-dir")
                          ? fs::relative(fs::absolute(args.Get("entry-script")), src).string()
                          : entry.filename().string();
    body["inference_config"] = {
        {"entry_script", rel}, {"source_directory", src.string()}, {"environment", env}};
  }
  Json s = c.http->Call("POST", "/api/v1/services", body);
  if (!args.Has("no-wait")) s = WaitForService(*c.http, Str(s, "name"));
  if (args.Has("json")) {
    std::cout << s.dump(2) << "\n";
  } else {
    PrintService(s);
  }
  if (s.value("state", "") == "Failed") return 1;
  return 0;
}

int Score(const std::vector<std::string>& rest) {
  Args args(rest, {"data", "file", "key"}, {});
  std::string name = args.Positional(0, "service NAME");
  ServiceClient c;
  Json s = c.http->Call("GET", ServiceUrl(name));
  std::string body = args.Has("file") ? ReadFile(args.Get("file")) : args.Get("data");
  if (body.empty()) throw InvalidInput("give the request body with --data JSON or --file FILE");
  std::string key = args.Get("key");
  if (key.empty() && s.value("auth_enabled", false)) {
    key = c.http->Call("GET", ServiceUrl(name) + "/keys").value("primaryKey", "");
  }
  std::string base = "http://127.0.0.1:" + std::to_string(s.value("port", 0));
  HttpClient scorer(base, key);
  ClientResponse r = scorer.Request("POST", "/score", body, "application/json", 120000);
  std::cout << r.body << "\n";
  if (r.status / 100 != 2) {
    std::cerr << "trainyard: scoring answered HTTP " << r.status << std::endl;
    return r.status == 401 ? 5 : r.status / 100 == 4 ? 2 : 1;
  }
  return 0;
}

}  // namespace

int CmdServe(const std::vector<std::string>& a) {
  Args args(a, {"dir"}, {"watch-parent"});
  serve::ServeOptions opts;
  opts.service_dir = args.Get("dir");
  opts.watch_parent = args.Has("watch-parent");
  return serve::RunServe(opts);
}

int CmdService(const std::vector<std::string>& a) {
  if (a.empty() || a[0] == "-h" || a[0] == "--help") {
    std::cout << kServiceUsage;
    return a.empty() ? 2 : 0;
  }
  std::string sub = a[0];
  std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("service", sub, {"deploy", "score", "list", "show", "logs", "keys", "delete"});
  if (sub == "deploy") return Deploy(rest);
  if (sub == "score") return Score(rest);
  if (sub == "list") {
    Args args(rest, {}, {"json"});
    ServiceClient c;
    Json all = c.http->Call("GET", "/api/v1/services")["services"];
    if (args.Has("json")) {
      std::cout << all.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& s : all) {
      std::string models;
      for (auto& m : s.value("models", Json::array()))
        models += (models.empty() ? "" : ",") + Str(m, "id");
      rows.push_back({Str(s, "name"), Str(s, "state"), Str(s, "scoring_uri"), models});
    }
    PrintTable({"NAME", "STATE", "SCORING_URI", "MODELS"}, rows);
    return 0;
  }
  if (sub == "show") {
    Args args(rest, {}, {"json"});
    ServiceClient c;
    Json s = c.http->Call("GET", ServiceUrl(args.Positional(0, "service NAME")));
    if (args.Has("json")) {
      std::cout << s.dump(2) << "\n";
    } else {
      PrintService(s);
    }
    return 0;
  }
  if (sub == "logs") {
    Args args(rest, {"tail"}, {});
    ServiceClient c;
    std::string url = ServiceUrl(args.Positional(0, "service NAME")) + "/logs";
    if (args.Has("tail")) url += "?tail=" + std::to_string(args.GetInt("tail", 0));
    ClientResponse r = c.http->Request("GET", url);
    if (r.status / 100 != 2) ThrowHttpError(r);
    std::cout << r.body;
    return 0;
  }
  if (sub == "keys") {
    Args args(rest, {"regen"}, {"json"});
    ServiceClient c;
    std::string name = args.Positional(0, "service NAME");
    Json k = args.Has("regen") ? c.http->Call("POST", ServiceUrl(name) + "/regen_key",
                                              {{"key", args.Get("regen")}})
                               : c.http->Call("GET", ServiceUrl(name) + "/keys");
    if (args.Has("json")) {
      std::cout << k.dump(2) << "\n";
    } else {
      std::cout << "primary:   " << Str(k, "primaryKey")
                << "\nsecondary: " << Str(k, "secondaryKey") << "\n";
    }
    return 0;
  }
  if (sub == "delete") {
    Args args(rest, {}, {});
    ServiceClient c;
    std::string name = args.Positional(0, "service NAME");
    c.http->Call("DELETE", ServiceUrl(name));
    std::cout << "deleted " << name << "\n";
    return 0;
  }
  throw InvalidInput("unknown service command '" + sub +
                     "'; use deploy, list, show, logs, keys, delete or score");
}

}  // namespace trainyard::cli
