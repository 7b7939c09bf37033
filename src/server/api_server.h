// The workspace server's HTTP side: the shared event-driven HTTP server (net/http_server.h)
// in front of the Api. Request heads are checked by Api::Admit on the I/O threads (token,
// per-route body cap, streamed or buffered body) before any body byte is read; the Api's
// handlers, which may block (SQLite, files), run on a bounded worker pool; long polls
// (`wait_ms`) are parked without a thread and looked at again whenever the ChangeNotifier
// fires, so they cannot exhaust the pool.
#pragma once

#include <memory>
#include <string>

#include "common/change_notifier.h"
#include "net/http_server.h"
#include "server/api.h"

namespace trainyard {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string upload_tmp_dir;  // the blob store's temp dir (uploads are renamed from there)
  int workers = 0;             // blocking handler threads; 0 = 2 per core, 4 to 16
  int io_threads = 0;          // 0 = one per core, at most 4
  int unauth_idle_seconds = 10;
  int idle_seconds = 300;
  int max_connections = 0;  // 0 = from RLIMIT_NOFILE (net/http_server.h)
};

class ApiServer {
 public:
  ApiServer(ApiServerOptions opts, ChangeNotifier* notifier);
  ~ApiServer();

  // Binds; returns the port. Throws Error("AddressInUse").
  uint16_t Listen();
  // The Api answering requests; set before Start()/Serve() (it needs the bound URL).
  void SetApi(Api* api);
  void Start();
  // Start() and block until Stop(); returns once the workers are idle.
  void Serve();
  void Stop();

  HttpServer& http();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"error": {"code", "message"}} with the Error's status; JSON errors are 400 InvalidJson,
// anything else 500 InternalError.
HttpResponse ErrorResponseFor(std::exception_ptr e);

}  // namespace trainyard
