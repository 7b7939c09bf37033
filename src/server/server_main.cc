#include "server/server_main.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <utility>

#include "common/change_notifier.h"
#include "common/error.h"
#include "common/util.h"
#include "common/workspace_config.h"
#include "compute/compute_service.h"
#include "compute/run_scheduler.h"
#include "env/container_runtime.h"
#include "env/process.h"
#include "net/http_client.h"
#include "runner/agent.h"
#include "serve/service_api.h"
#include "serve/service_manager.h"
#include "server/api.h"
#include "server/api_server.h"
#include "server/compute_api.h"
#include "server/hyperdrive_api.h"
#include "server/studio.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

// The AutoML engine binding that remote nodes get with the SDK: $TRAINYARD_AUTOML_ENGINE_DIR,
// next to the SDK, or <exe dir>/python/trainyard/_automl (the build tree). "" when not built.
std::string FindAutomlEngine(const std::string& sdk_dir) {
  std::error_code ec;
  std::vector<fs::path> cands;
  if (const char* e = std::getenv("TRAINYARD_AUTOML_ENGINE_DIR"); e && *e) cands.push_back(e);
  cands.push_back(fs::path(sdk_dir) / "trainyard/_automl");
  cands.push_back(SelfExe().parent_path() / "python/trainyard/_automl");
  for (auto& c : cands) {
    if (fs::exists(c / "_engine.abi3.so", ec)) return (c / "_engine.abi3.so").string();
  }
  return "";
}

// --agent-user: validated before anything starts (a setting that would be ignored is refused).
void ConfigureAgentUser(const std::string& user, ComputeContext& sopts) {
  if (sopts.agent_node_dir.empty()) {
    throw InvalidInput(
        "--agent-user needs --agent-node-dir (agents of another account run HTTP-only with a "
        "node dir that account owns)");
  }
  struct passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) throw InvalidInput("--agent-user: no account named '" + user + "'");
  if (pw->pw_uid == 0) {
    throw InvalidInput("--agent-user: '" + user + "' is root; name another account");
  }
  if (::geteuid() != 0) {
    throw InvalidInput("--agent-user needs the server to run as root (it starts agents as '" +
                       user + "')");
  }
  auto setpriv = FindExecutable("setpriv");
  if (!setpriv) throw InvalidInput("--agent-user needs setpriv(1) (util-linux) on the PATH");
  fs::create_directories(sopts.agent_node_dir);
  if (::chown(sopts.agent_node_dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    ThrowErrno("chown " + sopts.agent_node_dir);
  }
  sopts.agent_uid = pw->pw_uid;
  sopts.agent_gid = pw->pw_gid;
  sopts.setpriv = setpriv->string();
}

// Upload and download temp files left in objects/tmp by a server that was killed mid-transfer
// (nothing else writes there: agents only read blobs). Removed before the server listens.
void RemoveStaleTempFiles(const fs::path& tmp_dir) {
  std::error_code ec;
  uint64_t files = 0, bytes = 0;
  for (fs::directory_iterator it(tmp_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    uint64_t size = it->is_regular_file(e2) ? it->file_size(e2) : 0;
    if (fs::remove_all(it->path(), e2) > 0 && !e2) {
      ++files;
      bytes += size;
    }
  }
  if (files > 0) {
    std::cout << "removed " << files << " temp file(s) (" << bytes << " bytes) left in "
              << tmp_dir.string() << " by an interrupted transfer" << std::endl;
  }
}

}  // namespace

int RunServer(const ServerOptions& opts) {
  // Agent settings first: a bad one is refused before anything is written.
  ComputeContext agent_sopts;  // only the agent settings, validated first
  if (!opts.agent_node_dir.empty()) {
    agent_sopts.agent_node_dir = fs::absolute(opts.agent_node_dir).string();
  }
  if (!opts.agent_user.empty()) ConfigureAgentUser(opts.agent_user, agent_sopts);
  // Bad settings are refused before anything is created.
  if (!opts.containers_config.empty()) ContainerSettings::Load(opts.containers_config);
  fs::path data = fs::absolute(opts.data_dir);
  fs::create_directories(data);
  fs::path cfg_path = data / "config.json";
  WorkspaceConfig cfg;
  if (fs::exists(cfg_path)) {
    cfg = WorkspaceConfig::Load(cfg_path);
  } else {
    cfg.name = opts.name.empty() ? data.parent_path().filename().string() : opts.name;
    cfg.token = RandomHex(24);
  }
  if (cfg.name.empty()) cfg.name = "workspace";
  cfg.data_dir = data.string();
  {
    // The machine's container settings (podman runtime, ulimits, storage, pull policy, which
    // registries are plain HTTP, their credentials): --containers-config FILE, remembered in
    // <data>/containers.json (its path) so the workspace is told once. Validated now; agents
    // get it through $TRAINYARD_CONTAINERS_CONFIG (env/container_runtime.h).
    fs::path remembered = data / "containers.json";
    std::string file = opts.containers_config;
    if (!file.empty()) {
      file = fs::absolute(file).string();
      ContainerSettings::Load(file);
      WriteFileAtomic(remembered, nlohmann::json{{"containers_config", file}}.dump(2) + "\n");
    } else if (fs::exists(remembered)) {
      auto j = nlohmann::json::parse(ReadFile(remembered), nullptr, false);
      if (j.is_object()) file = j.value("containers_config", "");
      if (!file.empty()) ContainerSettings::Load(file);
    }
    if (!file.empty()) {
      ::setenv("TRAINYARD_CONTAINERS_CONFIG", file.c_str(), 1);
    } else if (const char* e = std::getenv("TRAINYARD_CONTAINERS_CONFIG"); e && *e) {
      ContainerSettings::Load(e);
    }
  }

  int port = opts.port;
  if (port < 0) {
    auto colon = cfg.server_url.rfind(':');
    port = colon == std::string::npos ? 0 : std::atoi(cfg.server_url.c_str() + colon + 1);
  }

  // Block termination signals in all threads; one thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  BuildId();  // note this binary's identity before it can be replaced on disk
  auto store = OpenSqliteMetadataStore((data / "meta.db").string());
  BlobStore blobs(data / "objects");
  ChangeNotifier notifier;

  // Idle connections must not lock anyone out: no small descriptor limit (net/http_server.h).
  RaiseFileLimit();
  ApiServerOptions hopts;
  hopts.host = opts.host;
  hopts.port = static_cast<uint16_t>(port);
  hopts.upload_tmp_dir = blobs.TempDir().string();
  // Tuning knobs (benchmarks): the blocking worker pool and the I/O threads.
  for (auto [name, field] :
       {std::pair<const char*, int*>{"TRAINYARD_SERVER_WORKERS", &hopts.workers},
        {"TRAINYARD_SERVER_IO_THREADS", &hopts.io_threads}}) {
    const char* e = std::getenv(name);
    if (!e || !*e) continue;
    char* end = nullptr;
    long v = std::strtol(e, &end, 10);
    if (*end != '\0' || v < 1 || v > 256) {
      throw InvalidInput(std::string(name) + " must be a whole number from 1 to 256, got '" + e +
                         "'");
    }
    *field = static_cast<int>(v);
  }
  std::unique_ptr<Api> api;
  ApiServer http(hopts, &notifier);
  uint16_t bound = http.Listen();
  // After Listen: a second server started on a running workspace fails to bind above and
  // must not remove the first one's uploads in flight.
  RemoveStaleTempFiles(blobs.TempDir());
  std::string host_for_url = opts.host == "0.0.0.0" ? "127.0.0.1" : opts.host;
  cfg.server_url = "http://" + host_for_url + ":" + std::to_string(bound);
  cfg.Save(cfg_path);

  ComputeContext cctx;
  cctx.local_slots = opts.max_concurrent_runs > 0
                         ? opts.max_concurrent_runs
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cctx.agent_exe = SelfExe().string();
  cctx.build_id = BuildId();
  cctx.server_url = cfg.server_url;
  cctx.data_dir = data.string();
  cctx.workspace_name = cfg.name;
  cctx.sdk_python_dir = FindSdkPythonDir();
  cctx.automl_engine = FindAutomlEngine(cctx.sdk_python_dir);
  cctx.agent_node_dir = agent_sopts.agent_node_dir;
  cctx.agent_uid = agent_sopts.agent_uid;
  cctx.agent_gid = agent_sopts.agent_gid;
  cctx.setpriv = agent_sopts.setpriv;
  {
    // Where Slurm is: the flags, remembered in slurm.json so the workspace is told once.
    fs::path slurm_file = data / "slurm.json";
    nlohmann::json slurm = nlohmann::json::object();
    if (fs::exists(slurm_file)) {
      std::ifstream in(slurm_file);
      slurm = nlohmann::json::parse(in, nullptr, false);
      if (!slurm.is_object()) slurm = nlohmann::json::object();
    }
    bool given = false;
    auto take = [&](const std::string& v, const char* key, bool path) {
      if (v.empty()) return;
      slurm[key] = path ? fs::absolute(v).string() : v;
      given = true;
    };
    take(opts.slurm_conf, "slurm_conf", true);
    take(opts.slurm_bin_dir, "bin_dir", true);
    take(opts.slurm_vm_sizes, "vm_sizes", true);
    if (given) std::ofstream(slurm_file) << slurm.dump(2) << "\n";
    cctx.slurm_conf = slurm.value("slurm_conf", "");
    cctx.slurm_bin_dir = slurm.value("bin_dir", "");
    cctx.slurm_vm_sizes = slurm.value("vm_sizes", "");
  }
  cctx.store = store.get();
  RunScheduler scheduler(*store, notifier);
  ComputeService compute(cctx, *store, scheduler);

  ApiContext ctx;
  ctx.data_dir = data;
  ctx.workspace_name = cfg.name;
  ctx.token = cfg.token;
  ctx.server_url = cfg.server_url;
  ctx.store = store.get();
  ctx.blobs = &blobs;
  ctx.notifier = &notifier;
  ctx.scheduler = &scheduler;
  ctx.compute = &compute;
  ServiceManagerOptions svc_opts;
  svc_opts.data_dir = data;
  svc_opts.self_exe = SelfExe().string();
  svc_opts.sdk_python_dir = FindSdkPythonDir();
  ServiceManager services(svc_opts, *store, blobs);
  ctx.extensions.push_back(
      [&services](HttpRequest& q, HttpResponse& s) { return HandleServiceRoute(services, q, s); });
  // HyperDrive sweeps create and cancel their children through the server's own request path.
  ApiRunSubmitter submitter([&api](HttpRequest& q, HttpResponse& s) { api->Handle(q, s); },
                            cfg.token);
  hyperdrive::SweepController sweeps(*store, notifier, submitter, data);
  store->AddObserver(&sweeps);
  SubmissionLimits limits{ctx.snapshot_max_bytes, ctx.snapshot_max_files};
  ctx.extensions.push_back([&sweeps, &blobs, limits](HttpRequest& q, HttpResponse& s) {
    return HandleHyperDriveRoute(sweeps, blobs, limits, q, s);
  });

  ctx.extensions.push_back(
      [&compute](HttpRequest& q, HttpResponse& s) { return HandleComputeRoute(compute, q, s); });
  // The web UI (server/studio.h): assets built by scripts/install.sh beside the binary.
  StudioOptions studio_opts;
  studio_opts.assets_dir = FindStudioAssets();
  studio_opts.data_dir = data;
  studio_opts.workspace_token = cfg.token;
  studio_opts.server_url = cfg.server_url;
  studio_opts.store = store.get();
  studio_opts.score = [](int port, const std::string& key, const std::string& body) {
    HttpClient client("http://127.0.0.1:" + std::to_string(port), key);
    ClientResponse r = client.Request("POST", "/score", body, "application/json", 60000);
    return std::make_pair(r.status, r.body);
  };
  Studio studio(studio_opts);
  store->AddObserver(&studio);  // live tables and images on run pages
  ctx.studio = &studio;
  api = std::make_unique<Api>(ctx);
  http.SetApi(api.get());
  compute.Start();  // schedules the stored targets, then starts the scheduler
  services.Start();
  sweeps.Start();

  std::ofstream(data / "server.pid") << ::getpid() << "\n";
  std::cout << "trainyard server for workspace '" << cfg.name << "' (data " << data.string()
            << ")\nlistening on " << cfg.server_url << "\nstudio " << cfg.server_url << "/"
            << (studio_opts.assets_dir.empty() ? " (web assets not built: run scripts/install.sh)"
                                               : " (log in with the link `trainyard ui` prints)")
            << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    notifier.Shutdown();  // long polls answer now, so connections can close
    http.Stop();
  });
  http.Serve();
  sweeps.Stop();
  services.Stop();
  compute.Stop();
  scheduler.Stop();
  std::error_code ec;
  fs::remove(data / "server.pid", ec);
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  std::cout << "trainyard server stopped" << std::endl;
  return 0;
}

}  // namespace trainyard
