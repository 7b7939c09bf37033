#include "server/data_api.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/json_limits.h"
#include "common/util.h"
#include "common/validation.h"
#include "data/dataset.h"
#include "env/container_runtime.h"
#include "env/curated_environments.h"
#include "env/env_builder.h"
#include "env/env_cache.h"
#include "env/env_spec.h"
#include "env/install_check.h"
#include "runner/agent.h"
#include "runner/run_environment.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// The dataset input that carries resume_from's checkpoint files (Azure's data reference name:
// the script sees AZUREML_DATAREFERENCE_MODEL_LOCATION).
constexpr const char* kResumeInputName = "MODEL_LOCATION";

// The bounded parser (common/json_limits.h): depth and size checked before anything else.
Json ParseJsonBody(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  Json j = ParseJsonBounded(req.body, "request body");
  if (!j.is_object()) throw InvalidInput("request body must be a JSON object");
  return j;
}

void Send(HttpResponse& res, const Json& j, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "latest", "" or a positive integer.
int64_t ParseVersion(const std::string& s, const char* what) {
  if (s.empty() || s == "latest") return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > 1000000000) {
      throw InvalidInput(std::string(what) +
                         " version must be 'latest' or a positive integer, got '" + s + "'");
    }
    v = v * 10 + (c - '0');
  }
  if (v <= 0) throw InvalidInput(std::string(what) + " version must be positive");
  return v;
}

Json StringMap(const Json& in, const char* what) {
  Json out = Json::object();
  if (in.is_null()) return out;
  if (!in.is_object()) throw InvalidInput(std::string(what) + " must be an object");
  for (auto& [k, v] : in.items()) {
    ValidateKey(std::string(what) + " key", k);
    out[k] = v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump();
  }
  return out;
}

uint64_t DirSize(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

Json EnvironmentJson(const AssetRecord& a) {
  Json spec = a.definition;
  spec["version"] = std::to_string(a.version);
  return {{"name", a.name},
          {"version", std::to_string(a.version)},
          {"id", a.id},
          {"curated", false},
          {"description", a.description},
          {"created_utc", FormatIsoTime(a.created)},
          {"spec", spec}};
}

Json CuratedJson(const CuratedEnvironment& c) {
  return {{"name", c.name},
          {"version", "1"},
          {"id", c.name + ":1"},
          {"curated", true},
          {"description", c.description},
          {"created_utc", nullptr},
          {"spec", c.spec}};
}

}  // namespace

Json ValidateDatasetInputShape(const Json& in) {
  if (!in.is_object()) throw InvalidInput("dataset_input must be an object");
  Json out = Json::object();
  std::string name = in.value("name", "");
  ValidateName("dataset input name", name);
  out["name"] = name;
  std::string mode = in.value("mode", "mount");
  if (mode != "mount" && mode != "download" && mode != "direct") {
    throw InvalidInput("dataset input '" + name +
                       "': mode must be mount, download or direct, got '" + mode + "'");
  }
  out["mode"] = mode;
  Json poc = in.value("path_on_compute", Json(nullptr));
  if (!poc.is_null()) {
    if (!poc.is_string() || poc.get<std::string>().empty()) {
      throw InvalidInput("dataset input '" + name + "': path_on_compute must be a path");
    }
    std::string p = poc.get<std::string>();
    if (p[0] != '/') p = ValidateRelativePath("path_on_compute", p);
    if (p.find("/../") != std::string::npos || p.ends_with("/..")) {
      throw InvalidInput("dataset input '" + name + "': path_on_compute must not contain '..'");
    }
    out["path_on_compute"] = p;
  } else {
    out["path_on_compute"] = nullptr;
  }
  Json ds = in.value("dataset", Json(nullptr));
  if (!ds.is_object()) {
    throw InvalidInput(
        "dataset input '" + name +
        "' needs 'dataset': {\"id\"} or {\"name\", \"version\"} or {\"definition\"}");
  }
  out["dataset"] = ds;
  return out;
}

struct DataApi::Impl {
  Impl(fs::path dir, MetadataStore& s, BlobStore& b) : ctx(std::move(dir), s, b) {}
  DataContext ctx;

  // ----- datastores -----
  void ListDatastores(HttpResponse& res) {
    Json arr = Json::array();
    for (const DatastoreInfo& d : ctx.datastores.List()) arr.push_back(d.ToJson());
    Send(res, {{"datastores", arr}, {"default", kDefaultDatastore}});
  }
  void RegisterDatastore(HttpRequest& req, HttpResponse& res) {
    Json b = ParseJsonBody(req);
    std::string type = b.value("type", "local_directory");
    if (type != "local_directory") {
      throw InvalidInput(
          "datastore type must be 'local_directory' (a directory on the server's "
          "machine); got '" +
          type + "'");
    }
    DatastoreInfo d = ctx.datastores.RegisterLocalDirectory(
        b.value("name", ""), b.value("path", ""), b.value("overwrite", false));
    Send(res, d.ToJson(), 201);
  }
  void AddDatastoreFiles(HttpRequest& req, HttpResponse& res, const std::string& name) {
    Json b = ParseJsonBody(req);
    if (!b.contains("files") || !b["files"].is_array()) {
      throw InvalidInput("body needs 'files': [{\"path\", \"sha256\", \"size\"}]");
    }
    std::vector<DatastoreFile> files;
    for (const Json& f : b["files"]) {
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string() ||
          !f.contains("sha256") || !f["sha256"].is_string()) {
        throw InvalidInput("each file needs 'path' and 'sha256', got " + f.dump());
      }
      files.push_back({f["path"], f["sha256"], f.value("size", uint64_t{0})});
    }
    UploadCounts c = ctx.datastores.AddFiles(name, files, b.value("overwrite", false));
    Send(res, {{"added", c.added}, {"replaced", c.replaced}, {"skipped", c.skipped}});
  }
  // Files on this machine (the SDK and the CLI run beside the server, as for snapshots):
  // {"files": [{"src": "/abs/file", "path": "target/rel"}], "overwrite"}. Hashed and stored by
  // the server; validated entirely before anything is stored.
  void UploadLocalFiles(HttpRequest& req, HttpResponse& res, const std::string& name) {
    Json b = ParseJsonBody(req);
    ctx.datastores.Get(name);
    if (!b.contains("files") || !b["files"].is_array()) {
      throw InvalidInput("body needs 'files': [{\"src\": \"/abs/path\", \"path\": \"rel\"}]");
    }
    std::vector<std::pair<fs::path, std::string>> todo;
    for (const Json& f : b["files"]) {
      if (!f.is_object() || !f.value("src", Json(nullptr)).is_string() ||
          !f.value("path", Json(nullptr)).is_string()) {
        throw InvalidInput("each file needs 'src' (absolute path) and 'path', got " + f.dump());
      }
      fs::path src = f["src"].get<std::string>();
      std::error_code ec;
      if (!src.is_absolute() || !fs::is_regular_file(src, ec)) {
        throw InvalidInput("upload source '" + src.string() +
                           "' is not an existing file (absolute path)");
      }
      todo.emplace_back(src,
                        ValidateRelativePath("datastore file path", f["path"].get<std::string>()));
    }
    std::vector<DatastoreFile> files;
    uint64_t bytes = 0;
    for (auto& [src, rel] : todo) {
      uint64_t size = 0;
      std::string sha = ctx.blobs.PutFile(src, &size);
      files.push_back({rel, sha, size});
      bytes += size;
    }
    UploadCounts c = ctx.datastores.AddFiles(name, files, b.value("overwrite", false));
    Send(res,
         {{"added", c.added}, {"replaced", c.replaced}, {"skipped", c.skipped}, {"bytes", bytes}});
  }
  void ListDatastoreFiles(HttpRequest& req, HttpResponse& res, const std::string& name) {
    std::string prefix = req.Query("prefix");
    Json arr = Json::array();
    for (const DatastoreFile& f : ctx.datastores.ListFiles(name)) {
      if (!prefix.empty() && f.path.rfind(prefix, 0) != 0) continue;
      Json e = {{"path", f.path}, {"size", f.size}};
      if (!f.sha256.empty()) e["sha256"] = f.sha256;
      arr.push_back(e);
    }
    Send(res, {{"files", arr}});
  }

  // ----- datasets -----
  Json WithConsumers(const AssetRecord& a) {
    Json j = DatasetJson(a);
    Json runs = Json::array();
    for (const RunInputRecord& r : ctx.store.ListAssetConsumers("dataset", a.name, a.version)) {
      runs.push_back({{"run_id", r.run_id},
                      {"input_name", r.input_name},
                      {"mode", r.mode},
                      {"created_utc", FormatIsoTime(r.created)}});
    }
    j["runs"] = runs;
    return j;
  }
  AssetRecord RequireDataset(const std::string& name, int64_t version) {
    ValidateName("dataset name", name);
    auto a = ctx.store.GetAsset("dataset", name, version);
    if (a) return *a;
    if (version > 0 && ctx.store.GetAsset("dataset", name, 0)) {
      throw NotFound("dataset '" + name + "' has no version " + std::to_string(version) +
                     " (latest is " +
                     std::to_string(ctx.store.GetAsset("dataset", name, 0)->version) + ")");
    }
    throw NotFound("dataset '" + name + "' is not registered in this workspace");
  }
  void RegisterDataset(HttpRequest& req, HttpResponse& res) {
    Json b = ParseJsonBody(req);
    AssetRecord a;
    a.kind = "dataset";
    a.name = b.value("name", "");
    ValidateName("dataset name", a.name);
    a.definition = ValidateDatasetDefinition(b.value("definition", Json(nullptr)));
    a.definition_hash = DatasetDefinitionHash(a.definition);
    a.description = b.value("description", Json(nullptr)).is_string() ? b["description"] : "";
    a.tags = StringMap(b.value("tags", Json(nullptr)), "tag");
    a.id = NewDatasetId();
    bool created = false;
    AssetRecord stored =
        ctx.store.PutAsset(a,
                           b.value("create_new_version", false) ? AssetVersioning::kAlwaysNew
                                                                : AssetVersioning::kSameOrConflict,
                           &created);
    Send(res, DatasetJson(stored), created ? 201 : 200);
  }
  void ListDatasets(HttpRequest& req, HttpResponse& res) {
    if (!req.Query("id").empty()) {
      auto a = ctx.store.GetAssetById("dataset", req.Query("id"));
      if (!a) throw NotFound("no dataset with id '" + req.Query("id") + "'");
      Send(res, WithConsumers(*a));
      return;
    }
    Json arr = Json::array();
    for (const AssetRecord& a : ctx.store.ListAssets("dataset", "", true)) {
      arr.push_back(DatasetJson(a));
    }
    Send(res, {{"datasets", arr}});
  }

  // ----- environments -----
  void RegisterEnvironment(HttpRequest& req, HttpResponse& res) {
    Json b = ParseJsonBody(req);
    Json spec = EnvSpec::FromJson(b.value("spec", b)).ToJson();
    std::string name = spec.value("name", "");
    ValidateName("environment name", name);
    if (FindCuratedEnvironment(name)) {
      throw Conflict("'" + name + "' is a curated environment; register yours under another name");
    }
    spec["version"] = nullptr;
    AssetRecord a;
    a.kind = "environment";
    a.name = name;
    a.definition = spec;
    a.definition_hash = Sha256Hex(spec.dump());
    a.description = b.value("description", "");
    a.id = "environment:" + name + ":" + RandomHex(4);
    bool created = false;
    AssetRecord stored = ctx.store.PutAsset(a, AssetVersioning::kNewIfChanged, &created);
    Send(res, EnvironmentJson(stored), created ? 201 : 200);
  }
  void ListEnvironments(HttpResponse& res) {
    Json arr = Json::array();
    for (const CuratedEnvironment& c : CuratedEnvironments()) arr.push_back(CuratedJson(c));
    for (const AssetRecord& a : ctx.store.ListAssets("environment", "", true)) {
      arr.push_back(EnvironmentJson(a));
    }
    Send(res, {{"environments", arr}});
  }
  Json GetEnvironment(const std::string& name, int64_t version) {
    ValidateName("environment name", name);
    if (auto c = FindCuratedEnvironment(name)) {
      if (c->name != name) {
        // An Azure curated name (AzureML-*): its Trainyard counterpart, whatever Azure version
        // was asked (Azure's curated versions have no meaning here).
        Json j = CuratedJson(*c);
        j["requested_name"] = name;
        return j;
      }
      if (version > 1) throw NotFound("curated environment '" + name + "' has only version 1");
      return CuratedJson(*c);
    }
    auto a = ctx.store.GetAsset("environment", name, version);
    if (!a) {
      std::string known;
      for (const CuratedEnvironment& c : CuratedEnvironments()) {
        known += (known.empty() ? "" : ", ") + c.name;
      }
      size_t registered = 0;
      for (const AssetRecord& r : ctx.store.ListAssets("environment", "", true)) {
        if (++registered > 20) {
          known += ", ...";
          break;
        }
        known += ", " + r.name;
      }
      std::string azure;
      for (const CuratedAlias& al : CuratedAliases()) {
        azure += (azure.empty() ? "" : ", ") + al.pattern;
      }
      throw NotFound("environment '" + name + "'" +
                     (version ? " version " + std::to_string(version) : std::string()) +
                     " is not registered; available: " + known +
                     "; Azure curated names that resolve here: " + azure +
                     " (docs/ENVIRONMENTS_AZURE.md)");
    }
    return EnvironmentJson(*a);
  }
  void BuildEnvironment(HttpRequest& req, HttpResponse& res) {
    Json b = ParseJsonBody(req);
    Json spec;
    if (b.contains("spec")) {
      spec = b["spec"];
    } else {
      spec = GetEnvironment(b.value("name", ""),
                            ParseVersion(b.value("version", ""), "environment"))["spec"];
    }
    Json lines = Json::array();
    EnvSpec es = EnvSpec::FromJson(spec);
    if (es.docker_enabled)
      CheckContainerImageAtSubmission(es, ContainerSettings::FromEnvironment());
    auto start = std::chrono::steady_clock::now();
    MaterializedEnv env =
        EnvBuilder(EnvironmentCacheDir(ctx.data_dir)).Materialize(es, [&](std::string_view l) {
          lines.push_back(std::string(l));
        });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Send(res, {{"spec_hash", env.spec_hash},
               {"built_now", env.built_now},
               {"python", env.python_path.string()},
               {"env_dir", env.env_dir.string()},
               {"seconds", secs},
               {"log", lines}});
  }
  void ListEnvironmentCache(HttpResponse& res) {
    Json arr = Json::array();
    for (const CachedEnv& e : EnvBuilder(EnvironmentCacheDir(ctx.data_dir)).List()) {
      arr.push_back({{"spec_hash", e.spec_hash},
                     {"name", e.name},
                     {"python_version", e.python_version},
                     {"packages", e.packages},
                     {"size", DirSize(e.dir)},
                     {"created_utc", FormatIsoTime(e.created_millis)},
                     {"last_used_utc", FormatIsoTime(e.last_used_millis)},
                     {"path", e.dir.string()}});
    }
    Send(res, {{"environments", arr}});
  }
  void PruneEnvironmentCache(HttpRequest& req, HttpResponse& res) {
    Json b = ParseJsonBody(req);
    bool all = b.value("all", false);
    bool dry = b.value("dry_run", false);
    double unused_days = b.value("unused_days", -1.0);
    double older_days = b.value("older_than_days", -1.0);
    if (!all && unused_days < 0 && older_days < 0) {
      throw InvalidInput("prune needs unused_days, older_than_days or all=true");
    }
    const int64_t now = NowMillis();
    Json removed = Json::array();
    uint64_t freed = 0;
    const EnvBuilder builder(EnvironmentCacheDir(ctx.data_dir));
    for (const CachedEnv& e : builder.List()) {
      bool unused = unused_days >= 0 && now - e.last_used_millis >= unused_days * 86400000.0;
      bool old = older_days >= 0 && now - e.created_millis >= older_days * 86400000.0;
      if (!(all || unused || old)) continue;
      uint64_t size = DirSize(e.dir);
      // Under the environment's build lock (an environment being rebuilt is skipped).
      if (!dry && !builder.Remove(e)) continue;
      freed += size;
      removed.push_back({{"spec_hash", e.spec_hash}, {"name", e.name}, {"size", size}});
    }
    Send(res, {{"removed", removed},
               {"freed_bytes", freed},
               {"dry_run", dry},
               {"cache_dir", builder.cache_root().string()}});
  }

  // ----- run inputs -----
  // The files a resume_from names: {"run": ID} -> that run's outputs/ (paths relative to it),
  // {"datastore": NAME, "path": P} -> the file or folder P of the datastore.
  Json ResumeDefinition(const Json& from) {
    if (!from.is_object()) {
      throw InvalidInput(
          "resume_from must be a DataPath ({\"datastore\", \"path\"}) or "
          "{\"run\": RUN_ID}, got " +
          from.dump());
    }
    if (from.contains("run")) {
      if (!from["run"].is_string()) throw InvalidInput("resume_from.run must be a run id");
      const std::string id = from["run"];
      if (!ctx.store.GetRun(id)) {
        throw NotFound("resume_from: run '" + id + "' not found in this workspace");
      }
      Json files = Json::array();
      for (const ArtifactRecord& a : ctx.store.ListArtifacts(id)) {
        if (a.path.rfind("outputs/", 0) != 0 || a.path.size() == 8) continue;
        files.push_back({{"path", a.path.substr(8)},
                         {"sha256", a.sha256},
                         {"size", a.size},
                         {"source", {{"run", id}, {"path", a.path}}}});
      }
      return ValidateDatasetDefinition({{"type", "file"},
                                        {"sources", Json::array({from})},
                                        {"validated", true},
                                        {"files", files}});
    }
    if (from.contains("datastore")) {
      if (!from["datastore"].is_string() || !from.value("path", Json("")).is_string()) {
        throw InvalidInput("resume_from: a DataPath needs a datastore name and a path");
      }
      return CreateDatasetDefinition(
          {{"type", "file"},
           {"paths",
            Json::array({{{"datastore", from["datastore"]}, {"path", from.value("path", "")}}})}},
          ctx);
    }
    throw InvalidInput(
        "resume_from must be a DataPath ({\"datastore\", \"path\"}) or "
        "{\"run\": RUN_ID}, got " +
        from.dump());
  }

  Json ResolveInput(const Json& raw) {
    Json in = ValidateDatasetInputShape(raw);
    const Json& ref = in["dataset"];
    Json resolved = in;
    if (ref.contains("id") && ref["id"].is_string()) {
      auto a = ctx.store.GetAssetById("dataset", ref["id"]);
      if (!a)
        throw NotFound("dataset input '" + in["name"].get<std::string>() +
                       "': no dataset with id '" + ref["id"].get<std::string>() + "'");
      resolved["dataset"] = {{"id", a->id}, {"name", a->name}, {"version", a->version}};
      resolved["definition"] = a->definition;
    } else if (ref.contains("name") && ref["name"].is_string()) {
      int64_t v = ref.contains("version") && ref["version"].is_number_integer()
                      ? ref["version"].get<int64_t>()
                      : ParseVersion(ref.value("version", Json("latest")).is_string()
                                         ? ref.value("version", "latest")
                                         : std::string("latest"),
                                     "dataset");
      AssetRecord a = RequireDataset(ref["name"], v);
      resolved["dataset"] = {{"id", a.id}, {"name", a.name}, {"version", a.version}};
      resolved["definition"] = a.definition;
    } else if (ref.contains("definition")) {
      Json def = ValidateDatasetDefinition(ref["definition"]);
      resolved["dataset"] = {{"id", nullptr},
                             {"name", nullptr},
                             {"version", nullptr},
                             {"definition_hash", DatasetDefinitionHash(def)}};
      resolved["definition"] = def;
    } else {
      throw InvalidInput("dataset input '" + in["name"].get<std::string>() +
                         "': dataset needs 'id', 'name' or 'definition'");
    }
    return resolved;
  }
};

DataApi::DataApi(fs::path data_dir, MetadataStore& store, BlobStore& blobs)
    : impl_(std::make_unique<Impl>(std::move(data_dir), store, blobs)) {}
DataApi::~DataApi() = default;

bool DataApi::Handle(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& s) {
  if (s.size() < 3 || s[0] != "api" || s[1] != "v1") return false;
  const std::string& m = req.method;
  const size_t n = s.size();
  Impl& I = *impl_;
  auto method_not_allowed = [&] {
    throw Error("MethodNotAllowed", "method " + m + " is not allowed on " + req.path, 405);
  };
  if (s[2] == "datastores") {
    if (n == 3) {
      if (m == "GET") return I.ListDatastores(res), true;
      if (m == "POST") return I.RegisterDatastore(req, res), true;
      method_not_allowed();
    }
    if (n == 4) {
      if (m != "GET") method_not_allowed();
      Send(res, I.ctx.datastores.Get(s[3]).ToJson());
      return true;
    }
    if (n == 5 && s[4] == "upload") {
      if (m == "POST") return I.UploadLocalFiles(req, res, s[3]), true;
      method_not_allowed();
    }
    if (n == 5 && s[4] == "files") {
      if (m == "GET") return I.ListDatastoreFiles(req, res, s[3]), true;
      if (m == "POST") return I.AddDatastoreFiles(req, res, s[3]), true;
      method_not_allowed();
    }
    return false;
  }
  if (s[2] == "dataset-definitions" && n == 3) {
    if (m != "POST") method_not_allowed();
    Send(res, CreateDatasetDefinition(ParseJsonBody(req), I.ctx));
    return true;
  }
  if (s[2] == "dataset-files" && n == 3) {
    if (m != "POST") method_not_allowed();
    Json b = ParseJsonBody(req);
    Json def = ValidateDatasetDefinition(b.value("definition", Json(nullptr)));
    Send(res, {{"files", PinDatasetFiles(def, I.ctx)}});
    return true;
  }
  if (s[2] == "dataset-rows" && n == 3) {
    if (m != "POST") method_not_allowed();
    Json b = ParseJsonBody(req);
    Json def = ValidateDatasetDefinition(b.value("definition", Json(nullptr)));
    int64_t take = b.value("take", int64_t{0});
    if (take < 0) throw InvalidInput("take must be >= 0");
    Send(res, DataTableToJson(LoadTabularDataset(def, I.ctx, static_cast<size_t>(take))));
    return true;
  }
  if (s[2] == "datasets") {
    if (n == 3) {
      if (m == "GET") return I.ListDatasets(req, res), true;
      if (m == "POST") return I.RegisterDataset(req, res), true;
      method_not_allowed();
    }
    if (m != "GET") method_not_allowed();
    if (n == 4) {
      Send(res,
           I.WithConsumers(I.RequireDataset(s[3], ParseVersion(req.Query("version"), "dataset"))));
      return true;
    }
    if (n == 5 && s[4] == "versions") {
      I.RequireDataset(s[3], 0);
      Json arr = Json::array();
      for (const AssetRecord& a : I.ctx.store.ListAssets("dataset", s[3], false)) {
        arr.push_back(DatasetJson(a));
      }
      Send(res, {{"datasets", arr}});
      return true;
    }
    if (n == 6 && s[4] == "versions") {
      Send(res, I.WithConsumers(I.RequireDataset(s[3], ParseVersion(s[5], "dataset"))));
      return true;
    }
    return false;
  }
  if (s[2] == "environment-cache") {
    if (n == 3 && m == "GET") return I.ListEnvironmentCache(res), true;
    if (n == 4 && s[3] == "prune" && m == "POST") return I.PruneEnvironmentCache(req, res), true;
    if (n == 4 && s[3] == "build" && m == "POST") return I.BuildEnvironment(req, res), true;
    return false;
  }
  if (s[2] == "environments") {
    if (n == 3) {
      if (m == "GET") return I.ListEnvironments(res), true;
      if (m == "POST") return I.RegisterEnvironment(req, res), true;
      method_not_allowed();
    }
    if (m != "GET") method_not_allowed();
    if (n == 4) {
      Send(res, I.GetEnvironment(s[3], ParseVersion(req.Query("version"), "environment")));
      return true;
    }
    if (n == 5 && s[4] == "versions") {
      Json arr = Json::array();
      if (auto c = FindCuratedEnvironment(s[3])) {
        arr.push_back(CuratedJson(*c));
      } else {
        for (const AssetRecord& a : I.ctx.store.ListAssets("environment", s[3], false)) {
          arr.push_back(EnvironmentJson(a));
        }
        if (arr.empty()) I.GetEnvironment(s[3], 0);  // NotFound with the hint
      }
      Send(res, {{"environments", arr}});
      return true;
    }
    return false;
  }
  return false;
}

namespace {

// Returns the warnings (a Python pin this machine cannot satisfy) for the run's properties.
std::vector<std::string> RequireInstallable(const EnvSpec& es, const fs::path& data_dir) {
  // An unsatisfiable package fails the submit with what was asked and what this machine has
  // (env/install_check.h); a spec built before has nothing to ask pip's index about, and its
  // Python pin still warns.
  const bool cached = EnvBuilder(EnvironmentCacheDir(data_dir)).IsCached(es);
  InstallCheck check = CheckInstallPlan(MakeInstallPlan(es), InstalledPythons(),
                                        cached ? VersionLister() : PipIndexVersionLister());
  if (check.errors.empty()) return check.warnings;
  std::string msg = "environment '" + (es.name.empty() ? std::string("(unnamed)") : es.name) +
                    "' cannot be built on this machine: ";
  for (size_t i = 0; i < check.errors.size(); ++i) msg += (i ? "; " : "") + check.errors[i];
  throw InvalidInput(msg + ". Change the version pins in the environment's dependencies");
}

}  // namespace

void DataApi::ResolveRunConfig(Json& config) {
  Json inputs = Json::array();
  std::map<std::string, Json> by_name;
  auto add = [&](const Json& raw) {
    Json r = impl_->ResolveInput(raw);
    const std::string name = r["name"];
    auto it = by_name.find(name);
    if (it != by_name.end()) {
      if (it->second["dataset"] != r["dataset"] || it->second["mode"] != r["mode"] ||
          it->second["path_on_compute"] != r["path_on_compute"]) {
        throw InvalidInput("two dataset inputs are named '" + name +
                           "'; give them distinct names with as_named_input(name)");
      }
      return name;
    }
    by_name[name] = r;
    inputs.push_back(r);
    return name;
  };
  if (config.contains("arguments") && config["arguments"].is_array()) {
    for (Json& a : config["arguments"]) {
      if (a.is_object() && a.contains("dataset_input") && a["dataset_input"].is_object()) {
        a = Json{{"dataset_input", add(a["dataset_input"])}};
      }
    }
  }
  if (config.contains("inputs") && !config["inputs"].is_null()) {
    if (!config["inputs"].is_array()) throw InvalidInput("inputs must be a list of dataset inputs");
    for (const Json& i : config["inputs"]) {
      add(i.is_object() && i.contains("dataset_input") ? i["dataset_input"] : i);
    }
  }
  if (config.contains("resume_from") && !config["resume_from"].is_null()) {
    // Azure's resume_from (a DataPath) and HyperDrive's resume_child_runs (a run's outputs):
    // the checkpoint files are downloaded for the script, which gets `--resume-from <dir>` and
    // AZUREML_DATAREFERENCE_MODEL_LOCATION=<dir>.
    Json def = impl_->ResumeDefinition(config["resume_from"]);
    const std::string name = add(
        Json{{"name", kResumeInputName}, {"mode", "download"}, {"dataset", {{"definition", def}}}});
    // A command run has no argument list to extend: it gets the variable only (its command
    // can say $AZUREML_DATAREFERENCE_MODEL_LOCATION).
    const bool command_run = config.contains("command") && !config["command"].is_null() &&
                             !(config.contains("script") && config["script"].is_string());
    if (!command_run) {
      if (!config.contains("arguments") || !config["arguments"].is_array()) {
        config["arguments"] = Json::array();
      }
      config["arguments"].push_back("--resume-from");
      config["arguments"].push_back(Json{{"dataset_input", name}});
    }
  }
  if (!inputs.empty()) {
    config["inputs"] = inputs;
  } else {
    config.erase("inputs");
  }
  const Json& env = config.value("environment", Json(nullptr));
  if (env.is_object()) {
    EnvSpec es = EnvSpec::FromJson(env);
    if (es.docker_enabled) {
      CheckContainerImageAtSubmission(es, ContainerSettings::FromEnvironment());
    } else if (!es.user_managed_dependencies) {
      const Json& target = config.value("compute_target", Json(nullptr));
      if (target.is_null() || target == "local") {
        std::vector<std::string> warnings = RequireInstallable(es, impl_->ctx.data_dir);
        if (!warnings.empty()) config["environment_warnings"] = warnings;
      }
    }
  }
}

void DataApi::RecordRunInputs(const std::string& run_id, const Json& def) {
  std::vector<RunInputRecord> rows;
  for (const Json& in : def.value("inputs", Json::array())) {
    RunInputRecord r;
    r.run_id = run_id;
    r.kind = "dataset";
    const Json& ds = in.value("dataset", Json::object());
    r.name = ds.value("name", Json(nullptr)).is_string() ? ds["name"].get<std::string>() : "";
    r.version = ds.value("version", Json(nullptr)).is_number() ? ds["version"].get<int64_t>() : 0;
    r.asset_id = ds.value("id", Json(nullptr)).is_string() ? ds["id"].get<std::string>()
                                                           : ds.value("definition_hash", "");
    r.input_name = in.value("name", "");
    r.mode = in.value("mode", "mount");
    rows.push_back(r);
  }
  impl_->ctx.store.AddRunInputs(rows);
}

Json DataApi::RunInputsJson(const std::string& run_id) {
  return RunInputsJson(impl_->ctx.store.ListRunInputs(run_id));
}

Json DataApi::RunInputsJson(const std::vector<RunInputRecord>& inputs) {
  Json arr = Json::array();
  for (const RunInputRecord& r : inputs) {
    arr.push_back({{"input_name", r.input_name},
                   {"mode", r.mode},
                   {"name", r.name.empty() ? Json(nullptr) : Json(r.name)},
                   {"version", r.version ? Json(r.version) : Json(nullptr)},
                   {"id", r.asset_id}});
  }
  return arr;
}

}  // namespace trainyard
