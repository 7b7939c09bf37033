// MetadataStore: the workspace's durable metadata (experiments, runs, metrics, artifacts index,
// models). An interface so that a PostgreSQL implementation can follow the SQLite one.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/run_query.h"

namespace trainyard {

using Json = nlohmann::json;

struct Experiment {
  int64_t id = 0;
  std::string name;
  int64_t created = 0;  // millis
};

// One run. JSON-valued fields hold what is not queried by column.
struct RunRecord {
  std::string id;
  int64_t number = 0;
  std::string experiment;
  std::string parent_id;  // "" for top-level runs
  std::string kind;       // script | interactive | child | automl | hyperdrive
  std::string display_name;
  std::string status;
  int64_t created = 0, started = 0, ended = 0;  // millis, 0 = not set
  std::string compute_target;
  Json definition = Json::object();  // script, command, arguments, environment, ...
  std::string snapshot_id;
  Json git;    // null or {repository, branch, commit, dirty}
  Json error;  // null or {message, traceback}
  std::optional<int> exit_code;
  int64_t agent_pid = 0;
  Json tags = Json::object();
  Json properties = Json::object();
};

struct RunFilter {
  std::string experiment;                // "" = any
  std::optional<std::string> parent_id;  // set: children of this run only
  bool include_children = false;         // with experiment: also runs that have a parent
  bool recursive = false;                // with parent_id: all descendants
  std::vector<std::string> statuses;     // empty = any
  std::string kind;                      // "" = any
  std::vector<std::pair<std::string, std::optional<std::string>>> tags;        // key[=value]
  std::vector<std::pair<std::string, std::optional<std::string>>> properties;  // key[=value]
  int limit = 0;                                                               // 0 = no limit
};

// A page of runs matched on the server (docs/REST.md "Run queries").
struct RunQuery {
  RunFilter scope;       // experiment or parent_id, statuses, kind, tags, properties (not limit)
  std::string filter;    // run_query.h grammar; "" = all
  std::string order_by;  // run_query.h grammar; "" = creation order
  int page_size = 100;   // 1..
  std::string cursor;    // next_cursor of the previous page; "" = first page
  bool count = false;    // also count all matching runs (total)
};

struct RunPage {
  std::vector<RunRecord> runs;
  std::string next_cursor;  // "" when this is the last page
  std::optional<int64_t> total;
};

// One point of a scalar series. `step` is the logged step, or the point's position in its
// series (0, 1, ...) when it was logged without one.
struct SeriesPoint {
  int64_t step = 0;
  SqlValue value;  // int64 / double; other values as JSON text; monostate = null
  int64_t time = 0;
};

// How a downsampled read picks its points: the minimum and maximum of each of max_points/2
// buckets, or Largest-Triangle-Three-Buckets (shape-preserving; first, last, minimum and
// maximum kept).
enum class DownsampleMode { kMinMax, kLttb };

struct SeriesRead {
  std::string run_id, name;
  std::optional<int64_t> start_step, end_step;  // inclusive bounds
  int max_points = 0;                           // > 0: downsample to at most this many points
  std::string after;                            // raw reads: continue after this (opaque)
  size_t chunk = 0;                             // raw reads: at most this many points; 0 = all
  DownsampleMode mode = DownsampleMode::kMinMax;
};

struct SeriesChunk {
  std::vector<SeriesPoint> points;
  std::string next;          // raw reads: pass as `after` for the rest; "" = done
  bool downsampled = false;  // points are representatives (DownsampleMode) of the range
  int64_t count = 0;         // points in the series (all steps)
};

// LTTB over the numeric points of `in` (step order): at most n points (n >= 2), the first, the
// last, the minimum and the maximum among them (n >= 5). Exposed for tests.
std::vector<SeriesPoint> LttbDownsample(const std::vector<SeriesPoint>& in, size_t n);

struct MetricPoint {
  std::string run_id;
  std::string name;
  std::string kind;  // scalar | list | row | table | image
  Json value;
  std::optional<int64_t> step;
  int64_t time = 0;
  std::optional<int64_t> seq;  // idempotency key within a run
  std::string description;
};

struct ArtifactRecord {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
};

struct ModelRecord {
  std::string name;
  int64_t version = 0;
  int64_t created = 0;
  std::string run_id, experiment, description, framework, framework_version, path;
  Json tags = Json::object();
  Json properties = Json::object();
  Json resource_configuration;  // null or object
  Json files = Json::array();   // [{path, sha256, size}]
  Json datasets = Json::array();
};

struct ModelFilter {
  std::string name;
  std::vector<std::pair<std::string, std::optional<std::string>>> tags, properties;
  bool latest = false;
};

// A registered, versioned asset: a dataset, an environment or a datastore (kind). Versions
// are immutable; `definition` is the asset's JSON and `definition_hash` its canonical hash.
struct AssetRecord {
  std::string kind;  // dataset | environment | datastore
  std::string name;
  int64_t version = 0;
  std::string id;  // unique per version (datasets: Azure's GUID-like id)
  int64_t created = 0;
  std::string description;
  Json tags = Json::object();
  Json definition = Json::object();
  std::string definition_hash;
};

// How PutAsset treats an existing name.
enum class AssetVersioning {
  kAlwaysNew,       // always a new version (datasets with create_new_version=True)
  kNewIfChanged,    // the latest version when its definition_hash matches, else a new one
  kSameOrConflict,  // the latest when its definition_hash matches, else Conflict
};

// A run's input: which asset version it consumed, under which input name and mode.
struct RunInputRecord {
  std::string run_id;
  std::string kind;  // dataset
  std::string name;  // "" for an unregistered (inline) dataset
  int64_t version = 0;
  std::string asset_id;
  std::string input_name;
  std::string mode;  // mount | download | direct
  int64_t created = 0;
};

// A deployed web service (src/serve/service_manager.h). `spec` holds the models, the
// inference and deployment configuration; `status` the last operation's outcome.
struct ServiceRecord {
  std::string name;
  int64_t created = 0, updated = 0;  // millis
  std::string state;                 // Transitioning | Healthy | Unhealthy | Failed
  Json error;                        // null or {message, traceback}
  Json spec = Json::object();
  std::string primary_key, secondary_key;
  int port = 0;
  int64_t generation = 0;  // bumped by every deploy/update; names the materialized files
};

// Told about committed writes, after the store's locks are released (src/hyperdrive evaluates
// its early termination policy when a child logs a metric). Must return quickly and must not
// call back into the store on the calling thread's behalf for long.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // Points of which at least one was new (not a duplicate seq).
  virtual void MetricsInserted(const std::vector<MetricPoint>& points) = 0;
  // A status write that was accepted (UpdateRunStatus returned true).
  virtual void RunStatusChanged(const std::string& run_id, const std::string& status) = 0;
};

// A compute target (src/compute/compute_target.h): name, registry kind, provisioning state,
// settings (no secrets), errors and status (progress, detected resources) as JSON.
struct ComputeTargetRow {
  std::string name;
  std::string type;
  std::string state;
  Json settings = Json::object();
  Json errors = Json::array();
  Json status = Json::object();
  int64_t created = 0, updated = 0;  // millis
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Registers an observer of metric and status writes. Call before the store is shared
  // between threads; the observer must outlive the store's use.
  void AddObserver(StoreObserver* o) { observers_.push_back(o); }

  virtual Experiment EnsureExperiment(const std::string& name) = 0;
  virtual std::optional<Experiment> GetExperiment(const std::string& name) = 0;
  virtual std::vector<Experiment> ListExperiments() = 0;

  // Inserts a run (assigning run.number); creates the experiment if absent. Conflict if the
  // id exists.
  virtual void CreateRun(RunRecord& run) = 0;
  virtual std::optional<RunRecord> GetRun(const std::string& id) = 0;
  virtual std::vector<RunRecord> ListRuns(const RunFilter& filter) = 0;
  // Sets status (and started/ended times as the status implies), optionally error and exit
  // code. Returns false when the run is already terminal with another status (nothing changed).
  virtual bool UpdateRunStatus(const std::string& id, const std::string& status, const Json& error,
                               std::optional<int> exit_code) = 0;
  virtual void SetAgentPid(const std::string& id, int64_t pid) = 0;

  // Run-scoped credentials: the SHA-256 (hex) of each token of a run. A run may have several
  // (agent restarts); all are deleted when the run reaches a terminal state.
  virtual void AddRunToken(const std::string& run_id, const std::string& token_hash) = 0;
  virtual std::optional<std::string> FindRunToken(const std::string& token_hash) = 0;
  virtual void DeleteRunTokens(const std::string& run_id) = 0;
  virtual void SetTags(const std::string& id, const Json& tags) = 0;
  // Adds properties; Conflict (nothing written) when a key exists with another value.
  virtual void AddProperties(const std::string& id, const Json& properties) = 0;

  // Inserts points in one transaction; points whose (run_id, seq) exists are skipped.
  // Returns how many were inserted.
  virtual size_t InsertMetrics(const std::vector<MetricPoint>& points) = 0;
  virtual std::vector<MetricPoint> GetMetrics(const std::string& run_id,
                                              const std::string& name) = 0;
  // Visits a run's points (of `name`, or all) in logging order without holding them all.
  virtual void ForEachMetric(const std::string& run_id, const std::string& name,
                             const std::function<void(MetricPoint&)>& fn) = 0;

  // ----- run history at scale (run_query.h) -----
  // A page of runs from indexes (keyset paging: stable while runs are added).
  virtual RunPage QueryRuns(const RunQuery& q) = 0;
  // Latest value of every scalar metric of each run: run id -> {name: value}.
  virtual std::map<std::string, Json> LatestMetrics(const std::vector<std::string>& run_ids) = 0;
  // Scalar metric names of a run with their point counts.
  virtual std::vector<std::pair<std::string, int64_t>> SeriesNames(const std::string& run_id) = 0;
  // Ranged, chunked or downsampled read of one scalar series. NotFound for an unknown run.
  virtual SeriesChunk ReadSeries(const SeriesRead& r) = 0;
  // Creates many runs in one transaction (numbers assigned in order).
  virtual void CreateRuns(std::vector<RunRecord>& runs) = 0;

  virtual void PutArtifact(const std::string& run_id, const ArtifactRecord& a) = 0;
  virtual std::vector<ArtifactRecord> ListArtifacts(const std::string& run_id) = 0;
  virtual std::optional<ArtifactRecord> GetArtifact(const std::string& run_id,
                                                    const std::string& path) = 0;

  // Inserts a model with the next version for its name (assigned into m.version).
  virtual void CreateModel(ModelRecord& m) = 0;
  // version 0 = latest.
  virtual std::optional<ModelRecord> GetModel(const std::string& name, int64_t version) = 0;
  virtual std::vector<ModelRecord> ListModels(const ModelFilter& filter) = 0;

  // ----- registered assets (datasets, environments, datastores) and run lineage -----
  // Inserts a version of a.kind/a.name according to `policy` (atomically). Returns the stored
  // record (a new one, or the existing version the policy chose) and sets *created.
  virtual AssetRecord PutAsset(AssetRecord a, AssetVersioning policy, bool* created) = 0;
  // version 0 = latest.
  virtual std::optional<AssetRecord> GetAsset(const std::string& kind, const std::string& name,
                                              int64_t version) = 0;
  virtual std::optional<AssetRecord> GetAssetById(const std::string& kind,
                                                  const std::string& id) = 0;
  // All versions (name given) or the latest version of every name (name ""), by name.
  virtual std::vector<AssetRecord> ListAssets(const std::string& kind, const std::string& name,
                                              bool latest_only) = 0;
  virtual void AddRunInputs(const std::vector<RunInputRecord>& inputs) = 0;
  // Inputs of a run (run_id given), or consumers of an asset (kind + name [+ version]).
  virtual std::vector<RunInputRecord> ListRunInputs(const std::string& run_id) = 0;
  // The inputs of several runs at once (a page of a run listing): run id -> its inputs (runs
  // without inputs are absent).
  virtual std::map<std::string, std::vector<RunInputRecord>> ListRunInputsOf(
      const std::vector<std::string>& run_ids) {
    std::map<std::string, std::vector<RunInputRecord>> out;
    for (auto& id : run_ids) {
      auto v = ListRunInputs(id);
      if (!v.empty()) out[id] = std::move(v);
    }
    return out;
  }
  virtual std::vector<RunInputRecord> ListAssetConsumers(const std::string& kind,
                                                         const std::string& name,
                                                         int64_t version) = 0;

  // Web services: insert or replace by name; Get/List; Delete returns false when absent.
  virtual void PutService(const ServiceRecord& s) = 0;
  virtual std::optional<ServiceRecord> GetService(const std::string& name) = 0;
  virtual std::vector<ServiceRecord> ListServices() = 0;
  virtual bool DeleteService(const std::string& name) = 0;

  // Compute targets: Insert is Conflict when the name exists; Put replaces; Delete returns
  // false when absent.
  virtual void InsertComputeTarget(const ComputeTargetRow& t) = 0;
  virtual void PutComputeTarget(const ComputeTargetRow& t) = 0;
  virtual std::optional<ComputeTargetRow> GetComputeTarget(const std::string& name) = 0;
  virtual std::vector<ComputeTargetRow> ListComputeTargets() = 0;
  virtual bool DeleteComputeTarget(const std::string& name) = 0;

 protected:
  void NotifyMetricsInserted(const std::vector<MetricPoint>& points) const {
    for (auto* o : observers_) o->MetricsInserted(points);
  }
  void NotifyRunStatusChanged(const std::string& id, const std::string& status) const {
    for (auto* o : observers_) o->RunStatusChanged(id, status);
  }

 private:
  std::vector<StoreObserver*> observers_;
};

// Opens (creating and migrating as needed) the SQLite store at `path` in WAL mode.
std::unique_ptr<MetadataStore> OpenSqliteMetadataStore(const std::string& path);
// The schema version a store opened by this build has (the number of migrations).
int64_t SqliteSchemaVersion();

// Azure ML run statuses.
bool IsTerminalStatus(const std::string& status);
bool IsKnownStatus(const std::string& status);

}  // namespace trainyard
