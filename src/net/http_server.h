// The event-driven HTTP/1.1 server shared by the workspace server (server/api_server.h) and
// the scoring fronts (serve/serve_front.h): Boost.Beast over Asio asynchronous I/O, a few I/O
// threads (one io_context each; a connection stays on one), keep-alive, streamed uploads to
// temp files, file responses.
//
// Work only after admission. When a request head has been read, and before any body byte is
// read, the owner's Admit callback decides on the head alone (credentials, route): answer now
// (401, 404, ...: the body is never read or stored), or accept a body up to a per-route limit,
// buffered or streamed to a temp file. A body over the limit gets 413 before it is read. A
// rejected request's connection is closed after the answer; what the client still sends is
// discarded for a few seconds (lingering close, as nginx does) so that it can read the answer.
//
// Idle limits and shedding. A connection that has not completed an authenticated request
// head (Admit said `authenticated`) is closed when no full head arrives within
// unauth_idle_seconds; an authenticated one may idle idle_seconds between requests. Body
// reads and response writes must make progress every io_seconds. There is no fixed small
// connection cap: at max_connections (by default most of RLIMIT_NOFILE, which
// RaiseFileLimit() lifts to the hard limit) or when accept() runs out of descriptors, the
// longest-idle unauthenticated connection is closed to make room, then the longest-idle
// authenticated one; only when every connection is busy does a new one get 503.
//
// Handlers run on the I/O thread and must not block: they answer inline or hand the request
// to another thread and call the responder later, from any thread. BlockingHandlerPool runs
// blocking handlers on a bounded pool and parks long polls without holding a thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/http_types.h"

namespace trainyard {

// A streamed answer (HttpResponse::stream) is sent in pieces of at least this many bytes
// (the producer's output is gathered up to it), each as one chunk.
inline constexpr size_t kStreamPieceBytes = 64 * 1024;

// Admit's decision on a request head.
struct HeadDecision {
  // Answer now with this response; the body is never read.
  std::optional<HttpResponse> reject;
  uint64_t body_limit = 64 * 1024;  // bytes; a larger body gets 413 before it is read
  bool stream_to_file = false;      // the body goes to a temp file (HttpRequest::body_file)
  bool authenticated = false;       // the head carried valid credentials
};

// Completes one request; callable from any thread, once (later calls are ignored).
using HttpRespond = std::function<void(HttpResponse)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;           // 0 = any free port
  int io_threads = 0;          // 0 = one per core, at most 4
  std::string upload_tmp_dir;  // where streamed uploads land (needed when Admit streams)
  uint32_t header_limit = 64 * 1024;
  int unauth_idle_seconds = 10;  // no authenticated request head yet
  int idle_seconds = 300;        // between requests of an authenticated connection
  int io_seconds = 60;           // a body read or a response write that makes no progress
  int linger_seconds = 5;        // discarding an unread body after a rejecting answer
  int max_connections = 0;       // 0 = RLIMIT_NOFILE minus a reserve for files and children
  std::string server_header;     // "Server:" of every answer when not empty
  // The server's own error answers (400, 413, 431, 500, 503, 507) for a request head (which
  // may be partly empty). Default: {"error": {"code", "message"}} as application/json.
  std::function<HttpResponse(const HttpRequest& head, int status, const std::string& code,
                             const std::string& message)>
      error_response;
  // Runs a task that may block (the producer of a streamed answer, HttpResponse::stream) off
  // the I/O threads; returns false when it cannot (shutting down: the connection is closed).
  // When unset, requests get can_stream false and a stream set anyway is collected in one
  // task on the I/O thread (only for producers that do not block).
  std::function<bool(std::function<void()> task)> run_blocking;
  // The answer for an exception thrown by a stream producer before anything was sent.
  // Default: 500 InternalError with the exception's message.
  std::function<HttpResponse(std::exception_ptr)> exception_response;
};

class HttpServer {
 public:
  // Runs on an I/O thread for every request head; must not block.
  using Admit = std::function<HeadDecision(const HttpRequest& head)>;
  // Runs on an I/O thread once the body is in; must not block.
  using Handler = std::function<void(HttpRequest req, HttpRespond respond)>;

  HttpServer(HttpServerOptions opts, Admit admit, Handler handler);
  ~HttpServer();  // Stop()s

  // Binds and listens; throws Error("AddressInUse") on failure. Returns the bound port.
  uint16_t Listen();
  // Starts accepting on the I/O threads (returns at once).
  void Start();
  // Start() and block until Stop().
  void Serve();
  // Stops accepting new connections; the open ones carry on.
  void StopAccepting();
  // Stops accepting, closes every connection and joins the I/O threads. Idempotent; may be
  // called from any thread but an I/O thread.
  void Stop();

  int max_connections() const;
  size_t connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Raises this process's RLIMIT_NOFILE soft limit to its hard limit; returns the soft limit.
uint64_t RaiseFileLimit();

// Runs blocking handlers (SQLite, the file system) on `threads` worker threads so that the I/O
// threads never block. A handler that answers a long poll whose condition does not hold yet
// sets HttpResponse::defer_until: the request is parked, holding no thread, and run again
// after Wake() or at that time (then with can_defer false), so long polls cannot exhaust the
// pool. Exceptions from the handler are turned into answers by `on_error`.
class BlockingHandlerPool {
 public:
  using Fn = std::function<void(HttpRequest&, HttpResponse&)>;
  using OnError = std::function<HttpResponse(std::exception_ptr)>;

  BlockingHandlerPool(int threads, Fn fn, OnError on_error);
  ~BlockingHandlerPool();  // Stop()s

  // The HttpServer::Handler that queues requests here. A handler's streamed answer
  // (HttpResponse::stream) gets its first piece produced on the worker before it is handed
  // back, so a stream that ends early becomes an ordinary answer with no extra hop.
  HttpServer::Handler handler();
  // Runs `task` on a worker (after the requests queued before it); false once stopping. For
  // HttpServerOptions::run_blocking.
  bool Post(std::function<void()> task);
  // Something changed: parked requests are run again.
  void Wake();
  // Parked requests get their last attempt now; waits for the queue to empty and joins the
  // workers. Requests that arrive later are answered 503.
  void Stop();

  size_t parked() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace trainyard
