#include "server/api.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <functional>
#include <regex>
#include <sstream>

#include "common/confined_fs.h"
#include "common/error.h"
#include "common/json_limits.h"
#include "common/utf8.h"
#include "common/util.h"
#include "common/validation.h"
#include "runner/launcher.h"
#include "runner/submission.h"
#include "server/data_api.h"
#include "server/run_access.h"
#include "server/run_json.h"
#include "server/run_query_api.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

using Params = std::vector<std::string>;  // captured path segments, in order

// Request body caps, checked on the request head before any body byte is read (docs/REST.md).
constexpr uint64_t kNoBody = 64ull << 10;     // GET, DELETE
constexpr uint64_t kJsonBody = 16ull << 20;   // JSON routes
constexpr uint64_t kAgentBody = 64ull << 20;  // log appends, metric batches and spools
constexpr uint64_t kUploadBody = 2ull << 30;  // artifacts, blobs: streamed to objects/tmp

uint64_t DefaultBodyLimit(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" ? kJsonBody : kNoBody;
}

struct Route {
  std::string method;
  std::vector<std::string> parts;  // literal, ":x" one segment, "*x" rest of path
  std::function<void(HttpRequest&, HttpResponse&, const Params&)> fn;
  uint64_t body_limit = 0;  // 0: DefaultBodyLimit(method)
  bool streamed = false;    // the body is streamed to a temp file (HttpRequest::body_file)
};

std::vector<std::string> SplitPath(const std::string& path) { return PathSegments(path); }

// Splits the raw (still percent-encoded) path so that an encoded '/' in a name stays inside
// its segment; each segment is decoded afterwards.
std::vector<std::string> SplitRawPath(const std::string& target) {
  std::string raw = target.substr(0, target.find('?'));
  auto parts = SplitPath(raw);
  for (auto& s : parts) s = UrlDecode(s, false);
  return parts;
}

bool Match(const Route& r, const std::vector<std::string>& segs, Params& out) {
  out.clear();
  size_t i = 0;
  for (size_t k = 0; k < r.parts.size(); ++k) {
    const std::string& p = r.parts[k];
    if (p[0] == '*') {
      if (i >= segs.size()) return false;
      std::string rest;
      for (size_t j = i; j < segs.size(); ++j) rest += (j > i ? "/" : "") + segs[j];
      out.push_back(rest);
      return true;
    }
    if (i >= segs.size()) return false;
    if (p[0] == ':') {
      out.push_back(segs[i]);
    } else if (p != segs[i]) {
      return false;
    }
    ++i;
  }
  return i == segs.size();
}

// Every JSON body goes through the bounded parser (common/json_limits.h): depth and size are
// checked before any handler sees the value.
Json ParseBody(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  return ParseJsonBounded(req.body, "request body");
}

// The first `size` bytes of an open file as a streamed answer (HttpResponse::stream), 1 MiB a
// piece. A file cut shorter meanwhile ends the answer with an error (a truncated download).
std::function<bool(std::string&)> StreamFd(UniqueFd fd, uint64_t size, std::string what) {
  auto f = std::make_shared<UniqueFd>(std::move(fd));
  auto off = std::make_shared<uint64_t>(0);
  return [f, off, size, what](std::string& out) {
    uint64_t n = std::min<uint64_t>(size - *off, 1u << 20);
    size_t at = out.size();
    out.resize(at + n);
    size_t got = 0;
    while (got < n) {
      ssize_t k = ::pread(f->get(), out.data() + at + got, n - got, static_cast<off_t>(*off + got));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) ThrowErrno("read " + what);
      if (k == 0) throw InternalError(what + " became shorter while it was being sent");
      got += static_cast<size_t>(k);
    }
    *off += n;
    return *off < size;
  };
}

void SendJson(HttpResponse& res, const Json& j, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A whole live log sent as an artifact download; larger ones are read in parts through
// GET /runs/{id}/logs/{name}?offset=.
constexpr uint64_t kMaxLogResponseBytes = 64ull << 20;

std::string ReadFd(int fd, uint64_t max, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) ThrowErrno("stat " + what);
  if (static_cast<uint64_t>(st.st_size) > max) {
    throw PayloadTooLarge(what + " is " + std::to_string(st.st_size) +
                          " bytes, more than one answer carries (" + std::to_string(max >> 20) +
                          " MiB); read it in parts with GET .../logs/{name}?offset=N");
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t k = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) ThrowErrno("read " + what);
    if (k == 0) break;
    got += static_cast<size_t>(k);
  }
  data.resize(got);
  return data;
}

// Errors of std::filesystem calls in handlers, mapped like the errno of a failed call (a full
// disk is 507, not 500).
[[noreturn]] void RethrowFilesystemError(const fs::filesystem_error& e) {
  ThrowOsError(e.code().value(), e.what());
}

Json TimeOrNull(int64_t ms) { return ms > 0 ? Json(FormatIsoTime(ms)) : Json(nullptr); }

// "k=v" or "k" filters from repeated query parameters.
std::vector<std::pair<std::string, std::optional<std::string>>> KvFilters(
    const std::vector<std::string>& raw) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  for (const auto& s : raw) {
    auto eq = s.find('=');
    if (eq == std::string::npos) {
      out.emplace_back(s, std::nullopt);
    } else {
      out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
  }
  return out;
}

// Tag/property values are strings; numbers and booleans are converted as Azure does.
Json StringValues(const Json& in, const char* what) {
  if (!in.is_object()) throw InvalidInput(std::string(what) + " must be a JSON object");
  Json out = Json::object();
  for (auto& [k, v] : in.items()) {
    ValidateKey(std::string(what) + " key", k);
    if (v.is_string()) {
      out[k] = v;
    } else if (v.is_null()) {
      out[k] = "";
    } else if (v.is_primitive()) {
      out[k] = v.dump();
    } else {
      throw InvalidInput(std::string(what) + " '" + k + "' must be a string, number or boolean");
    }
  }
  return out;
}

bool ParseBool(const std::string& s) { return s == "1" || s == "true" || s == "True"; }

bool IsMetricKind(const std::string& k) {
  return k == "scalar" || k == "list" || k == "row" || k == "table" || k == "image";
}

// Fast path for the spool lines the SDK and run.h write:
//   {"r":"<id>","n":"<name>","k":"<kind>","v":<number or plain string>,"t":<int>[,"s":<int>]}
// Returns false (the caller falls back to the JSON parser) for anything else: escapes, nested
// values, booleans, other keys.
bool ParseSpoolLineFast(std::string_view line, MetricPoint& pt) {
  // Bytes that are not UTF-8 go to the JSON parser, which refuses them: stored, they made
  // every later dump() of the run's metrics throw.
  if (!IsValidUtf8(line)) return false;
  size_t i = 0;
  auto expect = [&](char c) {
    if (i < line.size() && line[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  auto plain_string = [&](std::string_view* out) {
    if (!expect('"')) return false;
    size_t start = i;
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\' || static_cast<unsigned char>(line[i]) < 0x20) return false;
      ++i;
    }
    if (i >= line.size()) return false;
    *out = line.substr(start, i - start);
    ++i;
    return true;
  };
  auto number = [&](Json* out) {
    size_t start = i;
    bool is_float = false;
    while (i < line.size() && line[i] != ',' && line[i] != '}') {
      char c = line[i];
      if (c == '.' || c == 'e' || c == 'E')
        is_float = true;
      else if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+'))
        return false;
      ++i;
    }
    const char* b = line.data() + start;
    const char* e = line.data() + i;
    if (b == e) return false;
    if (is_float) {
      double d;
      auto r = std::from_chars(b, e, d);
      if (r.ec != std::errc() || r.ptr != e) return false;
      *out = d;
    } else {
      int64_t v;
      auto r = std::from_chars(b, e, v);
      if (r.ec != std::errc() || r.ptr != e) return false;
      *out = v;
    }
    return true;
  };
  if (!expect('{')) return false;
  bool have_name = false;
  for (;;) {
    std::string_view key;
    if (!plain_string(&key) || !expect(':') || key.size() != 1) return false;
    switch (key[0]) {
      case 'r':
      case 'n':
      case 'k': {
        std::string_view v;
        if (!plain_string(&v)) return false;
        (key[0] == 'r' ? pt.run_id : key[0] == 'n' ? pt.name : pt.kind) = std::string(v);
        have_name = have_name || key[0] == 'n';
        break;
      }
      case 'v':
        if (i < line.size() && line[i] == '"') {
          std::string_view v;
          if (!plain_string(&v)) return false;
          pt.value = std::string(v);
        } else if (!number(&pt.value)) {
          return false;
        }
        break;
      case 't':
      case 's': {
        Json n;
        if (!number(&n) || !n.is_number_integer()) return false;
        if (key[0] == 't')
          pt.time = n.get<int64_t>();
        else
          pt.step = n.get<int64_t>();
        break;
      }
      default:
        return false;
    }
    if (expect('}')) return have_name && i == line.size();
    if (!expect(',')) return false;
  }
}

}  // namespace

struct Api::Impl {
  ApiContext ctx;
  std::vector<Route> routes;

  std::unique_ptr<DataApi> data;         // datastores, datasets, environment registry (data_api.h)
  std::unique_ptr<RunQueryApi> queries;  // run listings, metrics, series (run_query_api.h)
  RunAccess access;                      // run tokens: who may do what (run_access.h)

  explicit Impl(ApiContext c)
      : ctx(std::move(c)),
        data(std::make_unique<DataApi>(ctx.data_dir, *ctx.store, *ctx.blobs)),
        access(*ctx.store, *ctx.blobs) {
    queries = std::make_unique<RunQueryApi>(
        *ctx.store, [this](const RunRecord& r) { return RunJson(r); },
        [this](const std::vector<RunRecord>& runs, const std::map<std::string, Json>* latest) {
          return RunsJsonText(runs, latest);
        });
    Register();
  }

  // Live logs are files beneath logs/, opened without following symlinks (confined_fs.h).
  fs::path LogsRoot() const { return ctx.data_dir / "logs"; }
  static std::string LogRel(const std::string& run_id, const std::string& name) {
    return run_id + "/" + name;
  }
  static std::string LogWhat(const std::string& run_id, const std::string& name) {
    return "log '" + name + "' of run '" + run_id + "'";
  }

  // The run's live log files (relative name, size), written through POST .../logs/{name}.
  std::vector<std::pair<std::string, uint64_t>> LiveLogs(const std::string& run_id) const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (auto& e : ListFilesBeneath(LogsRoot(), run_id)) out.emplace_back(e.rel, e.size);
    return out;
  }

  RunRecord RequireRun(const std::string& id) {
    ValidateRunId("run id", id);
    auto r = ctx.store->GetRun(id);
    if (!r) throw NotFound("run '" + id + "' not found");
    return *r;
  }

  // The run object (docs/REST.md), written as text by AppendRunJson (server/run_json.h).
  Json RunJson(const RunRecord& r) {
    auto logs = LiveLogs(r.id);
    auto inputs = ctx.store->ListRunInputs(r.id);
    std::string text;
    AppendRunJson(text, r, {&ctx.server_url, &logs, &inputs, nullptr});
    return Json::parse(text);
  }

  // A page of run objects as JSON text: their inputs in one query, a log-directory scan only
  // for runs that have a log directory; with `latest`, each gets "metrics" from it.
  std::vector<std::string> RunsJsonText(const std::vector<RunRecord>& runs,
                                        const std::map<std::string, Json>* latest) {
    std::vector<std::string> ids;
    ids.reserve(runs.size());
    for (auto& r : runs) ids.push_back(r.id);
    auto inputs = ctx.store->ListRunInputsOf(ids);
    UniqueFd logs_dir(::open(LogsRoot().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    static const std::vector<RunInputRecord> kNoInputs;
    static const Json kNoMetrics = Json::object();
    std::vector<std::string> out;
    out.reserve(runs.size());
    for (auto& r : runs) {
      struct stat st {};
      std::vector<std::pair<std::string, uint64_t>> logs;
      if (logs_dir && ::fstatat(logs_dir.get(), r.id.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        logs = LiveLogs(r.id);
      }
      auto in = inputs.find(r.id);
      const Json* metrics = nullptr;
      if (latest) {
        auto m = latest->find(r.id);
        metrics = m == latest->end() ? &kNoMetrics : &m->second;
      }
      std::string text;
      AppendRunJson(
          text, r,
          {&ctx.server_url, &logs, in == inputs.end() ? &kNoInputs : &in->second, metrics});
      out.push_back(std::move(text));
    }
    return out;
  }

  void Register();
  void Add(std::string method, const std::string& pattern,
           std::function<void(HttpRequest&, HttpResponse&, const Params&)> fn,
           uint64_t body_limit = 0) {
    routes.push_back({std::move(method), SplitPath(pattern), std::move(fn), body_limit,
                      body_limit == kUploadBody});
  }

  // ----- runs -----
  void CreateRun(HttpRequest& req, HttpResponse& res, const Params& p) {
    const std::string& exp = p[0];
    ValidateName("experiment name", exp);
    Json body = ParseBody(req);
    if (!body.is_object()) throw InvalidInput("request body must be a JSON object");
    std::string kind = body.value("kind", "interactive");
    RunRecord r;
    r.experiment = exp;
    r.kind = kind;
    r.created = NowMillis();
    if (body.contains("run_id") && !body["run_id"].is_null()) {
      r.id = body["run_id"].get<std::string>();
      ValidateRunId("run_id", r.id);
    } else {
      r.id = exp + "_" + std::to_string(r.created / 1000) + "_" + RandomHex(4);
    }
    if (body.contains("parent_id") && !body["parent_id"].is_null()) {
      r.parent_id = body["parent_id"].get<std::string>();
      auto parent = RequireRun(r.parent_id);
      r.experiment = parent.experiment;
    }
    if (body.contains("display_name") && body["display_name"].is_string()) {
      r.display_name = body["display_name"];
    }
    r.tags = StringValues(body.value("tags", Json::object()), "tag");
    r.properties = StringValues(body.value("properties", Json::object()), "property");

    // An AutoML run submitted with a config runs its driver through the agent, as a script.
    if (kind == "script" || (kind == "automl" && body.contains("config"))) {
      if (!body.contains("config") || !body["config"].is_object()) {
        throw InvalidInput("a script run needs 'config' (source_directory, script or command)");
      }
      // The target first: an unknown or failed one is refused before anything is stored.
      const Json& target = body["config"].value("compute_target", Json(nullptr));
      if (!target.is_null() && !target.is_string()) {
        throw InvalidInput("config.compute_target must be a compute target's name");
      }
      ctx.compute->RequireUsable(target.is_string() ? target.get<std::string>() : "local");
      // The declared processes must fit the target: never one process instead of N.
      {
        const std::string tname = target.is_string() ? target.get<std::string>() : "local";
        RankPlan plan = PlanRanks(body["config"]);
        ctx.compute->RequireNodes(tname, plan.node_count);
        if (plan.use_gpu) ctx.compute->RequireGpus(tname, plan.processes_per_node);
        RequireNoContainerForRanks(plan, body["config"].value("environment", Json(nullptr)));
      }
      data->ResolveRunConfig(body["config"]);  // dataset inputs, container image: fail early
      if (body["config"].contains("environment_warnings")) {
        // A Python pin this machine cannot satisfy (the build uses the newest Python 3): said
        // at submission (the SDK prints it), not only in the build log (issue 18).
        std::string text;
        for (const Json& w : body["config"]["environment_warnings"]) {
          text += (text.empty() ? "" : "; ") + w.get<std::string>();
        }
        r.properties["environment_warning"] = text;
        body["config"].erase("environment_warnings");
      }
      SubmissionLimits limits{ctx.snapshot_max_bytes, ctx.snapshot_max_files};
      PreparedSubmission sub = PrepareSubmission(body["config"], *ctx.blobs, limits);
      r.definition = sub.definition;
      r.compute_target = sub.compute_target;
      r.snapshot_id = sub.snapshot_id;
      r.git = sub.git;
      r.status = "Queued";
      ctx.store->CreateRun(r);
      data->RecordRunInputs(r.id, r.definition);
      ctx.scheduler->Enqueue(r.id);
    } else if (kind == "interactive" || kind == "child" || kind == "automl" ||
               kind == "hyperdrive") {
      std::string status = body.contains("status") && body["status"].is_string()
                               ? body["status"].get<std::string>()
                               : "Running";
      if (!IsKnownStatus(status)) throw InvalidInput("unknown run status '" + status + "'");
      r.status = status;
      if (status == "Running") r.started = r.created;
      // Children run where their parent runs (AutoML iterations on the parent's target).
      r.compute_target = body.value("compute_target", "");
      if (r.compute_target.empty()) {
        r.compute_target =
            r.parent_id.empty() ? "local" : ctx.store->GetRun(r.parent_id)->compute_target;
      }
      if (body.contains("snapshot_directory") && body["snapshot_directory"].is_string()) {
        SubmissionLimits limits{ctx.snapshot_max_bytes, ctx.snapshot_max_files};
        SnapshotRef snap = SnapshotDirectory(body["snapshot_directory"], *ctx.blobs, limits);
        r.snapshot_id = snap.snapshot_id;
        r.git = snap.git;
      }
      if (body.contains("definition") && body["definition"].is_object()) {
        r.definition = body["definition"];
      }
      ctx.store->CreateRun(r);
    } else {
      throw InvalidInput("unknown run kind '" + kind +
                         "': use script, interactive, child, automl or hyperdrive");
    }
    ctx.notifier->Notify();
    SendJson(res, RunJson(*ctx.store->GetRun(r.id)), 201);
  }

  void GetRun(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::string wait_ms = req.Query("wait_ms");
    if (!wait_ms.empty()) {
      std::string seen = req.Query("status", r.status);
      int ms = std::clamp(std::atoi(wait_ms.c_str()), 0, 60000);
      auto deadline = req.received + std::chrono::milliseconds(ms);
      if (req.can_defer) {  // parked by the server, no thread waits (net/http_server.h)
        if (r.status == seen && std::chrono::steady_clock::now() < deadline) {
          res.defer_until = deadline;
          return;
        }
      } else {
        ctx.notifier->WaitUntil(deadline, [&] {
          r = *ctx.store->GetRun(p[0]);
          return r.status != seen;
        });
      }
    }
    SendJson(res, RunJson(r));
  }

  void SetStatus(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    Json body = ParseBody(req);
    std::string status = body.at("status").get<std::string>();
    if (!IsKnownStatus(status)) {
      throw InvalidInput("unknown status '" + status +
                         "'; use one of NotStarted, Queued, Preparing, Starting, Running, "
                         "Finalizing, CancelRequested, Completed, Failed, Canceled");
    }
    Json error = body.value("error", Json(nullptr));
    if (!error.is_null() && !error.is_object()) error = {{"message", error.dump()}};
    std::optional<int> exit_code;
    if (body.contains("exit_code") && body["exit_code"].is_number_integer()) {
      exit_code = body["exit_code"].get<int>();
    }
    if (!ctx.store->UpdateRunStatus(r.id, status, error, exit_code)) {
      throw Conflict("run '" + r.id + "' is already " + r.status +
                     "; a finished run's status cannot change");
    }
    ctx.notifier->Notify();
    SendJson(res, RunJson(*ctx.store->GetRun(r.id)));
  }

  void Cancel(HttpRequest&, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    if (r.kind == "script" || r.kind == "automl") {
      ctx.scheduler->Cancel(r.id);
    } else if (!IsTerminalStatus(r.status)) {
      ctx.store->UpdateRunStatus(r.id, "Canceled", nullptr, std::nullopt);
      ctx.notifier->Notify();
    }
    SendJson(res, RunJson(*ctx.store->GetRun(r.id)));
  }

  void PatchTags(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    ctx.store->SetTags(r.id, StringValues(ParseBody(req), "tag"));
    SendJson(res, {{"tags", ctx.store->GetRun(r.id)->tags}});
  }

  void PatchProperties(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    ctx.store->AddProperties(r.id, StringValues(ParseBody(req), "property"));
    SendJson(res, {{"properties", ctx.store->GetRun(r.id)->properties}});
  }

  // ----- metrics -----
  void PostMetrics(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    Json body = ParseBody(req);
    if (!body.contains("metrics") || !body["metrics"].is_array()) {
      throw InvalidInput("body must be {\"metrics\": [ {name, kind, value, ...}, ... ]}");
    }
    std::vector<MetricPoint> points;
    points.reserve(body["metrics"].size());
    std::set<std::string> other_runs;
    int64_t now = NowMillis();
    for (auto& m : body["metrics"]) {
      if (!m.is_object()) throw InvalidInput("each metric must be an object {name, kind, value}");
      MetricPoint pt;
      auto rid = m.find("run_id");
      pt.run_id = rid != m.end() && rid->is_string() ? rid->get<std::string>() : r.id;
      if (pt.run_id != r.id) other_runs.insert(pt.run_id);
      auto name = m.find("name");
      if (name == m.end() || !name->is_string())
        throw InvalidInput("each metric needs a string 'name'");
      pt.name = std::move(name->get_ref<std::string&>());
      ValidateKey("metric name", pt.name);
      auto kind = m.find("kind");
      pt.kind = kind != m.end() && kind->is_string() ? kind->get<std::string>() : "scalar";
      if (!IsMetricKind(pt.kind)) {
        throw InvalidInput("metric '" + pt.name + "' has unknown kind '" + pt.kind +
                           "': use scalar, list, row, table or image");
      }
      auto value = m.find("value");
      if (value != m.end()) pt.value = std::move(*value);
      CheckMetricValue(pt.name, pt.value);  // 400/413 before anything of the batch is stored
      auto step = m.find("step");
      if (step != m.end() && step->is_number_integer()) pt.step = step->get<int64_t>();
      auto time = m.find("time");
      pt.time = time != m.end() && time->is_number() ? time->get<int64_t>() : now;
      auto seq = m.find("seq");
      if (seq != m.end() && seq->is_number_integer()) pt.seq = seq->get<int64_t>();
      auto desc = m.find("description");
      if (desc != m.end() && desc->is_string()) pt.description = desc->get<std::string>();
      points.push_back(std::move(pt));
    }
    for (const auto& id : other_runs) {
      RequireRun(id);
      access.RequireRunWrite(req, id);
    }
    size_t n = ctx.store->InsertMetrics(points);
    ctx.notifier->Notify();
    SendJson(res, {{"accepted", n}});
  }

  // Raw spool lines from an agent (docs/REST.md, "Spool format"): one JSON object per line,
  // line i gets seq first_seq + i, so a resend after a lost answer stores nothing twice.
  // Flush markers and malformed lines are skipped but keep their seq.
  void PostSpool(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    char* end = nullptr;
    std::string first = req.Query("first_seq");
    int64_t seq = std::strtoll(first.c_str(), &end, 10);
    if (first.empty() || *end != '\0' || seq < 0) {
      throw InvalidInput(
          "first_seq must be a non-negative integer (the spool line number of the "
          "first line in the body)");
    }
    std::vector<MetricPoint> points;
    std::set<std::string> other_runs;
    int64_t now = NowMillis();
    size_t pos = 0, skipped = 0;
    // Lines over the limits are refused one by one (the rest of the batch is stored) and
    // listed in the answer ("rejected", "rejected_count").
    Json rejected = Json::array();
    size_t rejected_count = 0;
    auto reject = [&](int64_t line_seq, const std::string& why) {
      ++rejected_count;
      if (rejected.size() < 20) rejected.push_back({{"seq", line_seq}, {"error", why}});
    };
    auto value_ok = [&](const MetricPoint& pt, int64_t line_seq) {
      try {
        CheckMetricValue(pt.name, pt.value);
        return true;
      } catch (const Error& e) {
        reject(line_seq, e.what());
        return false;
      }
    };
    const std::string& body = req.body;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string::npos) nl = body.size();
      std::string_view line(body.data() + pos, nl - pos);
      pos = nl + 1;
      int64_t line_seq = seq++;
      if (line.empty()) continue;
      MetricPoint fast;
      fast.kind = "scalar";
      fast.time = now;
      if (ParseSpoolLineFast(line, fast)) {
        if (fast.run_id.empty()) fast.run_id = r.id;
        if (fast.run_id != r.id) other_runs.insert(fast.run_id);
        if (!fast.name.empty() && fast.name.size() <= 255 && IsMetricKind(fast.kind)) {
          if (!value_ok(fast, line_seq)) continue;
          fast.seq = line_seq;
          points.push_back(std::move(fast));
        } else {
          ++skipped;
        }
        continue;
      }
      std::string why;
      std::optional<Json> parsed = TryParseJsonBounded(line, JsonLimits{}, &why);
      if (!parsed && why.find("not valid JSON") == std::string::npos) {
        reject(line_seq, "spool line " + why);  // too deep or too large: say so
        continue;
      }
      Json j = parsed ? std::move(*parsed) : Json();
      auto name = j.is_object() ? j.find("n") : j.end();
      if (!j.is_object() || name == j.end() || !name->is_string()) {
        ++skipped;  // flush markers, torn or foreign lines
        continue;
      }
      MetricPoint pt;
      auto rid = j.find("r");
      pt.run_id = rid != j.end() && rid->is_string() ? rid->get<std::string>() : r.id;
      if (pt.run_id != r.id) other_runs.insert(pt.run_id);
      pt.name = std::move(name->get_ref<std::string&>());
      auto kind = j.find("k");
      pt.kind = kind != j.end() && kind->is_string() ? kind->get<std::string>() : "scalar";
      if (pt.name.empty() || pt.name.size() > 255 || !IsMetricKind(pt.kind)) {
        ++skipped;
        continue;
      }
      auto value = j.find("v");
      if (value != j.end()) pt.value = std::move(*value);
      auto t = j.find("t");
      pt.time = t != j.end() && t->is_number() ? t->get<int64_t>() : now;
      auto step = j.find("s");
      if (step != j.end() && step->is_number_integer()) pt.step = step->get<int64_t>();
      auto d = j.find("d");
      if (d != j.end() && d->is_string()) pt.description = d->get<std::string>();
      if (!value_ok(pt, line_seq)) continue;
      pt.seq = line_seq;
      points.push_back(std::move(pt));
    }
    for (const auto& id : other_runs) {
      RequireRun(id);
      access.RequireRunWrite(req, id);
    }
    size_t n = ctx.store->InsertMetrics(points);
    ctx.notifier->Notify();
    Json out = {{"accepted", n}, {"skipped", skipped}, {"next_seq", seq}};
    if (rejected_count > 0) {
      out["rejected"] = rejected;
      out["rejected_count"] = rejected_count;
    }
    SendJson(res, out);
  }

  // ----- artifacts and logs -----
  void PutArtifact(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::string path = ValidateRelativePath("artifact path", p[1]);
    uint64_t size = 0;
    std::string sha = ctx.blobs->PutOwnedFile(req.body_file, &size);
    ctx.store->PutArtifact(r.id, {path, sha, size});
    SendJson(res, {{"path", path}, {"size", size}, {"sha256", sha}}, 201);
  }

  void ListArtifacts(HttpRequest&, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::map<std::string, Json> files;
    for (auto& a : ctx.store->ListArtifacts(r.id)) {
      files[a.path] = {{"path", a.path}, {"size", a.size}, {"sha256", a.sha256}};
    }
    for (auto& [rel, size] : LiveLogs(r.id)) {
      if (!files.count(rel)) files[rel] = {{"path", rel}, {"size", size}, {"sha256", nullptr}};
    }
    Json arr = Json::array();
    for (auto& [k, v] : files) arr.push_back(v);
    SendJson(res, {{"files", arr}});
  }

  void GetArtifact(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::string path = ValidateRelativePath("artifact path", p[1]);
    if (auto a = ctx.store->GetArtifact(r.id, path)) {
      res.file_path = ctx.blobs->PathOf(a->sha256).string();
      res.content_type = "application/octet-stream";
      return;
    }
    // A live log: opened beneath logs/ without following links (a link is 400, not a read),
    // and read through that descriptor, so what is sent is the file that was checked.
    int raw = OpenBeneathRaw(LogsRoot(), LogRel(r.id, path), O_RDONLY | O_NONBLOCK);
    if (raw < 0 && errno != ENOENT) {
      OpenBeneath(LogsRoot(), LogRel(r.id, path), O_RDONLY | O_NONBLOCK, LogWhat(r.id, path));
    }
    UniqueFd fd(raw);
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      res.content_type = "application/octet-stream";
      if (req.can_stream) {  // any size, 1 MiB at a time (what it held when opened)
        res.stream =
            StreamFd(std::move(fd), static_cast<uint64_t>(st.st_size), LogWhat(r.id, path));
        return;
      }
      res.body = ReadFd(fd.get(), kMaxLogResponseBytes, LogWhat(r.id, path));
      return;
    }
    throw NotFound("run '" + r.id + "' has no file '" + path +
                   "'; list them with get_file_names()");
  }

  void AppendLog(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::string name = ValidateRelativePath("log name", p[1]);
    UniqueFd fd = OpenBeneath(LogsRoot(), LogRel(r.id, name), O_WRONLY | O_CREAT | O_APPEND,
                              LogWhat(r.id, name), 0644, /*make_parents=*/true);
    struct stat st {};
    ::fstat(fd.get(), &st);
    try {
      WriteAllFd(fd.get(), req.body, LogWhat(r.id, name));
    } catch (const Error&) {
      // A full disk mid-append: the log is cut back, so a retry appends the body whole.
      [[maybe_unused]] int rc = ::ftruncate(fd.get(), st.st_size);
      throw;
    }
    ::fstat(fd.get(), &st);
    ctx.notifier->Notify();
    SendJson(res, {{"size", static_cast<uint64_t>(st.st_size)}});
  }

  void ReadLog(HttpRequest& req, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    std::string name = ValidateRelativePath("log name", p[1]);
    uint64_t offset = std::strtoull(req.Query("offset", "0").c_str(), nullptr, 10);
    int wait_ms = std::clamp(std::atoi(req.Query("wait_ms", "0").c_str()), 0, 60000);
    // A log that does not exist yet reads as empty (the agent may not have written it), but a
    // symlink or an escape is refused at once.
    auto open_log = [&]() -> UniqueFd {
      int fd = OpenBeneathRaw(LogsRoot(), LogRel(r.id, name), O_RDONLY | O_NONBLOCK);
      if (fd < 0 && errno != ENOENT) {
        OpenBeneath(LogsRoot(), LogRel(r.id, name), O_RDONLY | O_NONBLOCK, LogWhat(r.id, name));
      }
      return UniqueFd(fd);
    };
    open_log();
    auto size_of = [&]() -> uint64_t {
      UniqueFd fd = open_log();
      struct stat st {};
      return fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)
                 ? static_cast<uint64_t>(st.st_size)
                 : 0;
    };
    std::string status = r.status;
    if (wait_ms > 0) {
      auto deadline = req.received + std::chrono::milliseconds(wait_ms);
      if (req.can_defer) {  // parked by the server, no thread waits (net/http_server.h)
        if (size_of() <= offset && !IsTerminalStatus(status) &&
            std::chrono::steady_clock::now() < deadline) {
          res.defer_until = deadline;
          return;
        }
      } else {
        ctx.notifier->WaitUntil(deadline, [&] {
          status = ctx.store->GetRun(r.id)->status;
          return size_of() > offset || IsTerminalStatus(status);
        });
      }
    }
    UniqueFd fd = open_log();
    struct stat st {};
    uint64_t size = fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)
                        ? static_cast<uint64_t>(st.st_size)
                        : 0;
    std::string data;
    if (size > offset) {
      uint64_t n = std::min<uint64_t>(size - offset, 8ull << 20);
      data.resize(n);
      size_t got = 0;
      while (got < n) {
        ssize_t k = ::pread(fd.get(), data.data() + got, n - got, static_cast<off_t>(offset + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += static_cast<size_t>(k);
      }
      data.resize(got);
    }
    res.status = 200;
    res.content_type = "text/plain; charset=utf-8";
    res.headers["X-Log-Size"] = std::to_string(size);
    res.headers["X-Run-Status"] = status;
    res.body = std::move(data);
  }

  void GetSnapshot(HttpRequest&, HttpResponse& res, const Params& p) {
    RunRecord r = RequireRun(p[0]);
    if (r.snapshot_id.empty()) throw NotFound("run '" + r.id + "' has no snapshot");
    Json manifest = Json::parse(ctx.blobs->Get(r.snapshot_id));
    SendJson(res, {{"snapshot_id", r.snapshot_id}, {"files", manifest.value("files", manifest)}});
  }

  // ----- blobs -----
  void PutBlob(HttpRequest& req, HttpResponse& res, const Params& p) {
    if (!IsSha256Hex(p[0])) throw InvalidInput("blob id must be 64 lowercase hex digits (SHA-256)");
    uint64_t size = 0;
    // Hash into a private temp first so a wrong hash never lands under the claimed name.
    std::string sha = ctx.blobs->PutOwnedFile(req.body_file, &size);
    if (sha != p[0]) {
      throw InvalidInput("uploaded content has SHA-256 " + sha + ", not the " + p[0] +
                         " named in the URL");
    }
    SendJson(res, {{"sha256", sha}, {"size", size}}, 201);
  }

  void MissingBlobs(HttpRequest& req, HttpResponse& res, const Params&) {
    Json body = ParseBody(req);
    Json missing = Json::array();
    for (auto& s : body.at("sha256")) {
      std::string sha = s.get<std::string>();
      if (!ctx.blobs->Has(sha)) missing.push_back(sha);
    }
    SendJson(res, {{"missing", missing}});
  }

  void GetBlob(HttpRequest&, HttpResponse& res, const Params& p) {
    if (!ctx.blobs->Has(p[0])) throw NotFound("blob '" + p[0] + "' not found");
    res.file_path = ctx.blobs->PathOf(p[0]).string();
    res.content_type = "application/octet-stream";
  }

  // ----- models -----
  Json ModelJson(const ModelRecord& m) {
    return {{"id", m.name + ":" + std::to_string(m.version)},
            {"name", m.name},
            {"version", m.version},
            {"created_utc", TimeOrNull(m.created)},
            {"run_id", m.run_id.empty() ? Json(nullptr) : Json(m.run_id)},
            {"experiment", m.experiment.empty() ? Json(nullptr) : Json(m.experiment)},
            {"description", m.description},
            {"tags", m.tags},
            {"properties", m.properties},
            {"model_framework", m.framework.empty() ? Json(nullptr) : Json(m.framework)},
            {"model_framework_version",
             m.framework_version.empty() ? Json(nullptr) : Json(m.framework_version)},
            {"resource_configuration", m.resource_configuration},
            {"path", m.path},
            {"files", m.files},
            {"datasets", m.datasets}};
  }

  void CreateModel(HttpRequest& req, HttpResponse& res, const Params&) {
    Json body = ParseBody(req);
    ModelRecord m;
    m.name = body.at("name").get<std::string>();
    ValidateName("model name", m.name);
    m.description =
        body.value("description", Json("")).is_string() ? body.value("description", "") : "";
    m.tags = StringValues(body.value("tags", Json::object()), "tag");
    m.properties = StringValues(body.value("properties", Json::object()), "property");
    auto opt_str = [&](const char* k) {
      return body.contains(k) && body[k].is_string() ? body[k].get<std::string>() : "";
    };
    m.framework = opt_str("model_framework");
    m.framework_version = opt_str("model_framework_version");
    if (body.contains("resource_configuration") && body["resource_configuration"].is_object()) {
      m.resource_configuration = body["resource_configuration"];
    }
    if (body.contains("datasets") && body["datasets"].is_array()) m.datasets = body["datasets"];

    if (body.contains("run_id") && body["run_id"].is_string()) {
      RunRecord r = RequireRun(body["run_id"]);
      m.run_id = r.id;
      m.experiment = r.experiment;
      std::string mp = body.contains("model_path") && body["model_path"].is_string()
                           ? body["model_path"].get<std::string>()
                           : "outputs";
      std::string model_path = ValidateRelativePath("model_path", mp);
      auto slash = model_path.rfind('/');
      std::string root = slash == std::string::npos ? model_path : model_path.substr(slash + 1);
      std::string base = slash == std::string::npos ? "" : model_path.substr(0, slash + 1);
      for (auto& a : ctx.store->ListArtifacts(r.id)) {
        if (a.path == model_path || a.path.rfind(model_path + "/", 0) == 0) {
          m.files.push_back(
              {{"path", a.path.substr(base.size())}, {"sha256", a.sha256}, {"size", a.size}});
        }
      }
      if (m.files.empty()) {
        std::string names;
        for (auto& a : ctx.store->ListArtifacts(r.id))
          names += (names.empty() ? "" : ", ") + a.path;
        throw InvalidInput("model_path '" + model_path + "' matches no file of run '" + r.id +
                           "'. The run has: " + (names.empty() ? "(no files)" : names));
      }
      m.path = root;
    } else if (body.contains("files") && body["files"].is_array()) {
      if (body["files"].empty()) throw InvalidInput("'files' must list at least one file");
      for (auto& f : body["files"]) {
        std::string path = ValidateRelativePath("files[].path", f.at("path").get<std::string>());
        std::string sha = f.at("sha256").get<std::string>();
        if (!ctx.blobs->Has(sha)) {
          throw InvalidInput("file '" + path + "' (blob " + sha +
                             ") was not uploaded; PUT /api/v1/blobs/{sha256} first");
        }
        uint64_t size = fs::file_size(ctx.blobs->PathOf(sha));
        m.files.push_back({{"path", path}, {"sha256", sha}, {"size", size}});
      }
      std::string first = m.files[0]["path"];
      m.path = body.contains("path") && body["path"].is_string()
                   ? ValidateRelativePath("path", body["path"].get<std::string>())
                   : first.substr(0, first.find('/'));
    } else {
      throw InvalidInput("a model needs either run_id with model_path, or files");
    }
    ctx.store->CreateModel(m);
    SendJson(res, ModelJson(m), 201);
  }

  void ListModels(HttpRequest& req, HttpResponse& res, const Params&) {
    ModelFilter f;
    f.name = req.Query("name");
    f.tags = KvFilters(req.QueryAll("tag"));
    f.properties = KvFilters(req.QueryAll("property"));
    f.latest = ParseBool(req.Query("latest"));
    Json arr = Json::array();
    for (auto& m : ctx.store->ListModels(f)) arr.push_back(ModelJson(m));
    SendJson(res, {{"models", arr}});
  }

  void GetModel(HttpRequest&, HttpResponse& res, const Params& p) {
    ValidateName("model name", p[0]);
    int64_t version = 0;
    if (p.size() > 1 && p[1] != "latest") {
      char* end = nullptr;
      version = std::strtoll(p[1].c_str(), &end, 10);
      if (*end != '\0' || version <= 0) {
        throw InvalidInput("model version must be a positive integer or 'latest'");
      }
    }
    auto m = ctx.store->GetModel(p[0], version);
    if (!m) {
      throw NotFound("model '" + p[0] + "'" +
                     (version ? " version " + std::to_string(version) : std::string()) +
                     " not found");
    }
    SendJson(res, ModelJson(*m));
  }
};

void Api::Impl::Register() {
  using namespace std::placeholders;
  auto bind = [this](void (Impl::*fn)(HttpRequest&, HttpResponse&, const Params&)) {
    return [this, fn](HttpRequest& q, HttpResponse& s, const Params& p) { (this->*fn)(q, s, p); };
  };
  Add("GET", "/api/v1/workspace", [this](HttpRequest&, HttpResponse& res, const Params&) {
    SendJson(res, {{"name", ctx.workspace_name},
                   {"id", ctx.workspace_name},
                   {"data_dir", ctx.data_dir.string()},
                   {"server_url", ctx.server_url},
                   {"compute_targets", ctx.compute->Names()}});
  });
  Add("PUT", "/api/v1/experiments/:name", [this](HttpRequest&, HttpResponse& res, const Params& p) {
    ValidateName("experiment name", p[0]);
    Experiment e = ctx.store->EnsureExperiment(p[0]);
    SendJson(res, {{"name", e.name}, {"id", e.id}, {"created_utc", TimeOrNull(e.created)}});
  });
  Add("GET", "/api/v1/experiments/:name", [this](HttpRequest&, HttpResponse& res, const Params& p) {
    ValidateName("experiment name", p[0]);
    auto e = ctx.store->GetExperiment(p[0]);
    if (!e) throw NotFound("experiment '" + p[0] + "' not found");
    SendJson(res, {{"name", e->name}, {"id", e->id}, {"created_utc", TimeOrNull(e->created)}});
  });
  Add("GET", "/api/v1/experiments", [this](HttpRequest&, HttpResponse& res, const Params&) {
    Json arr = Json::array();
    for (auto& e : ctx.store->ListExperiments()) {
      arr.push_back({{"name", e.name}, {"id", e.id}, {"created_utc", TimeOrNull(e.created)}});
    }
    SendJson(res, {{"experiments", arr}});
  });
  Add("POST", "/api/v1/experiments/:name/runs", bind(&Impl::CreateRun));
  Add("GET", "/api/v1/runs/:id", bind(&Impl::GetRun));
  Add("GET", "/runs/:id",
      bind(&Impl::GetRun));  // portal URL: with a token the run JSON, else the studio page
  Add("POST", "/api/v1/runs/:id/status", bind(&Impl::SetStatus));
  Add("POST", "/api/v1/runs/:id/cancel", bind(&Impl::Cancel));
  Add("PATCH", "/api/v1/runs/:id/tags", bind(&Impl::PatchTags));
  Add("PATCH", "/api/v1/runs/:id/properties", bind(&Impl::PatchProperties));
  Add("POST", "/api/v1/runs/:id/metrics", bind(&Impl::PostMetrics), kAgentBody);
  Add("POST", "/api/v1/runs/:id/metrics/spool", bind(&Impl::PostSpool), kAgentBody);
  Add("PUT", "/api/v1/runs/:id/artifacts/*path", bind(&Impl::PutArtifact), kUploadBody);
  Add("GET", "/api/v1/runs/:id/artifacts", bind(&Impl::ListArtifacts));
  Add("GET", "/api/v1/runs/:id/artifacts/*path", bind(&Impl::GetArtifact));
  Add("POST", "/api/v1/runs/:id/logs/*name", bind(&Impl::AppendLog), kAgentBody);
  Add("GET", "/api/v1/runs/:id/logs/*name", bind(&Impl::ReadLog));
  Add("GET", "/api/v1/runs/:id/snapshot", bind(&Impl::GetSnapshot));
  Add("POST", "/api/v1/blobs/missing", bind(&Impl::MissingBlobs));
  Add("PUT", "/api/v1/blobs/:sha", bind(&Impl::PutBlob), kUploadBody);
  Add("GET", "/api/v1/blobs/:sha", bind(&Impl::GetBlob));
  Add("POST", "/api/v1/models", bind(&Impl::CreateModel));
  Add("GET", "/api/v1/models", bind(&Impl::ListModels));
  Add("GET", "/api/v1/models/:name", bind(&Impl::GetModel));
  Add("GET", "/api/v1/models/:name/versions/:version", bind(&Impl::GetModel));
}

Api::Api(ApiContext ctx) : impl_(std::make_shared<Impl>(std::move(ctx))) {}

HeadDecision Api::Admit(const HttpRequest& head) const {
  HeadDecision d;
  if (head.path == "/healthz") return d;  // open, no body
  Studio* studio = impl_->ctx.studio;
  bool cookie = false;  // the studio's session cookie stands for the workspace token
  if (studio && head.Header("authorization").empty()) {
    if (studio->IsOpen(head)) return d;  // the studio's pages and login (server/studio.h)
    try {
      cookie = studio->AuthenticateCookie(head);
    } catch (const Error& e) {  // a cookie write without the CSRF header
      HttpResponse r;
      SendJson(r, {{"error", {{"code", e.code()}, {"message", e.what()}}}}, e.http_status());
      d.reject = std::move(r);
      return d;
    }
  }
  // The workspace token or a live run token (server/run_access.h), checked on the head.
  try {
    if (!cookie) impl_->access.Authenticate(head.Header("authorization"), impl_->ctx.token);
  } catch (const Unauthorized& e) {
    HttpResponse r;
    r.status = 401;
    r.headers["WWW-Authenticate"] = "Bearer";
    SendJson(r, {{"error", {{"code", e.code()}, {"message", e.what()}}}}, 401);
    d.reject = std::move(r);
    return d;
  }
  d.authenticated = true;
  d.body_limit = DefaultBodyLimit(head.method);
  auto segs = SplitRawPath(head.target);
  Params params;
  for (auto& r : impl_->routes) {
    if (r.method != head.method || !Match(r, segs, params)) continue;
    if (r.body_limit) d.body_limit = r.body_limit;
    d.stream_to_file = r.streamed;
    break;
  }
  return d;
}

void Api::Handle(HttpRequest& req, HttpResponse& res) {
  if (req.path == "/healthz") {
    SendJson(res, {{"status", "ok"}, {"version", TRAINYARD_VERSION}, {"build", BuildId()}});
    return;
  }
  Studio* studio = impl_->ctx.studio;
  auto segs = SplitRawPath(req.target);
  if (studio && req.Header("authorization").empty()) {
    if (studio->IsOpen(req)) return studio->HandleOpen(req, res);
    if (studio->AuthenticateCookie(req)) {  // the session cookie: the workspace's rights
      req.run_scope.clear();
      RouteRequest(req, res, segs);
      return;
    }
  }
  // The workspace token, or a run token scoped to its run (server/run_access.h).
  req.run_scope = impl_->access.Authenticate(req.Header("authorization"), impl_->ctx.token);
  if (!req.run_scope.empty()) {
    impl_->access.Authorize(req.run_scope, req, segs);
    RouteRequest(req, res, segs);
    impl_->access.Observe(req.run_scope, segs, res);
    return;
  }
  RouteRequest(req, res, segs);
}

void Api::RouteRequest(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs) {
  if (impl_->access.HandleRoute(req.run_scope, req, res, segs)) return;
  if (impl_->ctx.studio && impl_->ctx.studio->HandleRoute(req, res, segs)) return;
  for (auto& ext : impl_->ctx.extensions) {
    try {
      if (ext(req, res)) return;
    } catch (const fs::filesystem_error& e) {
      RethrowFilesystemError(e);
    }
  }
  if (impl_->queries->Handle(req, res, segs)) return;
  Params params;
  bool path_matched = false;
  for (auto& r : impl_->routes) {
    if (!Match(r, segs, params)) continue;
    path_matched = true;
    if (r.method != req.method) continue;
    try {
      r.fn(req, res, params);
    } catch (const fs::filesystem_error& e) {
      RethrowFilesystemError(e);
    }
    return;
  }
  try {
    if (!path_matched && impl_->data->Handle(req, res, segs)) return;
  } catch (const fs::filesystem_error& e) {
    RethrowFilesystemError(e);
  }
  if (path_matched) {
    throw Error("MethodNotAllowed", "method " + req.method + " is not allowed on " + req.path, 405);
  }
  throw NotFound("no route " + req.method + " " + req.path + " (see docs/REST.md)");
}

}  // namespace trainyard
