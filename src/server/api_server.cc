#include "server/api_server.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"

namespace trainyard {

namespace {

HttpResponse ErrorAnswer(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status == 401) r.headers["WWW-Authenticate"] = "Bearer";
  return r;
}

// Twice the cores, 4 to 16: enough that a few slow blocking handlers (an upload being hashed)
// do not stall the rest, few enough that on a small machine the workers do not just take
// the CPU from each other (on 2 busy cores 8 workers answered the run list at about half the
// rate of 2-4: BENCHMARKS.md H6).
int DefaultWorkers() {
  return static_cast<int>(std::clamp(2 * std::thread::hardware_concurrency(), 4u, 16u));
}

}  // namespace

HttpResponse ErrorResponseFor(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    return ErrorAnswer(err.http_status(), err.code(), err.what());
  } catch (const nlohmann::json::exception& err) {
    return ErrorAnswer(400, "InvalidJson",
                       std::string("malformed or mistyped JSON: ") + err.what());
  } catch (const std::exception& err) {
    return ErrorAnswer(500, "InternalError", err.what());
  } catch (...) {
    return ErrorAnswer(500, "InternalError", "unknown error");
  }
}

struct ApiServer::Impl {
  ChangeNotifier* notifier = nullptr;
  int listener = 0;
  std::atomic<Api*> api{nullptr};
  std::unique_ptr<BlockingHandlerPool> pool;
  std::unique_ptr<HttpServer> http;
};

ApiServer::ApiServer(ApiServerOptions opts, ChangeNotifier* notifier)
    : impl_(std::make_unique<Impl>()) {
  impl_->notifier = notifier;
  Impl* impl = impl_.get();
  impl->pool = std::make_unique<BlockingHandlerPool>(
      opts.workers > 0 ? opts.workers : DefaultWorkers(),
      [impl](HttpRequest& req, HttpResponse& res) { impl->api.load()->Handle(req, res); },
      &ErrorResponseFor);
  HttpServerOptions h;
  h.host = opts.host;
  h.port = opts.port;
  h.io_threads = opts.io_threads;
  h.upload_tmp_dir = opts.upload_tmp_dir;
  h.unauth_idle_seconds = opts.unauth_idle_seconds;
  h.idle_seconds = opts.idle_seconds;
  h.max_connections = opts.max_connections;
  // Streamed answers (run listings, series, large logs) are produced on the worker pool.
  h.run_blocking = [impl](std::function<void()> task) { return impl->pool->Post(std::move(task)); };
  h.exception_response = &ErrorResponseFor;
  impl->http = std::make_unique<HttpServer>(
      h, [impl](const HttpRequest& head) { return impl->api.load()->Admit(head); },
      impl->pool->handler());
  if (notifier) {
    impl->listener = notifier->AddListener([impl] { impl->pool->Wake(); });
  }
}

ApiServer::~ApiServer() {
  Stop();
  if (impl_->notifier) impl_->notifier->RemoveListener(impl_->listener);
}

uint16_t ApiServer::Listen() { return impl_->http->Listen(); }

void ApiServer::SetApi(Api* api) { impl_->api.store(api); }

void ApiServer::Start() {
  if (!impl_->api.load()) throw InternalError("ApiServer started without an Api");
  impl_->http->Start();
}

void ApiServer::Serve() {
  if (!impl_->api.load()) throw InternalError("ApiServer started without an Api");
  impl_->http->Serve();
  impl_->pool->Stop();
}

void ApiServer::Stop() {
  impl_->http->Stop();
  impl_->pool->Stop();
}

HttpServer& ApiServer::http() { return *impl_->http; }

}  // namespace trainyard
