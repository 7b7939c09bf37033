// A small HTTP/1.1 server on Boost.Beast: one thread per connection (keep-alive), bounded
// connection count, streamed uploads to temp files for routes that ask for it, file responses.
// Handlers are plain functions over HttpRequest/HttpResponse.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/http_types.h"

namespace trainyard {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                   // 0 = any free port
  uint64_t body_limit = 64ull << 20;   // ordinary requests
  uint64_t upload_limit = 2ull << 30;  // streamed uploads
  std::string upload_tmp_dir;          // where streamed uploads land
  int max_connections = 512;
  int idle_timeout_seconds = 300;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpRequest&, HttpResponse&)>;
  // Decides from method and path whether the body is streamed to a temp file.
  using StreamPredicate = std::function<bool(const std::string& method, const std::string& path)>;

  HttpServer(HttpServerOptions opts, Handler handler, StreamPredicate stream_upload);
  ~HttpServer();

  // Binds and listens; throws on failure. Returns the bound port.
  uint16_t Listen();
  // Accept loop; returns after Stop().
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard
