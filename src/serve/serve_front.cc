#include "serve/serve_front.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "serve/scorer.h"
#include "serve/serve_metrics.h"
#include "serve/service_keys.h"

namespace trainyard::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

namespace {

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // variant 1
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

bool IsJsonContentType(std::string_view ct) {
  while (!ct.empty() && ct.front() == ' ') ct.remove_prefix(1);
  if (ct.empty()) return true;  // clients that send none get the benefit of the doubt
  std::string lower;
  for (char c : ct.substr(0, ct.find(';')))
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  while (!lower.empty() && lower.back() == ' ') lower.pop_back();
  return lower == "application/json" || lower == "text/json";
}

// What one serve.json generation says.
struct Generation {
  int64_t number = 0;
  Json scorer_config;
  std::shared_ptr<Scorer> scorer;
};

}  // namespace

class Front {
 public:
  explicit Front(fs::path dir) : dir_(std::move(dir)) {}

  Json LoadConfig() {
    try {
      return Json::parse(ReadFile(dir_ / "serve.json"));
    } catch (const Json::exception& e) {
      throw InvalidInput("serve.json in " + dir_.string() + " is not valid JSON: " + e.what());
    }
  }

  void ApplySettings(const Json& c) {
    name_ = c.value("name", "service");
    auth_enabled_ = c.value("auth_enabled", false);
    timeout_ms_ = std::max<int64_t>(1, c.value("timeout_ms", int64_t{60000}));
    max_body_ = c.value("max_body_bytes", uint64_t{100} << 20);
    {
      std::lock_guard lk(swagger_mu_);
      swagger_ = BuildSwagger(c);
    }
    if (auth_enabled_) {
      std::string kf = c.value("keys_file", (dir_ / "keys.json").string());
      keys_.Set(LoadKeyFile(kf));
    }
  }

  void WriteStatus(int64_t generation, const std::string& state, const Json& error) {
    Json s = {{"generation", generation}, {"state", state},      {"error", error},
              {"pid", ::getpid()},        {"port", bound_port_}, {"time", NowMillis()}};
    WriteFileAtomic(dir_ / "status.json", s.dump());
  }

  std::shared_ptr<Generation> Current() {
    std::lock_guard lk(gen_mu_);
    return gen_;
  }

  // Starts the scorer of `config`; returns it or throws ScorerInitError.
  std::shared_ptr<Generation> StartGeneration(const Json& config) {
    auto g = std::make_shared<Generation>();
    g->number = config.value("generation", int64_t{0});
    g->scorer_config = config.at("scorer");
    std::shared_ptr<Scorer> scorer = MakeScorer(g->scorer_config);
    scorer->Start();
    g->scorer = std::move(scorer);
    return g;
  }

  void Swap(std::shared_ptr<Generation> next) {
    std::shared_ptr<Generation> old;
    {
      std::lock_guard lk(gen_mu_);
      old = std::move(gen_);
      gen_ = std::move(next);
    }
    if (old && old->scorer) {
      // Requests already handed to the old scorer finish there; then it is released.
      std::thread([old] { old->scorer->Drain(); }).detach();
    }
  }

  // SIGHUP: new keys and settings; a new scorer when its config changed.
  void Reload() {
    Json c;
    try {
      c = LoadConfig();
      ApplySettings(c);
    } catch (const std::exception& e) {
      std::cerr << "trainyard serve: reload failed: " << e.what() << std::endl;
      return;
    }
    auto cur = Current();
    int64_t gen = c.value("generation", int64_t{0});
    if (cur && c.contains("scorer") && c["scorer"] == cur->scorer_config) {
      {
        std::lock_guard lk(gen_mu_);
        gen_->number = gen;
      }
      WriteStatus(gen, "Healthy", nullptr);
      std::cerr << "trainyard serve: settings reloaded (generation " << gen << ")" << std::endl;
      return;
    }
    std::cerr << "trainyard serve: starting the scorer of generation " << gen << std::endl;
    try {
      auto next = StartGeneration(c);
      Swap(std::move(next));
      WriteStatus(gen, "Healthy", nullptr);
      std::cerr << "trainyard serve: generation " << gen << " is serving" << std::endl;
    } catch (const ScorerInitError& e) {
      std::cerr << "trainyard serve: generation " << gen << " failed to start: " << e.what() << "\n"
                << e.traceback() << std::endl;
      WriteStatus(gen, "Failed", {{"message", e.what()}, {"traceback", e.traceback()}});
    } catch (const std::exception& e) {
      WriteStatus(gen, "Failed", {{"message", e.what()}, {"traceback", ""}});
    }
  }

  Json BuildSwagger(const Json& c) const {
    Json score_post = {
        {"description", "Run the model on the request body and return its predictions"},
        {"consumes", {"application/json"}},
        {"produces", {"application/json"}},
        {"parameters",
         {{{"name", "serviceInputPayload"},
           {"in", "body"},
           {"required", true},
           {"schema", {{"type", "object"}, {"example", c.value("input_example", Json())}}}}}},
        {"responses",
         {{"200",
           {{"description", "Success"},
            {"schema", {{"type", "object"}, {"example", c.value("output_example", Json())}}}}},
          {"default",
           {{"description", "Failure"},
            {"schema",
             {{"type", "object"}, {"properties", {{"message", {{"type", "string"}}}}}}}}}}}};
    if (c.value("auth_enabled", false)) score_post["security"] = {{{"Bearer", Json::array()}}};
    Json doc = {{"swagger", "2.0"},
                {"info",
                 {{"title", c.value("name", "service")},
                  {"description", "API specification for the Trainyard web service " +
                                      c.value("name", std::string("service"))},
                  {"version", std::to_string(c.value("generation", 0))}}},
                {"schemes", {"http"}},
                {"consumes", {"application/json"}},
                {"produces", {"application/json"}},
                {"paths",
                 {{"/",
                   {{"get",
                     {{"operationId", "ServiceHealthCheck"},
                      {"description", "Health probe: answers 'Healthy'"},
                      {"responses", {{"200", {{"description", "Healthy"}}}}}}}}},
                  {"/score", {{"post", score_post}}}}}};
    if (c.value("auth_enabled", false)) {
      doc["securityDefinitions"] = {{"Bearer",
                                     {{"type", "apiKey"},
                                      {"name", "Authorization"},
                                      {"in", "header"},
                                      {"description", "For example: Bearer abc123"}}}};
    }
    return doc;
  }

  fs::path dir_;
  std::string name_;
  std::atomic<bool> auth_enabled_{false};
  std::atomic<int64_t> timeout_ms_{60000};
  std::atomic<uint64_t> max_body_{100u << 20};
  Json swagger_;  // read on the I/O threads only after start; replaced under swagger_mu_
  std::mutex swagger_mu_;
  ServiceKeys keys_;
  ServeMetrics metrics_;
  std::mutex gen_mu_;
  std::shared_ptr<Generation> gen_;
  int bound_port_ = 0;
  std::atomic<bool> stopping_{false};

  std::string SwaggerText() {
    std::lock_guard lk(swagger_mu_);
    return swagger_.dump();
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Front& front) : stream_(std::move(socket)), front_(front) {}

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(64 * 1024);
    parser_->body_limit(front_.max_body_.load());
    stream_.expires_after(std::chrono::seconds(120));  // idle keep-alive connections
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    start_ = Clock::now();
    if (ec == http::error::body_limit) {
      // A Content-Length over the limit fails the header read itself.
      request_id_ = NewRequestId();
      keep_alive_ = false;
      return Error(Route::kScore, 413,
                   "the request body is over the limit of " +
                       std::to_string(front_.max_body_.load()) + " bytes");
    }
    if (ec) return Close(0);
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    request_id_.clear();
    if (auto it = req.find("x-request-id"); it != req.end() && ValidRequestId(it->value())) {
      request_id_ = std::string(it->value());
    }
    if (request_id_.empty()) request_id_ = NewRequestId();
    if (auto len = parser_->content_length(); len && *len > front_.max_body_.load()) {
      keep_alive_ = false;
      return Error(Route::kScore, 413,
                   "the request body (" + std::to_string(*len) + " bytes) is over the limit of " +
                       std::to_string(front_.max_body_.load()) + " bytes");
    }
    if (req[http::field::expect] == "100-continue") {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
                          if (ec2) return self->Close(0);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return Error(Route::kScore, 413,
                   "the request body is over the limit of " +
                       std::to_string(front_.max_body_.load()) + " bytes");
    }
    if (ec) return Close(0);
    stream_.expires_never();
    Dispatch(parser_->release());
  }

  void Dispatch(http::request<http::string_body> req) {
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    if (path == "/" || path.empty()) {
      if (!get) return MethodNotAllowed(Route::kHealth, "GET");
      return Reply(Route::kHealth, 200, "Healthy", "text/plain; charset=utf-8");
    }
    if (path == "/swagger.json") {
      if (!get) return MethodNotAllowed(Route::kSwagger, "GET");
      return Reply(Route::kSwagger, 200, front_.SwaggerText(), "application/json");
    }
    if (path == "/metrics") {
      if (!get) return MethodNotAllowed(Route::kMetrics, "GET");
      auto g = front_.Current();
      return Reply(Route::kMetrics, 200,
                   front_.metrics_.Render(g && g->scorer ? g->scorer->MetricsText() : ""),
                   "text/plain; version=0.0.4");
    }
    if (path == "/score") {
      if (req.method() == http::verb::get) {
        // Azure's inference server answers GET /score as a liveness check too.
        return Reply(Route::kScore, 200, "Healthy", "text/plain; charset=utf-8");
      }
      if (req.method() != http::verb::post) return MethodNotAllowed(Route::kScore, "POST");
      return Score(std::move(req));
    }
    Error(Route::kOther, 404,
          "no route " + std::string(req.method_string()) + " " + std::string(path) +
              "; use POST /score, GET / (health), GET /swagger.json or GET /metrics");
  }

  void Score(http::request<http::string_body> req) {
    if (front_.auth_enabled_.load()) {
      auto it = req.find(http::field::authorization);
      if (it == req.end()) {
        return Error(Route::kScore, 401,
                     "missing 'Authorization: Bearer <key>' header; get the service's keys "
                     "with service.get_keys() or `trainyard service keys NAME`");
      }
      if (!front_.keys_.Check(it->value())) {
        return Error(Route::kScore, 401,
                     "invalid key: use the service's primary or secondary key "
                     "(service.get_keys())");
      }
    }
    if (!IsJsonContentType(req[http::field::content_type])) {
      return Error(Route::kScore, 415,
                   "unsupported Content-Type '" + std::string(req[http::field::content_type]) +
                       "': send the request body as JSON with 'Content-Type: application/json'");
    }
    std::string& body = req.body();
    if (body.empty()) {
      return Error(Route::kScore, 400,
                   "the request body is empty: send JSON, e.g. {\"data\": [[1, 2, 3, 4]]}");
    }
    auto gen = front_.Current();
    if (!gen || !gen->scorer) return Error(Route::kScore, 503, "the service is starting");
    if (gen->scorer_config.value("kind", "") != "xgboost" && !Json::accept(body)) {
      // Report where the JSON broke (the parse is only done for bad bodies).
      std::string why = "the request body is not valid JSON";
      try {
        Json parsed = Json::parse(body);
        (void)parsed;
      } catch (const Json::exception& e) {
        why += std::string(": ") + e.what();
      }
      return Error(Route::kScore, 400, why);
    }
    auto deadline = start_ + std::chrono::milliseconds(front_.timeout_ms_.load());
    // A scorer that answers on this thread inside Score() (the native one) is replied to
    // directly; answers from other threads (the Python pool) are posted to this connection's
    // thread.
    scoring_thread_ = std::this_thread::get_id();
    sync_result_.reset();
    gen->scorer->Score(std::move(body), deadline, [self = shared_from_this()](ScoreResult r) {
      if (std::this_thread::get_id() == self->scoring_thread_) {
        self->sync_result_ = std::move(r);
        return;
      }
      asio::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
        self->Reply(Route::kScore, r.status, std::move(r.body), "application/json");
      });
    });
    scoring_thread_ = std::thread::id();
    if (sync_result_) {
      ScoreResult r = std::move(*sync_result_);
      sync_result_.reset();
      Reply(Route::kScore, r.status, std::move(r.body), "application/json");
    }
  }

  void MethodNotAllowed(Route route, const char* allow) {
    res_.set(http::field::allow, allow);
    Error(route, 405, std::string("method not allowed; use ") + allow);
  }

  void Error(Route route, int status, const std::string& message) {
    if (status == 401) res_.set(http::field::www_authenticate, "Bearer");
    Reply(route, status, ErrorBody(message), "application/json");
  }

  void Reply(Route route, int status, std::string body, const char* content_type) {
    res_.result(static_cast<http::status>(status));
    res_.version(11);
    res_.set(http::field::server, "trainyard-serve");
    res_.set(http::field::content_type, content_type);
    res_.set("x-request-id", request_id_);
    res_.set("x-ms-request-id", request_id_);
    res_.keep_alive(keep_alive_);
    res_.body() = std::move(body);
    res_.prepare_payload();
    front_.metrics_.Record(route, status,
                           std::chrono::duration<double>(Clock::now() - start_).count());
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    res_ = {};
    if (ec) return Close(0);
    if (!keep_alive_) return Linger();
    ReadHeader();
  }

  // Ends a connection whose request body may be unread (413): closing with unread bytes
  // would reset the connection and could destroy the answer before the client reads it, so
  // stop sending, read and drop what the client still sends (2 s at most), then close.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    scratch_.resize(16384);
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec2, size_t) {
                              if (ec2) return self->Close(0);
                              self->Linger();
                            });
  }

  void Close(int) {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Front& front_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string request_id_;
  std::thread::id scoring_thread_;  // set while inside Scorer::Score
  std::optional<ScoreResult> sync_result_;
  std::vector<char> scratch_;
  bool keep_alive_ = true;
  Clock::time_point start_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Accepts on ios[0]; each connection lives on one of `ios` (round robin), each run by one
  // thread, so a connection's handlers never hop threads.
  Listener(std::vector<std::unique_ptr<asio::io_context>>& ios, Front& front, tcp::endpoint ep)
      : ios_(ios), acceptor_(*ios[0]), front_(front) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void Start() { Accept(); }
  void Stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  void Accept() {
    asio::io_context& target = *ios_[next_++ % ios_.size()];
    acceptor_.async_accept(target,
                           [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
                             if (ec) {
                               if (ec == asio::error::operation_aborted) return;
                             } else {
                               s.set_option(tcp::no_delay(true), ec);
                               std::make_shared<Session>(std::move(s), self->front_)->Run();
                             }
                             if (self->acceptor_.is_open()) self->Accept();
                           });
  }

  std::vector<std::unique_ptr<asio::io_context>>& ios_;
  tcp::acceptor acceptor_;
  Front& front_;
  size_t next_ = 0;
};

}  // namespace

int RunServe(const ServeOptions& opts) {
  if (opts.service_dir.empty()) throw InvalidInput("trainyard serve needs --dir SERVICE_DIR");
  fs::path dir = fs::absolute(opts.service_dir);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  pid_t parent = ::getppid();

  Front front(dir);
  Json config = front.LoadConfig();
  front.ApplySettings(config);
  int64_t generation = config.value("generation", int64_t{0});
  std::string host = config.value("host", "127.0.0.1");
  int port = config.value("port", 0);

  int threads = config.value("threads", 0);
  if (threads <= 0) {
    threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  }
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int i = 0; i < threads; ++i) ios.push_back(std::make_unique<asio::io_context>(1));
  std::shared_ptr<Listener> listener;
  try {
    listener = std::make_shared<Listener>(
        ios, front, tcp::endpoint(asio::ip::make_address(host), static_cast<uint16_t>(port)));
  } catch (const std::exception& e) {
    std::string msg = "cannot listen on " + host + ":" + std::to_string(port) + ": " + e.what();
    std::cerr << "trainyard serve: " << msg << std::endl;
    front.WriteStatus(generation, "Failed", {{"message", msg}, {"traceback", ""}});
    return 3;
  }
  front.bound_port_ = listener->port();

  std::cerr << "trainyard serve: service '" << front.name_ << "' generation " << generation
            << ": starting the scorer (" << config["scorer"].value("kind", "") << ")" << std::endl;
  try {
    front.Swap(front.StartGeneration(config));
  } catch (const ScorerInitError& e) {
    std::cerr << "trainyard serve: the scorer failed to start: " << e.what() << "\n"
              << e.traceback() << std::endl;
    front.WriteStatus(generation, "Failed", {{"message", e.what()}, {"traceback", e.traceback()}});
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "trainyard serve: the scorer failed to start: " << e.what() << std::endl;
    front.WriteStatus(generation, "Failed", {{"message", e.what()}, {"traceback", ""}});
    return 3;
  }
  listener->Start();
  std::vector<std::thread> pool;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  for (auto& io : ios) work.push_back(asio::make_work_guard(*io));
  for (auto& io : ios) pool.emplace_back([&io] { io->run(); });
  front.WriteStatus(generation, "Healthy", nullptr);
  std::cerr << "trainyard serve: listening on http://" << host << ":" << front.bound_port_ << " ("
            << threads << " threads)" << std::endl;

  for (;;) {
    timespec ts{0, 500'000'000};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGHUP) {
      front.Reload();
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
    if (opts.watch_parent && ::getppid() != parent) {
      std::cerr << "trainyard serve: the workspace server went away; stopping" << std::endl;
      break;
    }
  }
  std::cerr << "trainyard serve: stopping" << std::endl;
  listener->Stop();
  if (auto g = front.Current(); g && g->scorer) g->scorer->Drain();
  // Let the last answers reach their sockets.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& io : ios) io->stop();
  for (auto& t : pool) t.join();
  {
    std::lock_guard lk(front.gen_mu_);
    front.gen_.reset();
  }
  return 0;
}

}  // namespace trainyard::serve
