#include "serve/serve_front.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "net/http_server.h"
#include "serve/scorer.h"
#include "serve/serve_metrics.h"
#include "serve/service_keys.h"

namespace trainyard::serve {

namespace fs = std::filesystem;
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

Route RouteOf(std::string_view path) {
  if (path == "/" || path.empty()) return Route::kHealth;
  if (path == "/swagger.json") return Route::kSwagger;
  if (path == "/metrics") return Route::kMetrics;
  if (path == "/score") return Route::kScore;
  return Route::kOther;
}

std::string RequestIdOf(const HttpRequest& req) {
  std::string id = req.Header("x-request-id");
  return ValidRequestId(id) ? id : NewRequestId();
}

// The front's routes over the shared HTTP layer (net/http_server.h): heads are admitted on
// the I/O threads (the key of POST /score is checked before any body byte is read), handlers
// answer inline (native scorers) or from the Python pool's threads.
class FrontHttp {
 public:
  explicit FrontHttp(Front& front) : front_(front) {}

  HttpResponse Answer(const HttpRequest& req, Route route, int status, std::string body,
                      const char* content_type, const std::string& request_id) {
    HttpResponse r;
    r.status = status;
    r.content_type = content_type;
    r.body = std::move(body);
    r.headers["x-request-id"] = request_id;
    r.headers["x-ms-request-id"] = request_id;
    if (status == 401) r.headers["WWW-Authenticate"] = "Bearer";
    front_.metrics_.Record(route, status,
                           std::chrono::duration<double>(Clock::now() - req.received).count());
    return r;
  }

  HttpResponse ErrorAnswer(const HttpRequest& req, Route route, int status,
                           const std::string& message, const std::string& request_id) {
    return Answer(req, route, status, ErrorBody(message), "application/json", request_id);
  }

  // The HTTP layer's own errors (413, 400, 507, ...): the front's shape and headers.
  HttpResponse LayerError(const HttpRequest& head, int status, const std::string&,
                          const std::string& message) {
    return ErrorAnswer(head, RouteOf(head.path), status, message, RequestIdOf(head));
  }

  HeadDecision Admit(const HttpRequest& head) {
    HeadDecision d;
    const bool score_post = head.path == "/score" && head.method == "POST";
    const bool auth = front_.auth_enabled_.load();
    if (score_post && auth) {
      std::string authz = head.Header("authorization");
      if (authz.empty()) {
        d.reject = ErrorAnswer(head, Route::kScore, 401,
                               "missing 'Authorization: Bearer <key>' header; get the service's "
                               "keys with service.get_keys() or `trainyard service keys NAME`",
                               RequestIdOf(head));
        return d;
      }
      if (!front_.keys_.Check(authz)) {
        d.reject = ErrorAnswer(head, Route::kScore, 401,
                               "invalid key: use the service's primary or secondary key "
                               "(service.get_keys())",
                               RequestIdOf(head));
        return d;
      }
    }
    d.authenticated = !auth || score_post;
    d.body_limit = score_post ? front_.max_body_.load() : 64 * 1024;
    return d;
  }

  void Handle(HttpRequest req, HttpRespond respond) {
    std::string request_id = RequestIdOf(req);
    const std::string& path = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD";
    auto reply = [&](Route route, int status, std::string body, const char* ct) {
      respond(Answer(req, route, status, std::move(body), ct, request_id));
    };
    auto not_allowed = [&](Route route, const char* allow) {
      HttpResponse r =
          ErrorAnswer(req, route, 405, std::string("method not allowed; use ") + allow, request_id);
      r.headers["Allow"] = allow;
      respond(std::move(r));
    };
    switch (RouteOf(path)) {
      case Route::kHealth:
        if (!get) return not_allowed(Route::kHealth, "GET");
        return reply(Route::kHealth, 200, "Healthy", "text/plain; charset=utf-8");
      case Route::kSwagger:
        if (!get) return not_allowed(Route::kSwagger, "GET");
        return reply(Route::kSwagger, 200, front_.SwaggerText(), "application/json");
      case Route::kMetrics: {
        if (!get) return not_allowed(Route::kMetrics, "GET");
        auto g = front_.Current();
        return reply(Route::kMetrics, 200,
                     front_.metrics_.Render(g && g->scorer ? g->scorer->MetricsText() : ""),
                     "text/plain; version=0.0.4");
      }
      case Route::kScore:
        if (req.method == "GET") {
          // Azure's inference server answers GET /score as a liveness check too.
          return reply(Route::kScore, 200, "Healthy", "text/plain; charset=utf-8");
        }
        if (req.method != "POST") return not_allowed(Route::kScore, "POST");
        return Score(std::move(req), std::move(respond), request_id);
      default:
        respond(ErrorAnswer(req, Route::kOther, 404,
                            "no route " + req.method + " " + path +
                                "; use POST /score, GET / (health), GET /swagger.json or GET "
                                "/metrics",
                            request_id));
    }
  }

 private:
  void Score(HttpRequest req, HttpRespond respond, const std::string& request_id) {
    // The key was checked on the head (Admit); settings may have been reloaded since, which
    // only matters for this one request.
    auto error = [&](int status, const std::string& message) {
      respond(ErrorAnswer(req, Route::kScore, status, message, request_id));
    };
    std::string ct = req.Header("content-type");
    if (!IsJsonContentType(ct)) {
      return error(415, "unsupported Content-Type '" + ct +
                            "': send the request body as JSON with 'Content-Type: "
                            "application/json'");
    }
    std::string& body = req.body;
    if (body.empty()) {
      return error(400, "the request body is empty: send JSON, e.g. {\"data\": [[1, 2, 3, 4]]}");
    }
    auto gen = front_.Current();
    if (!gen || !gen->scorer) return error(503, "the service is starting");
    if (gen->scorer_config.value("kind", "") != "xgboost" && !Json::accept(body)) {
      // Report where the JSON broke (the parse is only done for bad bodies).
      std::string why = "the request body is not valid JSON";
      try {
        Json parsed = Json::parse(body);
        (void)parsed;
      } catch (const Json::exception& e) {
        why += std::string(": ") + e.what();
      }
      return error(400, why);
    }
    auto deadline = req.received + std::chrono::milliseconds(front_.timeout_ms_.load());
    // A scorer may answer on this thread inside Score() (the native one: the layer writes the
    // answer inline) or later from another thread (the Python pool).
    auto received = req.received;
    gen->scorer->Score(std::move(body), deadline,
                       [this, respond = std::move(respond), request_id, received](ScoreResult r) {
                         HttpRequest head;
                         head.received = received;
                         respond(Answer(head, Route::kScore, r.status, std::move(r.body),
                                        "application/json", request_id));
                       });
  }

  Front& front_;
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
  RaiseFileLimit();
  FrontHttp routes(front);
  HttpServerOptions hopts;
  hopts.host = host;
  hopts.port = static_cast<uint16_t>(port);
  hopts.io_threads = threads;
  hopts.idle_seconds = 120;
  hopts.server_header = "trainyard-serve";
  hopts.error_response = [&routes](const HttpRequest& head, int status, const std::string& code,
                                   const std::string& message) {
    return routes.LayerError(head, status, code, message);
  };
  HttpServer http(
      hopts, [&routes](const HttpRequest& head) { return routes.Admit(head); },
      [&routes](HttpRequest req, HttpRespond respond) {
        routes.Handle(std::move(req), std::move(respond));
      });
  try {
    front.bound_port_ = http.Listen();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::cerr << "trainyard serve: " << msg << std::endl;
    front.WriteStatus(generation, "Failed", {{"message", msg}, {"traceback", ""}});
    return 3;
  }

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
  http.Start();
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
  http.StopAccepting();
  if (auto g = front.Current(); g && g->scorer) g->scorer->Drain();
  // Let the last answers reach their sockets.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http.Stop();
  {
    std::lock_guard lk(front.gen_mu_);
    front.gen_.reset();
  }
  return 0;
}

}  // namespace trainyard::serve
