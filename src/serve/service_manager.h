// ServiceManager: the lifecycle of a workspace's web services (Model.deploy), owned by the
// workspace server.
//
// A service is a row in the metadata store (ServiceRecord) plus, on disk,
//   <data_dir>/services/<name>/
//     serve.json, keys.json (0600), status.json   the front's config, keys, and its reports
//     service.log                                  environment build + front + worker output
//     gen-<G>/models/<model>/<version>/<files>     the materialized model files of generation G
//     gen-<G>/source/                              the entry script's source directory (snapshot)
// and one supervised `trainyard serve --dir <that dir> --watch-parent` process listening on
// 127.0.0.1:<port>.
//
// States (Azure ML's): Transitioning (deploying or restarting), Healthy, Unhealthy (the front
// crashed and is being restarted with backoff), Failed (init() or the environment failed; the
// error and traceback are kept, and the log has the details). Deploy and update run on a
// background thread; the REST call returns at once with state Transitioning and
// last_operation.status "Running". An update starts the new generation's scorer next to the
// old one in the same front, which swaps them atomically (no request dropped); a failed update
// leaves the old generation serving and reports the failure in last_operation.
//
// Server restart: fronts exit when the server goes away (--watch-parent); Start() brings every
// service that was not Failed back on its port.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

struct ServiceManagerOptions {
  std::filesystem::path data_dir;
  std::string self_exe;        // the trainyard binary (runs `trainyard serve`)
  std::string sdk_python_dir;  // python/ of the SDK (the worker and no-code scorer live there)
  std::chrono::seconds ready_timeout{900};  // environment build + init() of a deployment
};

// Azure's rule for service names: 3-32 characters of lowercase letters, digits and '-',
// starting with a letter and not ending with '-'. Throws InvalidInput saying so.
void ValidateServiceName(std::string_view name);

class ServiceManager {
 public:
  ServiceManager(ServiceManagerOptions opts, MetadataStore& store, BlobStore& blobs);
  ~ServiceManager();

  // Brings back the services recorded in the store and starts the supervisor thread.
  void Start();
  // Stops every front (SIGTERM, then SIGKILL after 10 s) and the background threads. The
  // services' records are kept, so the next Start() restarts them.
  void Stop();

  // POST /services body (docs/REST.md). Validates everything before writing anything; returns
  // the service object (state Transitioning). Conflict when the name exists and !overwrite.
  nlohmann::json Deploy(const nlohmann::json& body);
  // PATCH /services/{name}: any of models, inference_config, deployment_config.
  nlohmann::json Update(const std::string& name, const nlohmann::json& body);
  void Delete(const std::string& name);
  nlohmann::json Get(const std::string& name);
  nlohmann::json List();
  // The last `max_bytes` of the service log.
  std::string Logs(const std::string& name, size_t max_bytes);
  nlohmann::json Keys(const std::string& name);
  // which: "Primary" or "Secondary" (case-insensitive).
  nlohmann::json RegenerateKey(const std::string& name, const std::string& which);

 private:
  struct Live;
  ServiceRecord Require(const std::string& name);
  nlohmann::json ToJson(const ServiceRecord& r);
  std::filesystem::path Dir(const std::string& name) const;
  // Validates and normalizes a spec (models resolved to versions, source snapshotted).
  nlohmann::json BuildSpec(const nlohmann::json& body, const nlohmann::json* base);
  void StartOperation(const std::string& name, const std::string& kind);
  void RunOperation(const std::string& name, const std::string& kind);
  // Materializes generation `r.generation` and writes serve.json; returns the front's config.
  nlohmann::json Materialize(const ServiceRecord& r,
                             const std::function<void(std::string_view)>& log);
  // Spawns the front for the service; waits until it reports `generation`.
  void SpawnFront(const std::string& name, int64_t generation);
  // Waits for status.json to report `generation` (after `since` millis); returns it.
  nlohmann::json AwaitStatus(const std::string& name, int64_t generation, int64_t since, pid_t pid);
  void StopFront(const std::string& name);
  void SuperviseLoop();
  void SetState(const std::string& name, const std::string& state, const nlohmann::json& error,
                const nlohmann::json* last_operation = nullptr);
  void AppendLog(const std::string& name, std::string_view text);

  ServiceManagerOptions opts_;
  MetadataStore& store_;
  BlobStore& blobs_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> live_;
  std::map<std::string, std::mutex> name_mu_;
  bool stopping_ = false;
  std::thread supervisor_;
};

}  // namespace trainyard
