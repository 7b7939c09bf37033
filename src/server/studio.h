// The Studio: the workspace web UI served by the workspace server (docs/STUDIO.md).
//
// - Static assets (web/, built by npm at install into <build>/studio) at `/`, and the page
//   routes of the single-page app (/experiments/..., /runs/{id}, /models, ...) answered with
//   its index.html, without a token: they hold no data.
// - Login: a one-time login link (`GET /login?token=...`, minted by `trainyard ui` through
//   `POST /api/v1/studio/login-links`), or the workspace token pasted on the login page
//   (`POST /api/v1/studio/session`), sets an HttpOnly, SameSite=Strict session cookie.
// - A request that carries no Authorization header but a valid session cookie acts with the
//   workspace token's rights. Writes (anything but GET/HEAD) so authenticated must also carry
//   `X-Trainyard-CSRF: <the session's CSRF token>` (from GET /api/v1/studio/session), else 403:
//   another site can neither send the cookie (SameSite=Strict) nor set the header (no CORS).
//   The REST API keeps Bearer tokens.
// - Live updates: `GET /api/v1/studio/runs/{id}/events` answers Server-Sent Events; the request
//   is parked (no thread held) until the run changes, then answered with the events and
//   `retry:`, and EventSource reconnects with Last-Event-ID (a change cursor).
//   `GET /api/v1/studio/experiments/{name}/events?runs=a,b` does the same for a runs table:
//   a new run, or a status/tag/latest metric change of the listed runs.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "net/http_types.h"
#include "store/metadata_store.h"

namespace trainyard {

struct StudioOptions {
  std::filesystem::path assets_dir;  // index.html and assets/ ("" or missing: not built)
  std::filesystem::path data_dir;    // the workspace data dir (live logs under logs/)
  std::string workspace_token;
  std::string server_url;
  MetadataStore* store = nullptr;
  // POSTs a body to a scoring front's /score on loopback (port, key): (status, body). Set by
  // server_main with net/http_client.h (kept out of here: the fuzz library has no client).
  std::function<std::pair<int, std::string>(int port, const std::string& key,
                                            const std::string& body)>
      score;
  int64_t login_link_ttl_ms = 10 * 60 * 1000;
  int64_t session_ttl_ms = 7ll * 24 * 3600 * 1000;
};

// Where the studio's built assets are: $TRAINYARD_STUDIO_DIR, else `studio/` beside the
// binary (what scripts/install.sh builds). "" when neither holds an index.html.
std::filesystem::path FindStudioAssets();

class Studio : public StoreObserver {
 public:
  explicit Studio(StudioOptions opts);

  // Counts, per run, the non-scalar metric points (tables, rows, images) stored: they are not
  // in the scalar series summaries, so the run events need their own change counter.
  void MetricsInserted(const std::vector<MetricPoint>& points) override;
  void RunStatusChanged(const std::string&, const std::string&) override {}

  // The session cookie's name; it includes the port, as cookies do not keep ports apart.
  const std::string& cookie_name() const { return cookie_name_; }

  // On a request head without an Authorization header: true for what the studio answers
  // without credentials (assets, page routes, /login, the token-paste login).
  bool IsOpen(const HttpRequest& head) const;
  // Answers an open request (IsOpen was true).
  void HandleOpen(HttpRequest& req, HttpResponse& res);

  // On a request without an Authorization header: true when its session cookie is valid.
  // Throws Forbidden-style Error (403 CsrfTokenMissing) for a write without the session's
  // X-Trainyard-CSRF header.
  bool AuthenticateCookie(const HttpRequest& head) const;

  // Authenticated routes under /api/v1/studio/ (run_scope: "" for the workspace); true when
  // handled.
  bool HandleRoute(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs);

  // A one-time login URL (server_url + /login?token=...&next=...). `next` must be a path of
  // this server ("/runs/x"); anything else is a 400.
  std::string MintLoginUrl(const std::string& next);

 private:
  struct Session {
    std::string csrf;
    int64_t expires = 0;
  };
  struct LoginLink {
    std::string next;
    int64_t expires = 0;
  };
  std::string SessionIdOf(const HttpRequest& req) const;
  std::string NewSession();
  void SetSessionCookie(HttpResponse& res, const std::string& sid) const;
  void ServeIndex(HttpResponse& res) const;
  void ServeAsset(const std::string& name, HttpResponse& res) const;
  void Events(HttpRequest& req, HttpResponse& res, const std::string& run_id);
  std::string RunState(const std::string& run_id, std::string* data_json);
  void ExperimentEvents(HttpRequest& req, HttpResponse& res, const std::string& experiment);
  void ScoreService(HttpRequest& req, HttpResponse& res, const std::string& name);
  std::string ExperimentState(const std::string& experiment,
                              const std::vector<std::string>& run_ids);

  StudioOptions opts_;
  std::string cookie_name_;
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;       // key: SHA-256 of the cookie value
  std::map<std::string, LoginLink> login_links_;  // key: SHA-256 of the one-time token
  std::mutex other_mu_;
  struct OtherMetrics {
    uint64_t points = 0;          // non-scalar points seen since the server started
    std::set<std::string> names;  // their metric names (at most 200)
  };
  std::map<std::string, OtherMetrics> other_metrics_;  // by run id
};

}  // namespace trainyard
