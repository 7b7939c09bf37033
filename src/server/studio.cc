#include "server/studio.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/confined_fs.h"
#include "common/error.h"
#include "common/json_limits.h"
#include "common/util.h"
#include "common/validation.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

// First path segments of the single-page app's own routes (web/src/main.ts): answered with
// index.html, the app then renders the page from the URL.
const char* const kPageRoutes[] = {"experiments", "runs",    "models",  "datasets", "environments",
                                   "services",    "compute", "compare", "login"};

constexpr int kEventWaitMs = 25000;  // a parked event request is answered (keep-alive) after this
constexpr int kEventRetryMs = 200;   // EventSource reconnects this long after an answer

std::vector<std::string> Segments(const std::string& path) { return PathSegments(path); }

std::string CookieValue(const std::string& header, const std::string& name) {
  size_t i = 0;
  while (i < header.size()) {
    size_t end = header.find(';', i);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(i, end - i);
    size_t a = part.find_first_not_of(' ');
    if (a != std::string::npos) {
      part = part.substr(a);
      size_t eq = part.find('=');
      if (eq != std::string::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
    }
    i = end + 1;
  }
  return "";
}

bool IsRead(const std::string& method) { return method == "GET" || method == "HEAD"; }

void SendJson(HttpResponse& res, const nlohmann::json& j, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ContentTypeOf(const std::string& name) {
  auto ends = [&](const char* s) {
    std::string_view e(s);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".map")) return "application/json";
  return "application/octet-stream";
}

// A path of this server for the redirect after login: "/..." but not "//host" (open redirect).
bool IsLocalPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || (p.size() > 1 && (p[1] == '/' || p[1] == '\\'))) return false;
  return std::none_of(p.begin(), p.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == '\\'; });
}

// The page headers: no framing by other sites is not enforced (the RunDetails widget embeds the
// run page in Jupyter), but scripts only from this server.
void PageHeaders(HttpResponse& res) {
  res.headers["Cache-Control"] = "no-cache";
  res.headers["X-Content-Type-Options"] = "nosniff";
  res.headers["Referrer-Policy"] = "no-referrer";
  res.headers["Content-Security-Policy"] =
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
      "object-src 'none'; base-uri 'none'";
}

}  // namespace

fs::path FindStudioAssets() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("TRAINYARD_STUDIO_DIR"); env && *env) {
    candidates.emplace_back(env);
  }
  std::error_code ec;
  fs::path exe = SelfExe();
  if (!exe.empty()) candidates.push_back(exe.parent_path() / "studio");
  for (auto& c : candidates) {
    if (fs::is_regular_file(c / "index.html", ec)) return fs::absolute(c, ec);
  }
  return {};
}

Studio::Studio(StudioOptions opts) : opts_(std::move(opts)) {
  auto colon = opts_.server_url.rfind(':');
  std::string port = colon == std::string::npos ? "" : opts_.server_url.substr(colon + 1);
  cookie_name_ = "trainyard_studio_" + port;
}

bool Studio::IsOpen(const HttpRequest& head) const {
  auto segs = Segments(head.path);
  if (head.method == "POST") {
    return segs.size() == 4 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "studio" &&
           segs[3] == "session";
  }
  if (!IsRead(head.method)) return false;
  if (segs.empty()) return true;
  if (segs[0] == "index.html" || segs[0] == "assets") return true;
  for (const char* p : kPageRoutes) {
    if (segs[0] == p) return true;
  }
  return false;
}

void Studio::ServeIndex(HttpResponse& res) const {
  if (opts_.assets_dir.empty()) {
    res.status = 503;
    res.content_type = "text/plain; charset=utf-8";
    res.body =
        "The Trainyard studio's web assets were not built, so this server cannot show it.\n"
        "Build them with `bash scripts/install.sh` (npm ci && npm run build in web/, output in "
        "<build dir>/studio beside the trainyard binary), or point TRAINYARD_STUDIO_DIR at a "
        "folder holding index.html, then restart the server. The REST API works without them.\n";
    return;
  }
  res.status = 200;
  res.content_type = "text/html; charset=utf-8";
  res.file_path = (opts_.assets_dir / "index.html").string();
  PageHeaders(res);
}

void Studio::ServeAsset(const std::string& name, HttpResponse& res) const {
  bool ok =
      !name.empty() && name[0] != '.' && name.size() < 200 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      });
  fs::path p = opts_.assets_dir / "assets" / name;
  std::error_code ec;
  if (!ok || opts_.assets_dir.empty() || !fs::is_regular_file(p, ec)) {
    throw NotFound("no studio asset '" + name + "'");
  }
  res.status = 200;
  res.content_type = ContentTypeOf(name);
  res.file_path = p.string();
  res.headers["Cache-Control"] = "no-cache";
  res.headers["X-Content-Type-Options"] = "nosniff";
}

std::string Studio::NewSession() {
  std::string sid = RandomHex(32);
  std::lock_guard lk(mu_);
  int64_t now = NowMillis();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires < now ? sessions_.erase(it) : std::next(it);
  }
  sessions_[Sha256Hex(sid)] = Session{RandomHex(24), now + opts_.session_ttl_ms};
  return sid;
}

void Studio::SetSessionCookie(HttpResponse& res, const std::string& sid) const {
  res.headers["Set-Cookie"] =
      cookie_name_ + "=" + sid +
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(opts_.session_ttl_ms / 1000);
  res.headers["Cache-Control"] = "no-store";
}

void Studio::HandleOpen(HttpRequest& req, HttpResponse& res) {
  auto segs = Segments(req.path);
  if (req.method == "POST") {  // POST /api/v1/studio/session: the pasted token
    // A custom header: a form on another site cannot send it (login CSRF).
    if (req.Header("x-trainyard-studio") != "1") {
      throw Error("CsrfTokenMissing",
                  "the studio login needs the header 'X-Trainyard-Studio: 1' (the login page "
                  "sends it); REST clients use 'Authorization: Bearer <token>' instead",
                  403);
    }
    auto body = ParseJsonBounded(req.body.empty() ? "{}" : req.body, "request body");
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      throw InvalidInput(
          "send {\"token\": \"<workspace token>\"} (the token in "
          ".trainyard/config.json)");
    }
    if (!SecretEquals(body["token"].get<std::string>(), opts_.workspace_token)) {
      throw Unauthorized(
          "that is not this workspace's token; copy it from .trainyard/config.json, or run "
          "`trainyard ui` for a login link");
    }
    SetSessionCookie(res, NewSession());
    SendJson(res, {{"ok", true}});
    return;
  }
  if (!segs.empty() && segs[0] == "assets") {
    if (segs.size() != 2) throw NotFound("no studio asset '" + req.path + "'");
    return ServeAsset(segs[1], res);
  }
  if (!segs.empty() && segs[0] == "login" && segs.size() == 1 && !req.Query("token").empty()) {
    std::string key = Sha256Hex(req.Query("token"));
    std::optional<LoginLink> link;
    {
      std::lock_guard lk(mu_);
      auto it = login_links_.find(key);
      if (it != login_links_.end()) {
        if (it->second.expires >= NowMillis()) link = it->second;
        login_links_.erase(it);  // one use only
      }
    }
    res.status = 303;
    res.content_type = "text/plain; charset=utf-8";
    res.headers["Cache-Control"] = "no-store";
    res.headers["Referrer-Policy"] = "no-referrer";
    if (!link) {
      res.headers["Location"] = "/login?error=expired";
      res.body = "this login link was used already or has expired; run `trainyard ui` again\n";
      return;
    }
    SetSessionCookie(res, NewSession());
    res.headers["Location"] = link->next.empty() ? "/" : link->next;
    res.body = "logged in\n";
    return;
  }
  ServeIndex(res);
}

std::string Studio::SessionIdOf(const HttpRequest& req) const {
  return CookieValue(req.Header("cookie"), cookie_name_);
}

bool Studio::AuthenticateCookie(const HttpRequest& head) const {
  std::string sid = SessionIdOf(head);
  if (sid.empty()) return false;
  std::string csrf;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(Sha256Hex(sid));
    if (it == sessions_.end() || it->second.expires < NowMillis()) return false;
    csrf = it->second.csrf;
  }
  if (!IsRead(head.method) && !SecretEquals(head.Header("x-trainyard-csrf"), csrf)) {
    throw Error("CsrfTokenMissing",
                "a write with the studio's session cookie needs the header 'X-Trainyard-CSRF' "
                "with the session's CSRF token (GET /api/v1/studio/session); REST clients use "
                "'Authorization: Bearer <token>'",
                403);
  }
  return true;
}

std::string Studio::MintLoginUrl(const std::string& next) {
  if (!next.empty() && !IsLocalPath(next)) {
    throw InvalidInput(
        "next must be a path on this server starting with '/' (e.g. /runs/<id>), "
        "got '" +
        next + "'");
  }
  std::string token = RandomHex(24);
  {
    std::lock_guard lk(mu_);
    int64_t now = NowMillis();
    for (auto it = login_links_.begin(); it != login_links_.end();) {
      it = it->second.expires < now ? login_links_.erase(it) : std::next(it);
    }
    login_links_[Sha256Hex(token)] = LoginLink{next, now + opts_.login_link_ttl_ms};
  }
  std::string url = opts_.server_url + "/login?token=" + token;
  if (!next.empty()) url += "&next=" + UrlEncode(next, true);
  return url;
}

bool Studio::HandleRoute(HttpRequest& req, HttpResponse& res,
                         const std::vector<std::string>& segs) {
  if (segs.size() < 3 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "studio") return false;
  if (!req.run_scope.empty()) {
    throw Error("Forbidden", "a run token may not use the studio routes (/api/v1/studio/...)", 403);
  }
  if (segs.size() == 4 && segs[3] == "session" && req.method == "GET") {
    std::string csrf;
    bool cookie = false;
    if (req.Header("authorization").empty()) {
      std::lock_guard lk(mu_);
      auto it = sessions_.find(Sha256Hex(SessionIdOf(req)));
      if (it != sessions_.end()) {
        csrf = it->second.csrf;
        cookie = true;
      }
    }
    SendJson(res,
             {{"csrf_token", csrf}, {"cookie_session", cookie}, {"server_url", opts_.server_url}});
    return true;
  }
  if (segs.size() == 4 && segs[3] == "logout" && req.method == "POST") {
    {
      std::lock_guard lk(mu_);
      sessions_.erase(Sha256Hex(SessionIdOf(req)));
    }
    res.headers["Set-Cookie"] = cookie_name_ + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
    SendJson(res, {{"ok", true}});
    return true;
  }
  if (segs.size() == 4 && segs[3] == "login-links" && req.method == "POST") {
    auto body = ParseJsonBounded(req.body.empty() ? "{}" : req.body, "request body");
    std::string next;
    if (body.is_object() && body.contains("next") && !body["next"].is_null()) {
      if (!body["next"].is_string()) throw InvalidInput("next must be a string (a path)");
      next = body["next"].get<std::string>();
    }
    std::string url = MintLoginUrl(next);
    SendJson(res,
             {{"url", url}, {"expires_in_seconds", opts_.login_link_ttl_ms / 1000}, {"once", true}},
             201);
    return true;
  }
  if (segs.size() == 6 && segs[3] == "runs" && segs[5] == "events" && req.method == "GET") {
    ValidateName("run id", segs[4]);
    Events(req, res, segs[4]);
    return true;
  }
  if (segs.size() == 6 && segs[3] == "services" && segs[5] == "score" && req.method == "POST") {
    ScoreService(req, res, segs[4]);
    return true;
  }
  if (segs.size() == 6 && segs[3] == "experiments" && segs[5] == "events" && req.method == "GET") {
    ValidateName("experiment name", segs[4]);
    ExperimentEvents(req, res, segs[4]);
    return true;
  }
  throw NotFound("no studio route " + req.method + " " + req.path + " (see docs/STUDIO.md)");
}

void Studio::MetricsInserted(const std::vector<MetricPoint>& points) {
  std::lock_guard lk(other_mu_);
  for (auto& p : points) {
    if (p.kind == "scalar") continue;
    if (other_metrics_.size() > 100000) other_metrics_.clear();  // clients just read again
    OtherMetrics& o = other_metrics_[p.run_id];
    ++o.points;
    if (o.names.size() < 200) o.names.insert(p.name);
  }
}

// The change cursor of a run: its status, the point count of each scalar series and the size
// of each live log. `data_json` gets the same as JSON for the client.
std::string Studio::RunState(const std::string& run_id, std::string* data_json) {
  auto run = opts_.store->GetRun(run_id);
  if (!run) throw NotFound("run '" + run_id + "' not found");
  nlohmann::json metrics = nlohmann::json::object();
  int64_t points = 0;
  for (auto& [name, count] : opts_.store->SeriesNames(run_id)) {
    metrics[name] = count;
    points += count;
  }
  nlohmann::json logs = nlohmann::json::object();
  uint64_t bytes = 0;
  for (auto& e : ListFilesBeneath(opts_.data_dir / "logs", run_id, 4, 200)) {
    logs[e.rel] = e.size;
    bytes += e.size;
  }
  // Tags and properties (and the error) by a hash of their text: a changed value counts.
  std::string meta =
      Sha256Hex(run->tags.dump() + "\x1f" + run->properties.dump() + "\x1f" + run->error.dump())
          .substr(0, 12);
  // Child runs (a sweep's leaderboard): their statuses and latest metric values, hashed.
  std::string children;
  {
    RunQuery q;
    q.scope.parent_id = run_id;
    q.page_size = 1000;
    RunPage page = opts_.store->QueryRuns(q);
    if (!page.runs.empty()) {
      std::string text;
      std::vector<std::string> ids;
      for (auto& c : page.runs) {
        text += c.id + "=" + c.status + "\x1f";
        ids.push_back(c.id);
      }
      for (auto& [id, m] : opts_.store->LatestMetrics(ids)) text += id + m.dump() + "\x1f";
      children = Sha256Hex(text).substr(0, 12);
    }
  }
  uint64_t others = 0;
  nlohmann::json other_names = nlohmann::json::array();
  {
    std::lock_guard lk(other_mu_);
    auto it = other_metrics_.find(run_id);
    if (it != other_metrics_.end()) {
      others = it->second.points;
      for (auto& n : it->second.names) other_names.push_back(n);
    }
  }
  std::string state = run->status + "." + std::to_string(metrics.size()) + "." +
                      std::to_string(points) + "." + std::to_string(logs.size()) + "." +
                      std::to_string(bytes) + "." + meta + "." + std::to_string(others) + "." +
                      children;
  if (data_json) {
    nlohmann::json d = {{"status", run->status},
                        {"terminal", IsTerminalStatus(run->status)},
                        {"metrics", metrics},
                        {"logs", logs},
                        {"meta", meta},
                        {"others", others},
                        {"other_names", other_names},
                        {"children", children}};
    *data_json = d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return state;
}

// The services page's test form: the browser cannot call a scoring front itself (another
// port: another origin, and the key stays on the server), so the server forwards the body to
// the service's loopback /score with its primary key and answers what it answered.
void Studio::ScoreService(HttpRequest& req, HttpResponse& res, const std::string& name) {
  ValidateName("service name", name);
  auto svc = opts_.store->GetService(name);
  if (!svc) throw NotFound("service '" + name + "' not found");
  if (svc->port <= 0 || svc->state != "Healthy") {
    throw Error("ServiceNotReady",
                "service '" + name + "' is " + svc->state + ", not Healthy: it cannot score now",
                409);
  }
  if (!opts_.score) throw InternalError("this server has no scoring client for the studio");
  auto [status, body] = opts_.score(svc->port, svc->primary_key, req.body);
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
}

// The change cursor of an experiment's runs table: its newest run and the status and latest
// metric values of the runs the page shows (`runs=a,b,...`, at most 200).
std::string Studio::ExperimentState(const std::string& experiment,
                                    const std::vector<std::string>& run_ids) {
  RunQuery q;
  q.scope.experiment = experiment;
  q.page_size = 1;
  q.count = true;
  RunPage page = opts_.store->QueryRuns(q);
  std::string text = (page.runs.empty() ? std::string() : page.runs[0].id) + "\x1f" +
                     std::to_string(page.total.value_or(0));
  for (auto& id : run_ids) {
    auto r = opts_.store->GetRun(id);
    text += "\x1f" + id + "=" + (r ? r->status + r->tags.dump() : std::string("-"));
  }
  for (auto& [id, m] : opts_.store->LatestMetrics(run_ids)) text += "\x1f" + id + m.dump();
  return Sha256Hex(text).substr(0, 16);
}

void Studio::ExperimentEvents(HttpRequest& req, HttpResponse& res, const std::string& experiment) {
  std::vector<std::string> ids;
  std::string list = req.Query("runs");
  for (size_t i = 0; i < list.size();) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    if (j > i) {
      ids.push_back(list.substr(i, j - i));
      ValidateName("run id", ids.back());
    }
    i = j + 1;
  }
  if (ids.size() > 200)
    throw InvalidInput("runs: at most 200 run ids, got " + std::to_string(ids.size()));
  std::string since = req.Header("last-event-id");
  if (since.empty()) since = req.Query("since");
  std::string state = ExperimentState(experiment, ids);
  bool changed = state != since;
  if (!changed && req.can_defer &&
      std::chrono::steady_clock::now() < req.received + std::chrono::milliseconds(kEventWaitMs)) {
    res.defer_until = req.received + std::chrono::milliseconds(kEventWaitMs);
    return;
  }
  res.status = 200;
  res.content_type = "text/event-stream";
  res.headers["Cache-Control"] = "no-store";
  // Tables change in bursts (a sweep's children): at most one answer a second.
  res.body = "retry: 1000\n";
  if (changed) {
    res.body += "id: " + state + "\nevent: change\ndata: {}\n\n";
  } else {
    res.body += ": nothing changed\nid: " + state + "\n\n";
  }
}

void Studio::Events(HttpRequest& req, HttpResponse& res, const std::string& run_id) {
  std::string since = req.Header("last-event-id");
  if (since.empty()) since = req.Query("since");
  std::string data;
  std::string state = RunState(run_id, &data);
  bool changed = state != since;
  bool terminal = state.rfind("Completed.", 0) == 0 || state.rfind("Failed.", 0) == 0 ||
                  state.rfind("Canceled.", 0) == 0;
  if (!changed && req.can_defer &&
      std::chrono::steady_clock::now() < req.received + std::chrono::milliseconds(kEventWaitMs)) {
    res.defer_until = req.received + std::chrono::milliseconds(kEventWaitMs);
    return;
  }
  res.status = 200;
  res.content_type = "text/event-stream";
  res.headers["Cache-Control"] = "no-store";
  // A finished run changes no more: the client is told to come back rarely.
  res.body = "retry: " + std::to_string(terminal && !changed ? 5000 : kEventRetryMs) + "\n";
  if (changed) {
    res.body += "id: " + state + "\nevent: change\ndata: " + data + "\n\n";
  } else {
    res.body += ": nothing changed\nid: " + state + "\n\n";
  }
}

}  // namespace trainyard
