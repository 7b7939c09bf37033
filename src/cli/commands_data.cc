#include "cli/commands_data.h"

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "common/workspace_config.h"
#include "env/env_spec.h"
#include "net/http_client.h"
#include "net/http_types.h"

namespace trainyard::cli {
namespace fs = std::filesystem;
using Json = nlohmann::json;

const char* const kDataUsage = R"(Datasets and datastores:
  dataset create PATH... [--tabular [--separator C] [--no-header]] [--no-validate] [--output FILE] [--json]
  dataset register --name NAME (PATH... | --definition FILE) [--tabular ...] [--description TEXT]
                   [--new-version] [--json]
  dataset list [--json]
  dataset show NAME[:VERSION] [--json]         definition, files and the runs that consumed it
  dataset download NAME[:VERSION] [--dest DIR] [--overwrite]
    PATH: a local file, folder or glob (** allowed), an http(s) URL, or datastore://NAME/PATTERN
  datastore list [--json]
  datastore upload SRC_DIR [--datastore NAME] [--target PATH] [--overwrite]
  datastore register NAME DIRECTORY [--overwrite]   a local folder as a datastore
Environments:
  env list [--registered] [--json]             the build cache (size, last use) or the registry
  env show NAME[:VERSION] [--json]
  env build (NAME[:VERSION] | --conda-file YML | --pip-requirements TXT) [--json]
  env prune (--unused-days N | --older-than-days N | --all) [--dry-run]
)";

namespace {

struct Conn {
  WorkspaceConfig cfg;
  HttpClient http;
  static WorkspaceConfig Load() {
    auto path = FindWorkspaceConfig(fs::current_path());
    if (!path) {
      throw NotFound("no Trainyard workspace here: no .trainyard/config.json in " +
                     fs::current_path().string() + " or its parents. Run `trainyard init` first.");
    }
    return WorkspaceConfig::Load(*path);
  }
  Conn() : cfg(Load()), http(cfg.server_url, cfg.token) {}
};

// For calls that may take long on the server (URL downloads, environment builds).
Json CallLong(HttpClient& http, const std::string& method, const std::string& target,
              const Json& body) {
  ClientResponse r = http.Request(method, target, body.dump(), "application/json", 3600 * 1000);
  if (r.status / 100 != 2) ThrowHttpError(r);
  return r.body.empty() ? Json() : r.Json();
}

std::string HumanSize(uint64_t b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  std::ostringstream o;
  o << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << " " << units[u];
  return o.str();
}

// "name" or "name:3" -> (name, version query value; "" = latest).
std::pair<std::string, std::string> NameVersion(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return {s, ""};
  return {s.substr(0, colon), s.substr(colon + 1)};
}

Json Sources(const std::vector<std::string>& paths) {
  Json out = Json::array();
  for (const std::string& p : paths) {
    if (p.rfind("datastore://", 0) == 0) {
      std::string rest = p.substr(12);
      auto slash = rest.find('/');
      out.push_back({{"datastore", rest.substr(0, slash)},
                     {"path", slash == std::string::npos ? "" : rest.substr(slash + 1)}});
    } else if (p.find("://") != std::string::npos) {
      out.push_back(p);
    } else {
      std::string abs = fs::absolute(p).lexically_normal().string();
      if (p.ends_with("/") && !abs.ends_with("/")) abs += "/";
      out.push_back(abs);
    }
  }
  return out;
}

Json CreateDefinition(Conn& c, const Args& args, size_t first_positional) {
  std::vector<std::string> paths(args.positional().begin() + static_cast<long>(first_positional),
                                 args.positional().end());
  if (paths.empty()) throw InvalidInput("give at least one PATH (file, folder, glob, URL)");
  Json req = {{"type", args.Has("tabular") ? "tabular" : "file"},
              {"paths", Sources(paths)},
              {"validate", !args.Has("no-validate")}};
  if (args.Has("tabular")) {
    req["options"] = {{"separator", args.Get("separator", ",")},
                      {"header", !args.Has("no-header")}};
  }
  return CallLong(c.http, "POST", "/api/v1/dataset-definitions", req);
}

void PrintFiles(const Json& def) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& f : def.value("files", Json::array())) {
    const Json& s = f.value("source", Json::object());
    std::string src = s.contains("url")         ? Str(s, "url")
                      : s.contains("datastore") ? Str(s, "datastore") + ":" + Str(s, "path")
                                                : Str(s, "local");
    rows.push_back({"/" + Str(f, "path"), f.contains("size") ? HumanSize(f["size"]) : "?",
                    Str(f, "sha256").substr(0, 12), src});
  }
  PrintTable({"PATH", "SIZE", "SHA256", "SOURCE"}, rows);
}

int Dataset(const std::vector<std::string>& a) {
  if (a.empty())
    throw InvalidInput("usage: trainyard dataset create|register|list|show|download ...");
  const std::string sub = a[0];
  const std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("dataset", sub, {"create", "register", "list", "show", "download"});
  Conn c;
  if (sub == "create") {
    Args args(rest, {"separator", "output"}, {"tabular", "no-header", "no-validate", "json"});
    Json def = CreateDefinition(c, args, 0);
    if (args.Has("output")) {
      WriteFileAtomic(args.Get("output"), def.dump(2) + "\n");
      std::cout << "wrote the definition (" << def["files"].size() << " files) to "
                << args.Get("output") << "\n";
    } else if (args.Has("json")) {
      std::cout << def.dump(2) << "\n";
    } else {
      PrintFiles(def);
    }
    return 0;
  }
  if (sub == "register") {
    Args args(rest, {"name", "definition", "description", "separator"},
              {"tabular", "no-header", "no-validate", "new-version", "json"});
    std::string name = args.Get("name");
    if (name.empty()) throw InvalidInput("--name NAME is required");
    ValidateName("dataset name", name);
    Json def = args.Has("definition")
                   ? Json::parse(ReadFile(args.Get("definition")), nullptr, false)
                   : CreateDefinition(c, args, 0);
    if (def.is_discarded()) throw InvalidInput(args.Get("definition") + " is not valid JSON");
    Json d = c.http.Call("POST", "/api/v1/datasets",
                         {{"name", name},
                          {"description", args.Get("description")},
                          {"create_new_version", args.Has("new-version")},
                          {"definition", def}});
    if (args.Has("json")) {
      std::cout << d.dump(2) << "\n";
    } else {
      std::cout << "registered dataset " << Str(d, "name") << " version " << Str(d, "version")
                << " (id " << Str(d, "id") << ")\n";
    }
    return 0;
  }
  if (sub == "list") {
    Args args(rest, {}, {"json"});
    Json ds = c.http.Call("GET", "/api/v1/datasets")["datasets"];
    if (args.Has("json")) {
      std::cout << ds.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const Json& d : ds) {
      rows.push_back({Str(d, "name"), Str(d, "version"), Str(d, "type"),
                      std::to_string(d["definition"].value("files", Json::array()).size()),
                      Str(d, "created_utc"), Str(d, "description")});
    }
    PrintTable({"NAME", "VERSION", "TYPE", "FILES", "CREATED", "DESCRIPTION"}, rows);
    return 0;
  }
  if (sub == "show") {
    Args args(rest, {}, {"json"});
    auto [name, version] = NameVersion(args.Positional(0, "NAME[:VERSION]"));
    ValidateName("dataset name", name);
    std::string url = "/api/v1/datasets/" + UrlEncode(name, false) +
                      (version.empty() ? "" : "?version=" + UrlEncode(version, false));
    Json d = c.http.Call("GET", url);
    if (args.Has("json")) {
      std::cout << d.dump(2) << "\n";
      return 0;
    }
    std::cout << "name:        " << Str(d, "name") << "\nversion:     " << Str(d, "version")
              << "\nid:          " << Str(d, "id") << "\ntype:        " << Str(d, "type")
              << "\ncreated:     " << Str(d, "created_utc")
              << "\ndescription: " << Str(d, "description") << "\n\nfiles:\n";
    PrintFiles(d["definition"]);
    std::cout << "\nconsumed by runs:\n";
    if (d["runs"].empty()) std::cout << "  (none yet)\n";
    std::vector<std::vector<std::string>> rows;
    for (const Json& r : d["runs"]) {
      rows.push_back(
          {Str(r, "run_id"), Str(r, "input_name"), Str(r, "mode"), Str(r, "created_utc")});
    }
    if (!rows.empty()) PrintTable({"RUN", "INPUT", "MODE", "SUBMITTED"}, rows);
    return 0;
  }
  if (sub == "download") {
    Args args(rest, {"dest"}, {"overwrite"});
    auto [name, version] = NameVersion(args.Positional(0, "NAME[:VERSION]"));
    ValidateName("dataset name", name);
    Json d =
        c.http.Call("GET", "/api/v1/datasets/" + UrlEncode(name, false) +
                               (version.empty() ? "" : "?version=" + UrlEncode(version, false)));
    fs::path dest = fs::absolute(args.Get("dest", name));
    Json files =
        c.http.Call("POST", "/api/v1/dataset-files", {{"definition", d["definition"]}})["files"];
    for (const Json& f : files) {
      fs::path target = dest / ValidateRelativePath("dataset file path", Str(f, "path"));
      if (fs::exists(target) && !args.Has("overwrite")) {
        throw Conflict(target.string() + " already exists; pass --overwrite to replace it");
      }
    }
    uint64_t bytes = 0;
    for (const Json& f : files) {
      fs::path target = dest / Str(f, "path");
      fs::create_directories(target.parent_path());
      ClientResponse r =
          c.http.DownloadToFile("/api/v1/blobs/" + Str(f, "sha256"), target.string());
      if (r.status / 100 != 2) ThrowHttpError(r);
      bytes += f.value("size", uint64_t{0});
    }
    std::cout << "downloaded " << files.size() << " files (" << HumanSize(bytes) << ") to "
              << dest.string() << "\n";
    return 0;
  }
  throw InvalidInput("unknown dataset command '" + sub +
                     "'; use create, register, list, show, download");
}

int Datastore(const std::vector<std::string>& a) {
  if (a.empty()) throw InvalidInput("usage: trainyard datastore list|upload|register ...");
  const std::string sub = a[0];
  const std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("datastore", sub, {"list", "upload", "register"});
  Conn c;
  if (sub == "list") {
    Args args(rest, {}, {"json"});
    Json ds = c.http.Call("GET", "/api/v1/datastores")["datastores"];
    if (args.Has("json")) {
      std::cout << ds.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const Json& d : ds) {
      rows.push_back({Str(d, "name"), Str(d, "type"), d.value("is_default", false) ? "yes" : "",
                      Str(d, "path")});
    }
    PrintTable({"NAME", "TYPE", "DEFAULT", "PATH"}, rows);
    return 0;
  }
  if (sub == "upload") {
    Args args(rest, {"datastore", "target"}, {"overwrite"});
    fs::path src = fs::absolute(args.Positional(0, "SRC_DIR"));
    if (!fs::is_directory(src)) throw InvalidInput(src.string() + " is not a folder");
    std::string target = args.Get("target");
    while (!target.empty() && target.back() == '/') target.pop_back();
    Json files = Json::array();
    for (auto& e : fs::recursive_directory_iterator(src)) {
      if (!e.is_regular_file()) continue;
      std::string rel = e.path().lexically_relative(src).generic_string();
      files.push_back(
          {{"src", e.path().string()}, {"path", target.empty() ? rel : target + "/" + rel}});
    }
    std::string name = args.Get("datastore", "workspaceblobstore");
    Json r = CallLong(c.http, "POST", "/api/v1/datastores/" + UrlEncode(name, false) + "/upload",
                      {{"files", files}, {"overwrite", args.Has("overwrite")}});
    std::cout << "uploaded " << files.size() << " files to " << name
              << (target.empty() ? "" : "/" + target) << ": " << Str(r, "added") << " added, "
              << Str(r, "replaced") << " replaced, " << Str(r, "skipped")
              << " skipped (already there; --overwrite replaces)\n";
    return 0;
  }
  if (sub == "register") {
    Args args(rest, {}, {"overwrite"});
    Json d = c.http.Call("POST", "/api/v1/datastores",
                         {{"name", args.Positional(0, "NAME")},
                          {"type", "local_directory"},
                          {"path", fs::absolute(args.Positional(1, "DIRECTORY")).string()},
                          {"overwrite", args.Has("overwrite")}});
    std::cout << "registered datastore " << Str(d, "name") << " -> " << Str(d, "path") << "\n";
    return 0;
  }
  throw InvalidInput("unknown datastore command '" + sub + "'; use list, upload, register");
}

std::string Ago(const std::string& iso) { return iso.empty() ? "never" : iso; }

int Env(const std::vector<std::string>& a) {
  if (a.empty()) throw InvalidInput("usage: trainyard env list|show|build|prune ...");
  const std::string sub = a[0];
  const std::vector<std::string> rest(a.begin() + 1, a.end());
  RequireSubcommand("env", sub, {"list", "show", "build", "prune"});
  Conn c;
  if (sub == "list") {
    Args args(rest, {}, {"registered", "json"});
    if (args.Has("registered")) {
      Json envs = c.http.Call("GET", "/api/v1/environments")["environments"];
      if (args.Has("json")) {
        std::cout << envs.dump(2) << "\n";
        return 0;
      }
      std::vector<std::vector<std::string>> rows;
      for (const Json& e : envs) {
        rows.push_back({Str(e, "name"), Str(e, "version"),
                        e.value("curated", false) ? "curated" : "registered",
                        Str(e, "description")});
      }
      PrintTable({"NAME", "VERSION", "KIND", "DESCRIPTION"}, rows);
      return 0;
    }
    Json envs = c.http.Call("GET", "/api/v1/environment-cache")["environments"];
    if (args.Has("json")) {
      std::cout << envs.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    uint64_t total = 0;
    for (const Json& e : envs) {
      total += e.value("size", uint64_t{0});
      rows.push_back({Str(e, "spec_hash").substr(0, 16), Str(e, "name"), Str(e, "python_version"),
                      std::to_string(e["packages"].size()), HumanSize(e.value("size", uint64_t{0})),
                      Str(e, "created_utc"), Ago(Str(e, "last_used_utc"))});
    }
    PrintTable({"HASH", "NAME", "PYTHON", "PACKAGES", "SIZE", "BUILT", "LAST USED"}, rows);
    std::cout << envs.size() << " environments, " << HumanSize(total) << "\n";
    return 0;
  }
  if (sub == "show") {
    Args args(rest, {}, {"json"});
    auto [name, version] = NameVersion(args.Positional(0, "NAME[:VERSION]"));
    ValidateName("environment name", name);
    Json e =
        c.http.Call("GET", "/api/v1/environments/" + UrlEncode(name, false) +
                               (version.empty() ? "" : "?version=" + UrlEncode(version, false)));
    std::cout << (args.Has("json") ? e.dump(2) : e["spec"].dump(2)) << "\n";
    return 0;
  }
  if (sub == "build") {
    Args args(rest, {"conda-file", "pip-requirements"}, {"json"});
    Json body;
    if (args.Has("conda-file")) {
      body["spec"] = EnvSpec::FromCondaYaml(ReadFile(args.Get("conda-file")), "").ToJson();
    } else if (args.Has("pip-requirements")) {
      body["spec"] = {{"name", "cli-env"},
                      {"pip_requirements", ReadFile(args.Get("pip-requirements"))}};
    } else {
      auto [name, version] = NameVersion(args.Positional(0, "NAME[:VERSION]"));
      body = {{"name", name}, {"version", version}};
    }
    Json r = CallLong(c.http, "POST", "/api/v1/environment-cache/build", body);
    if (args.Has("json")) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    for (const Json& l : r["log"]) std::cout << l.get<std::string>() << "\n";
    std::cout << (r.value("built_now", false) ? "built " : "already built: ") << Str(r, "env_dir")
              << "\n";
    return 0;
  }
  if (sub == "prune") {
    Args args(rest, {"unused-days", "older-than-days"}, {"all", "dry-run"});
    Json body = {{"all", args.Has("all")}, {"dry_run", args.Has("dry-run")}};
    if (args.Has("unused-days")) body["unused_days"] = std::stod(args.Get("unused-days"));
    if (args.Has("older-than-days"))
      body["older_than_days"] = std::stod(args.Get("older-than-days"));
    Json r = c.http.Call("POST", "/api/v1/environment-cache/prune", body);
    for (const Json& e : r["removed"]) {
      std::cout << (args.Has("dry-run") ? "would remove " : "removed ") << Str(e, "spec_hash")
                << " (" << Str(e, "name") << ", " << HumanSize(e.value("size", uint64_t{0}))
                << ")\n";
    }
    std::cout << (args.Has("dry-run") ? "would free " : "freed ")
              << HumanSize(r.value("freed_bytes", uint64_t{0})) << "\n";
    return 0;
  }
  throw InvalidInput("unknown env command '" + sub + "'; use list, show, build, prune");
}

}  // namespace

int DispatchData(const std::string& cmd, const std::vector<std::string>& args) {
  if (cmd == "dataset") return Dataset(args);
  if (cmd == "datastore") return Datastore(args);
  return Env(args);
}

}  // namespace trainyard::cli
