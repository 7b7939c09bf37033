#include "server/run_access.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <string_view>

#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "net/http_types.h"
#include "runner/snapshot_builder.h"
#include "store/run_tokens.h"

namespace trainyard {
using Json = nlohmann::json;

namespace {

[[noreturn]] void Forbid(const std::string& what) {
  throw Error("Forbidden",
              "a run's token cannot " + what +
                  "; run tokens reach only their run, its child runs and the workspace reads a "
                  "run needs (use the workspace token from .trainyard/config.json outside a run)",
              403);
}

// Nesting depth of JSON text (brackets outside strings), without parsing it.
size_t JsonDepth(std::string_view text) {
  size_t depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

Json BodyJson(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  if (JsonDepth(req.body) > 128) {
    throw InvalidInput("request body is nested more than 128 levels deep", "InvalidJson");
  }
  Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded()) throw InvalidInput("request body is not valid JSON", "InvalidJson");
  return j;
}

bool IsUrl(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

}  // namespace

std::string RunAccess::Authenticate(const std::string& auth, const std::string& workspace_token) {
  if (auth.empty()) {
    throw Unauthorized(
        "missing 'Authorization: Bearer <token>' header; the token is in "
        ".trainyard/config.json");
  }
  // The scheme is case-insensitive (RFC 7235): net/http_types.h's BearerToken parses it.
  auto given = BearerToken(auth);
  if (!given) {
    throw Unauthorized(
        "invalid token (send 'Authorization: Bearer <token>', the token of "
        ".trainyard/config.json)");
  }
  std::string_view tok = *given;
  if (tok.size() == workspace_token.size() &&
      CRYPTO_memcmp(tok.data(), workspace_token.data(), tok.size()) == 0) {
    return "";
  }
  if (!IsRunTokenShape(tok)) throw Unauthorized("invalid token");
  const std::string hash = HashRunToken(tok);
  // The store deletes a run's tokens in the transaction that makes the run terminal, so a
  // token row exists exactly while its run is active: one primary-key lookup per request.
  if (auto found = store_.FindRunToken(hash)) {
    std::lock_guard lk(mu_);
    if (token_runs_.size() > 100000) token_runs_.clear();
    token_runs_[hash] = *found;  // remembered only to explain a refusal later
    return *found;
  }
  std::string run_id;
  {
    std::lock_guard lk(mu_);
    auto it = token_runs_.find(hash);
    if (it != token_runs_.end()) {
      run_id = it->second;
      token_runs_.erase(it);
      family_.erase(run_id);
      grants_.erase(run_id);
    }
  }
  if (run_id.empty()) throw Unauthorized("invalid token (a run's token ends with its run)");
  auto run = store_.GetRun(run_id);
  throw Unauthorized("this run token is no longer valid: run '" + run_id + "' is " +
                     (run ? run->status : std::string("gone")) +
                     " (a run's token ends with its run)");
}

RunAccess::Relation RunAccess::RelationTo(const std::string& caller, const std::string& run_id) {
  if (run_id == caller) return Relation::kSelfOrDescendant;
  {
    std::lock_guard lk(mu_);
    auto it = family_.find(caller);
    if (it != family_.end() && it->second.count(run_id)) return Relation::kSelfOrDescendant;
  }
  // Walk up from run_id: a descendant reaches the caller.
  std::string cur = run_id;
  for (int depth = 0; depth < 64; ++depth) {
    auto r = store_.GetRun(cur);
    if (!r || r->parent_id.empty()) break;
    if (r->parent_id == caller) {
      std::lock_guard lk(mu_);
      if (family_.size() > 1000) family_.clear();
      auto& fam = family_[caller];
      if (fam.size() < 100000) fam.insert(run_id);
      return Relation::kSelfOrDescendant;
    }
    cur = r->parent_id;
  }
  // Walk up from the caller: an ancestor is on the way.
  cur = caller;
  for (int depth = 0; depth < 64; ++depth) {
    auto r = store_.GetRun(cur);
    if (!r || r->parent_id.empty()) break;
    if (r->parent_id == run_id) return Relation::kAncestor;
    cur = r->parent_id;
  }
  return Relation::kNone;
}

void RunAccess::RequireRun(const std::string& caller, const std::string& run_id, bool write) {
  Relation rel = RelationTo(caller, run_id);
  if (rel == Relation::kSelfOrDescendant) return;
  if (rel == Relation::kAncestor && !write) return;
  if (rel == Relation::kAncestor)
    Forbid("change its parent run '" + run_id + "' (only read it and log metrics)");
  Forbid("reach run '" + run_id + "', which is not its run or one of its child runs");
}

void RunAccess::RequireRunWrite(const HttpRequest& req, const std::string& run_id) {
  if (req.run_scope.empty()) return;
  Relation rel = RelationTo(req.run_scope, run_id);
  if (rel == Relation::kNone) {
    Forbid("log to run '" + run_id + "', which is not its run or one of its child runs");
  }
}

void RunAccess::CheckDefinitionReadsOnlyBlobs(const Json& def) {
  if (!def.is_object()) return;  // the handler reports the shape
  for (const Json& f : def.value("files", Json::array())) {
    if (!f.is_object()) continue;
    const Json src = f.value("source", Json::object());
    if (!src.is_object() || !src.contains("local")) continue;
    std::string sha = f.value("sha256", "");
    if (sha.empty() || !IsSha256Hex(sha) || !blobs_.Has(sha)) {
      Forbid("read the server's local file for dataset file '" + f.value("path", "") +
             "' (only registered or stored content)");
    }
  }
  for (const Json& s : def.value("sources", Json::array())) {
    if (s.is_string() && !IsUrl(s.get<std::string>()) && !def.value("validated", false)) {
      Forbid("resolve the local path '" + s.get<std::string>() + "' on the server");
    }
  }
}

bool RunAccess::BlobAllowed(const std::string& caller, const std::string& sha) {
  {
    std::lock_guard lk(mu_);
    auto it = grants_.find(caller);
    if (it != grants_.end() && it->second.count(sha)) return true;
  }
  // Recompute what the run is entitled to (a miss is rare: a new artifact or model).
  std::set<std::string> g;
  auto run = store_.GetRun(caller);
  if (!run) return false;
  if (!run->snapshot_id.empty() && blobs_.Has(run->snapshot_id)) {
    g.insert(run->snapshot_id);
    try {
      for (auto& f : LoadManifest(blobs_, run->snapshot_id)) g.insert(f.sha256);
    } catch (const std::exception&) {
    }
  }
  for (const Json& in : run->definition.value("inputs", Json::array())) {
    if (!in.is_object()) continue;
    for (const Json& f : in.value("definition", Json::object()).value("files", Json::array())) {
      if (f.is_object() && f.contains("sha256") && f["sha256"].is_string()) g.insert(f["sha256"]);
    }
  }
  RunFilter desc;
  desc.parent_id = caller;
  desc.recursive = true;
  std::vector<std::string> mine = {caller};
  for (auto& r : store_.ListRuns(desc)) mine.push_back(r.id);
  for (auto& id : mine) {
    for (auto& a : store_.ListArtifacts(id)) g.insert(a.sha256);
  }
  for (auto& m : store_.ListModels(ModelFilter{})) {
    for (const Json& f : m.files) {
      if (f.is_object() && f.contains("sha256") && f["sha256"].is_string()) g.insert(f["sha256"]);
    }
  }
  std::lock_guard lk(mu_);
  if (grants_.size() > 1000) grants_.clear();  // a cache: recomputed on the next miss
  auto& have = grants_[caller];
  have.insert(g.begin(), g.end());
  return have.count(sha) > 0;
}

void RunAccess::Authorize(const std::string& caller, const HttpRequest& req,
                          const std::vector<std::string>& segs) {
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  // The portal URL of a run: /runs/{id}.
  if (segs.size() == 2 && segs[0] == "runs") return RequireRun(caller, segs[1], !get);
  if (segs.size() < 3 || segs[0] != "api" || segs[1] != "v1") Forbid(m + " " + req.path);
  const std::string& what = segs[2];
  const size_t n = segs.size();
  if (what == "workspace" && get) return;
  if (what == "experiments") {
    if (n <= 3 && get) return;  // list / one experiment
    if (n == 4 && get) return;
    if (n == 4 && m == "PUT") {
      auto run = store_.GetRun(caller);
      if (run && run->experiment == segs[3]) return;
      Forbid("create experiment '" + segs[3] + "'");
    }
    if (n == 5 && segs[4] == "runs" && m == "POST") {
      Json body = BodyJson(req);
      std::string parent =
          body.is_object() && body.contains("parent_id") && body["parent_id"].is_string()
              ? body["parent_id"].get<std::string>()
              : std::string();
      if (parent.empty()) Forbid("create a run that is not a child of its run");
      Relation rel = RelationTo(caller, parent);
      if (rel != Relation::kSelfOrDescendant) {
        Forbid("create a child of run '" + parent + "', which is not its run");
      }
      return;
    }
    if (n == 5 && segs[4] == "runs") Forbid("list the experiment's runs");
    Forbid(m + " " + req.path);
  }
  if (what == "runs" && n >= 4) {
    if (n == 5 && segs[4] == "token") Forbid("mint run tokens");
    bool metric_post = m == "POST" && n >= 5 && segs[4] == "metrics";
    return RequireRun(caller, segs[3], !get && !metric_post);
  }
  if (what == "blobs") {
    if (n == 4 && segs[3] == "missing" && m == "POST") return;
    if (n == 4 && m == "PUT") return;
    if (n == 4 && get) {
      if (BlobAllowed(caller, segs[3])) return;
      Forbid("download blob " + segs[3] +
             ", which is not part of its run's snapshot, inputs, datasets, artifacts or models");
    }
    Forbid(m + " " + req.path);
  }
  if (what == "models") {
    if (get) return;
    if (n == 3 && m == "POST") {
      Json body = BodyJson(req);
      if (body.is_object() && body.contains("run_id") && body["run_id"].is_string()) {
        std::string rid = body["run_id"];
        if (RelationTo(caller, rid) != Relation::kSelfOrDescendant) {
          Forbid("register a model from run '" + rid + "', which is not its run");
        }
      } else if (body.is_object() && body.contains("files") && body["files"].is_array()) {
        // Files by hash: only content the run uploaded or may read (no hash guessing).
        for (const Json& f : body["files"]) {
          std::string sha = f.is_object() ? f.value("sha256", "") : "";
          if (!sha.empty() && !BlobAllowed(caller, sha)) {
            Forbid("register blob " + sha + " as a model file without uploading it first");
          }
        }
      }
      return;
    }
    Forbid(m + " " + req.path);
  }
  if (what == "datastores" && n == 5 && segs[4] == "files" && m == "POST") {
    // Adding blobs to a datastore by hash: only content the run uploaded or may read.
    Json body = BodyJson(req);
    if (!body.is_object() || !body.contains("files") || !body["files"].is_array()) return;
    for (const Json& f : body["files"]) {
      std::string sha = f.is_object() ? f.value("sha256", "") : "";
      if (!sha.empty() && !BlobAllowed(caller, sha)) {
        Forbid("add blob " + sha + " to a datastore without uploading it first");
      }
    }
    return;
  }
  if (what == "datasets" || what == "datastores" || what == "environments") {
    if (get) return;
    Forbid("change " + what + " (" + m + " " + req.path + ")");
  }
  if ((what == "dataset-files" || what == "dataset-rows") && n == 3 && m == "POST") {
    Json body = BodyJson(req);
    if (body.is_object()) CheckDefinitionReadsOnlyBlobs(body.value("definition", Json()));
    return;
  }
  if (what == "dataset-definitions" && n == 3 && m == "POST") {
    Json body = BodyJson(req);
    if (body.is_object()) {
      for (const Json& p : body.value("paths", Json::array())) {
        if (p.is_string() && !IsUrl(p.get<std::string>())) {
          Forbid("make the server read its local path '" + p.get<std::string>() +
                 "' (use a datastore path or a URL)");
        }
      }
    }
    return;
  }
  Forbid(m + " " + req.path);
}

void RunAccess::Observe(const std::string& caller, const std::vector<std::string>& segs,
                        const HttpResponse& res) {
  if (res.status / 100 != 2) return;
  if (segs.size() == 4 && segs[2] == "blobs" && segs[3] != "missing") {  // PUT: uploaded
    std::lock_guard lk(mu_);
    grants_[caller].insert(segs[3]);
    return;
  }
  // Files listed by a datastore (readable workspace-wide) or pinned for a dataset become
  // downloadable by this run.
  bool datastore_files = segs.size() == 5 && segs[2] == "datastores" && segs[4] == "files";
  if (!datastore_files && (segs.size() != 3 || segs[2] != "dataset-files")) return;
  Json j = Json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_array()) return;
  std::lock_guard lk(mu_);
  auto& g = grants_[caller];
  for (const Json& f : j["files"]) {
    if (f.is_object() && f.contains("sha256") && f["sha256"].is_string()) g.insert(f["sha256"]);
  }
}

bool RunAccess::HandleRoute(const std::string& caller, HttpRequest& req, HttpResponse& res,
                            const std::vector<std::string>& segs) {
  if (!caller.empty() && req.method == "POST" && segs.size() == 4 && segs[2] == "blobs" &&
      segs[3] == "missing") {
    // For a run token, a blob it may not read counts as missing: it uploads it (and so shows
    // it has the content) instead of learning that it exists.
    Json body = BodyJson(req);
    Json missing = Json::array();
    if (!body.is_object() || !body.contains("sha256") || !body["sha256"].is_array()) {
      throw InvalidInput("body must be {\"sha256\": [..]}");
    }
    for (const Json& s : body["sha256"]) {
      if (!s.is_string()) throw InvalidInput("sha256 entries must be strings");
      std::string sha = s;
      if (!blobs_.Has(sha) || !BlobAllowed(caller, sha)) missing.push_back(sha);
    }
    res.status = 200;
    res.content_type = "application/json";
    res.body = Json{{"missing", missing}}.dump();
    return true;
  }
  if (!(segs.size() == 5 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "runs" &&
        segs[4] == "token")) {
    return false;
  }
  if (req.method != "POST") {
    throw Error("MethodNotAllowed", "method " + req.method + " is not allowed on " + req.path, 405);
  }
  if (!caller.empty()) Forbid("mint run tokens");
  ValidateRunId("run id", segs[3]);
  auto run = store_.GetRun(segs[3]);
  if (!run) throw NotFound("run '" + segs[3] + "' not found");
  if (IsTerminalStatus(run->status)) {
    throw Conflict("run '" + run->id + "' is " + run->status + "; a finished run gets no token");
  }
  std::string token = MintRunToken(store_, run->id);
  res.status = 201;
  res.content_type = "application/json";
  res.body = Json{{"run_id", run->id}, {"token", token}}.dump();
  return true;
}

}  // namespace trainyard
