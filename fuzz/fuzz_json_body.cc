// libFuzzer target: the JSON body handlers of the workspace server, in process. The first
// input byte picks a route, the rest is the request body; each request goes through
// Api::Handle (auth, routing, the bounded body parser, the handler, a real SQLite store in a
// temp folder) exactly as the HTTP layer calls it. Errors the HTTP layer turns into 4xx
// answers (trainyard::Error, nlohmann type errors) are expected; anything else that escapes
// (a 500: std::exception of another kind) aborts, as do crashes and sanitizer reports.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/change_notifier.h"
#include "common/error.h"
#include "common/util.h"
#include "compute/compute_service.h"
#include "compute/run_scheduler.h"
#include "server/api.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace fs = std::filesystem;
using namespace trainyard;

namespace {

struct Route {
  const char* method;
  const char* target;
  bool touches_files;  // routes whose bodies may name server paths (filtered, see below)
};

const Route kRoutes[] = {
    {"POST", "/api/v1/experiments/e/runs", true},
    {"POST", "/api/v1/runs/r1/metrics", false},
    {"POST", "/api/v1/runs/r1/metrics/spool?first_seq=0", false},
    {"PATCH", "/api/v1/runs/r1/tags", false},
    {"PATCH", "/api/v1/runs/r1/properties", false},
    {"POST", "/api/v1/runs/r2/status", false},
    {"POST", "/api/v1/models", false},
    {"POST", "/api/v1/blobs/missing", false},
    {"POST", "/api/v1/datasets", true},
    {"POST", "/api/v1/dataset-definitions", true},
    {"POST", "/api/v1/environments", true},
    {"POST", "/api/v1/datastores", true},
    {"POST", "/api/v1/datastores/workspaceblobstore/files", false},
    {"POST", "/api/v1/dataset-rows", true},
    {"POST", "/api/v1/dataset-files", true},
    {"POST", "/api/v1/runs/r1/logs/azureml-logs/70_driver_log.txt", false},
};
constexpr size_t kRouteCount = sizeof(kRoutes) / sizeof(kRoutes[0]);

struct World {
  fs::path dir;
  std::unique_ptr<MetadataStore> store;
  std::unique_ptr<BlobStore> blobs;
  ChangeNotifier notifier;
  std::unique_ptr<RunScheduler> scheduler;  // never started: queued runs stay queued
  std::unique_ptr<ComputeService> compute;
  std::unique_ptr<Api> api;
  const std::string token = "fuzztoken";

  World() {
    const char* shm = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    dir = fs::path(shm) / ("trainyard-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = OpenSqliteMetadataStore((dir / "meta.db").string());
    blobs = std::make_unique<BlobStore>(dir / "objects");
    ComputeContext cc;
    cc.agent_exe = "/bin/true";
    cc.data_dir = dir.string();
    scheduler = std::make_unique<RunScheduler>(*store, notifier);
    compute = std::make_unique<ComputeService>(cc, *store, *scheduler);
    ApiContext ctx;
    ctx.data_dir = dir;
    ctx.workspace_name = "fuzz";
    ctx.token = token;
    ctx.server_url = "http://127.0.0.1:1";
    ctx.store = store.get();
    ctx.blobs = blobs.get();
    ctx.notifier = &notifier;
    ctx.scheduler = scheduler.get();
    ctx.compute = compute.get();
    ctx.snapshot_max_bytes = 64 * 1024;
    ctx.snapshot_max_files = 4;
    api = std::make_unique<Api>(ctx);
    Call("PUT", "/api/v1/experiments/e", "");
    Call("POST", "/api/v1/experiments/e/runs", R"({"run_id": "r1"})");
    Call("POST", "/api/v1/experiments/e/runs", R"({"run_id": "r2"})");
  }
  ~World() {
    api.reset();
    compute.reset();
    scheduler.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void Call(const std::string& method, const std::string& target, std::string body) {
    HttpRequest req;
    req.method = method;
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = ParseQuery(target.substr(q + 1));
    req.headers["authorization"] = "Bearer " + token;
    req.body = std::move(body);
    HttpResponse res;
    try {
      api->Handle(req, res);
      // The answer must be sendable: valid JSON text when it is JSON.
      if (res.content_type == "application/json" && !res.body.empty()) {
        (void)nlohmann::json::parse(res.body);
      }
    } catch (const Error& e) {
      if (e.http_status() >= 500 && e.http_status() != 507) {
        fprintf(stderr, "5xx from %s %s: %s\n", method.c_str(), target.c_str(), e.what());
        std::abort();
      }
      // The HTTP layer sends the message as JSON: it must serialize.
      (void)nlohmann::json({{"message", e.what()}}).dump();
    } catch (const nlohmann::json::exception&) {
      // 400 InvalidJson ("malformed or mistyped JSON") from the HTTP layer.
    }
  }
};

World* g_world = nullptr;
size_t g_calls = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Route& r = kRoutes[data[0] % kRouteCount];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  // Keep the target hermetic and fast: bodies that could name a server path, a URL or a
  // container image (a snapshot of '/', a glob over the file system, `podman`) are not sent to
  // the routes that would act on them. Path handling has its own target.
  if (r.touches_files &&
      (body.find('/') != std::string::npos || body.find("\\u") != std::string::npos ||
       body.find("docker") != std::string::npos)) {
    return 0;
  }
  if (!g_world || ++g_calls % 20000 == 0) {  // a fresh database now and then: bounded growth
    delete g_world;
    g_world = new World();
  }
  g_world->Call(r.method, r.target, body);
  if (g_calls % 64 == 0) {
    g_world->Call("GET", "/api/v1/runs/r1/metrics", "");
    g_world->Call("GET", "/api/v1/runs/r1", "");
  }
  return 0;
}
