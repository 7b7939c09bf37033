#include "server/server_main.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/change_notifier.h"
#include "common/error.h"
#include "common/util.h"
#include "common/workspace_config.h"
#include "compute/run_scheduler.h"
#include "runner/agent.h"
#include "serve/service_api.h"
#include "serve/service_manager.h"
#include "server/api.h"
#include "server/api_server.h"

namespace trainyard {
namespace fs = std::filesystem;

int RunServer(const ServerOptions& opts) {
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
  std::unique_ptr<Api> api;
  ApiServer http(hopts, &notifier);
  uint16_t bound = http.Listen();
  std::string host_for_url = opts.host == "0.0.0.0" ? "127.0.0.1" : opts.host;
  cfg.server_url = "http://" + host_for_url + ":" + std::to_string(bound);
  cfg.Save(cfg_path);

  SchedulerOptions sopts;
  sopts.max_concurrent = opts.max_concurrent_runs > 0
                             ? opts.max_concurrent_runs
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sopts.agent_exe = SelfExe().string();
  sopts.server_url = cfg.server_url;
  sopts.token = cfg.token;
  sopts.data_dir = data.string();
  sopts.workspace_name = cfg.name;
  RunScheduler scheduler(sopts, *store, notifier);

  ApiContext ctx;
  ctx.data_dir = data;
  ctx.workspace_name = cfg.name;
  ctx.token = cfg.token;
  ctx.server_url = cfg.server_url;
  ctx.store = store.get();
  ctx.blobs = &blobs;
  ctx.notifier = &notifier;
  ctx.scheduler = &scheduler;
  ServiceManagerOptions svc_opts;
  svc_opts.data_dir = data;
  svc_opts.self_exe = SelfExe().string();
  svc_opts.sdk_python_dir = FindSdkPythonDir();
  ServiceManager services(svc_opts, *store, blobs);
  ctx.extensions.push_back(
      [&services](HttpRequest& q, HttpResponse& s) { return HandleServiceRoute(services, q, s); });
  api = std::make_unique<Api>(ctx);
  http.SetApi(api.get());
  scheduler.Start();
  services.Start();

  std::ofstream(data / "server.pid") << ::getpid() << "\n";
  std::cout << "trainyard server for workspace '" << cfg.name << "' (data " << data.string()
            << ")\nlistening on " << cfg.server_url << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    notifier.Shutdown();  // long polls answer now, so connections can close
    http.Stop();
  });
  http.Serve();
  services.Stop();
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
