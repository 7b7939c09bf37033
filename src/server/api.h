// The REST API of a workspace server (docs/REST.md): routes requests to the metadata store,
// the blob store, the run logs and the scheduler. Handlers throw trainyard::Error; the HTTP
// layer turns those into {"error": {code, message}} answers.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/change_notifier.h"
#include "compute/compute_service.h"
#include "compute/run_scheduler.h"
#include "net/http_server.h"
#include "net/http_types.h"
#include "server/studio.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

struct ApiContext {
  std::filesystem::path data_dir;
  std::string workspace_name;
  std::string token;
  std::string server_url;
  MetadataStore* store = nullptr;
  BlobStore* blobs = nullptr;
  ChangeNotifier* notifier = nullptr;
  RunScheduler* scheduler = nullptr;
  ComputeService* compute = nullptr;  // compute targets: submissions are checked against them
  uint64_t snapshot_max_bytes = 300ull * 1024 * 1024;
  uint64_t snapshot_max_files = 2000;
  // Route groups owned by other components (web services, ...): each is tried, after
  // authentication and before the built-in routes, and returns true when it handled the request.
  std::vector<std::function<bool(HttpRequest&, HttpResponse&)>> extensions;
  // The web UI (server/studio.h): its pages and login without a token, its session cookie as
  // a credential for requests without an Authorization header. nullptr: no studio.
  Studio* studio = nullptr;
};

class Api {
 public:
  explicit Api(ApiContext ctx);
  // May block (SQLite, files); long polls (wait_ms) answer with res.defer_until when
  // req.can_defer (net/http_server.h BlockingHandlerPool) and wait here otherwise.
  void Handle(HttpRequest& req, HttpResponse& res);
  // On a request head, before any body byte is read: the token (401 otherwise, /healthz is
  // open), then the route's body cap and whether the body is streamed to a temp file
  // (artifact and blob uploads). Does not block.
  HeadDecision Admit(const HttpRequest& head) const;

 private:
  void RouteRequest(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace trainyard
