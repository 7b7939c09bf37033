// SQLite (WAL) implementation of MetadataStore. One connection guarded by a mutex: SQLite
// serializes writers anyway, and reads here are short.
#include <sqlite3.h>

#include <mutex>

#include "common/error.h"
#include "common/json_limits.h"
#include "common/util.h"
#include "store/metadata_store.h"

namespace trainyard {
namespace {

// Schema migrations, applied in order; the index+1 is the schema version.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE experiments (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);
CREATE TABLE runs (
  key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, number INTEGER NOT NULL, experiment TEXT NOT NULL, parent_id TEXT,
  kind TEXT NOT NULL, display_name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  created INTEGER NOT NULL, started INTEGER NOT NULL DEFAULT 0, ended INTEGER NOT NULL DEFAULT 0,
  compute_target TEXT NOT NULL DEFAULT '', definition TEXT NOT NULL DEFAULT '{}',
  snapshot_id TEXT NOT NULL DEFAULT '', git TEXT, error TEXT, exit_code INTEGER,
  agent_pid INTEGER NOT NULL DEFAULT 0);
CREATE INDEX runs_experiment ON runs(experiment, created);
CREATE INDEX runs_parent ON runs(parent_id);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE run_status_history (run_id TEXT NOT NULL, status TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE run_tags (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run_id, key)) WITHOUT ROWID;
CREATE TABLE run_properties (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run_id, key)) WITHOUT ROWID;
CREATE TABLE metrics (run_key INTEGER NOT NULL, seq INTEGER, name TEXT NOT NULL, kind TEXT NOT NULL,
  num, json TEXT, step INTEGER, time INTEGER NOT NULL, description TEXT);
CREATE INDEX metrics_run_name ON metrics(run_key, name);
CREATE UNIQUE INDEX metrics_run_seq ON metrics(run_key, seq);
CREATE TABLE artifacts (run_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
  size INTEGER NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(run_id, path)) WITHOUT ROWID;
CREATE TABLE models (name TEXT NOT NULL, version INTEGER NOT NULL, created INTEGER NOT NULL,
  run_id TEXT, experiment TEXT, description TEXT, framework TEXT, framework_version TEXT,
  path TEXT, tags TEXT, properties TEXT, resource_configuration TEXT, files TEXT, datasets TEXT,
  PRIMARY KEY(name, version));
)sql",
    // 2: registered datasets, environments and datastores (versioned assets) and run lineage.
    R"sql(
CREATE TABLE assets (kind TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}', definition TEXT NOT NULL, definition_hash TEXT NOT NULL,
  PRIMARY KEY(kind, name, version));
CREATE TABLE run_inputs (run_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
  version INTEGER NOT NULL, asset_id TEXT NOT NULL, input_name TEXT NOT NULL, mode TEXT NOT NULL,
  created INTEGER NOT NULL, PRIMARY KEY(run_id, input_name));
CREATE INDEX run_inputs_asset ON run_inputs(kind, name, version);
)sql",
    // 3: web services (issue 5).
    R"sql(
CREATE TABLE services (name TEXT PRIMARY KEY, created INTEGER NOT NULL, updated INTEGER NOT NULL,
  state TEXT NOT NULL, error TEXT, spec TEXT NOT NULL, primary_key TEXT NOT NULL,
  secondary_key TEXT NOT NULL, port INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 0);
)sql",
    // 4: run-scoped credentials (issue 13 part 2): SHA-256 of each run token, deleted when the
    // run reaches a terminal state.
    R"sql(
CREATE TABLE run_tokens (hash TEXT PRIMARY KEY, run_id TEXT NOT NULL, created INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE INDEX run_tokens_run ON run_tokens(run_id);
)sql",
    // 5: compute targets (issue 13): attached machines and other kinds of the compute registry.
    R"sql(
CREATE TABLE compute_targets (name TEXT PRIMARY KEY, type TEXT NOT NULL, state TEXT NOT NULL,
  settings TEXT NOT NULL DEFAULT '{}', errors TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL);
)sql",
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
      throw InternalError(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in " + sql);
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& BindDouble(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& BindOptText(int i, const std::string& v) { return v.empty() ? BindNull(i) : Bind(i, v); }
  Stmt& BindJson(int i, const Json& j) { return j.is_null() ? BindNull(i) : Bind(i, j.dump()); }

  // Returns true while rows are available.
  bool Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) throw Conflict(std::string("constraint: ") + sqlite3_errmsg(db_));
    if (rc == SQLITE_FULL) ThrowOsError(ENOSPC, "write the metadata store");
    throw InternalError(std::string("sqlite step: ") + sqlite3_errmsg(db_));
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string Text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  double Double(int c) const { return sqlite3_column_double(s_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  // Bounded: a document stored before the input limits existed cannot crash a reader.
  Json JsonCol(int c) const { return IsNull(c) ? Json() : ParseStoredJson(Text(c)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

bool MatchesKv(const Json& obj,
               const std::vector<std::pair<std::string, std::optional<std::string>>>& want) {
  for (const auto& [k, v] : want) {
    auto it = obj.find(k);
    if (it == obj.end()) return false;
    if (v && it->get<std::string>() != *v) return false;
  }
  return true;
}

class SqliteMetadataStore : public MetadataStore {
 public:
  explicit SqliteMetadataStore(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw InternalError("cannot open metadata store " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=NORMAL");
    Exec("PRAGMA foreign_keys=ON");
    Migrate();
  }
  ~SqliteMetadataStore() override { sqlite3_close(db_); }

  Experiment EnsureExperiment(const std::string& name) override {
    std::lock_guard lk(mu_);
    return EnsureExperimentLocked(name);
  }

  std::optional<Experiment> GetExperiment(const std::string& name) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT id, name, created FROM experiments WHERE name=?");
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return Experiment{s.Int(0), s.Text(1), s.Int(2)};
  }

  std::vector<Experiment> ListExperiments() override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT id, name, created FROM experiments ORDER BY name");
    std::vector<Experiment> out;
    while (s.Step()) out.push_back({s.Int(0), s.Text(1), s.Int(2)});
    return out;
  }

  void CreateRun(RunRecord& r) override {
    std::lock_guard lk(mu_);
    Tx tx(this);
    EnsureExperimentLocked(r.experiment);
    {
      Stmt n(db_, "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE experiment=?");
      n.Bind(1, r.experiment);
      n.Step();
      r.number = n.Int(0);
    }
    {
      Stmt e(db_, "SELECT 1 FROM runs WHERE id=?");
      e.Bind(1, r.id);
      if (e.Step()) throw Conflict("a run with id '" + r.id + "' already exists");
    }
    Stmt s(db_,
           "INSERT INTO runs (id, number, experiment, parent_id, kind, display_name, status, "
           "created, started, ended, compute_target, definition, snapshot_id, git, error) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, r.id).Bind(2, r.number).Bind(3, r.experiment).BindOptText(4, r.parent_id);
    s.Bind(5, r.kind).Bind(6, r.display_name).Bind(7, r.status).Bind(8, r.created);
    s.Bind(9, r.started).Bind(10, r.ended).Bind(11, r.compute_target);
    s.Bind(12, r.definition.dump()).Bind(13, r.snapshot_id).BindJson(14, r.git);
    s.BindJson(15, r.error);
    s.Step();
    AddHistory(r.id, r.status, r.created);
    WriteKv("run_tags", r.id, r.tags);
    for (auto& [k, v] : r.properties.items()) {
      Stmt p(db_, "INSERT INTO run_properties (run_id, key, value) VALUES (?,?,?)");
      p.Bind(1, r.id).Bind(2, k).Bind(3, v.get<std::string>());
      p.Step();
    }
    tx.Commit();
  }

  std::optional<RunRecord> GetRun(const std::string& id) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kRunColumns) + " WHERE id=?";
    Stmt s(db_, sql.c_str());
    s.Bind(1, id);
    if (!s.Step()) return std::nullopt;
    RunRecord r = ReadRun(s);
    LoadKv(r);
    return r;
  }

  std::vector<RunRecord> ListRuns(const RunFilter& f) override {
    std::lock_guard lk(mu_);
    std::vector<RunRecord> out;
    if (f.parent_id) {
      std::vector<std::string> frontier{*f.parent_id};
      while (!frontier.empty()) {
        std::vector<std::string> next;
        for (const auto& pid : frontier) {
          std::string sql =
              std::string(kRunColumns) + " WHERE parent_id=? ORDER BY created, number";
          Stmt s(db_, sql.c_str());
          s.Bind(1, pid);
          while (s.Step()) {
            out.push_back(ReadRun(s));
            if (f.recursive) next.push_back(out.back().id);
          }
        }
        frontier = std::move(next);
      }
    } else {
      std::string sql = std::string(kRunColumns) + " WHERE (?1 = '' OR experiment = ?1)";
      if (!f.include_children) sql += " AND parent_id IS NULL";
      sql += " ORDER BY created DESC, number DESC";
      Stmt s(db_, sql.c_str());
      s.Bind(1, f.experiment);
      while (s.Step()) out.push_back(ReadRun(s));
    }
    std::vector<RunRecord> kept;
    for (auto& r : out) {
      if (!f.statuses.empty() &&
          std::find(f.statuses.begin(), f.statuses.end(), r.status) == f.statuses.end()) {
        continue;
      }
      if (!f.kind.empty() && r.kind != f.kind) continue;
      LoadKv(r);
      if (!MatchesKv(r.tags, f.tags) || !MatchesKv(r.properties, f.properties)) continue;
      kept.push_back(std::move(r));
      if (f.limit > 0 && static_cast<int>(kept.size()) >= f.limit) break;
    }
    return kept;
  }

  bool UpdateRunStatus(const std::string& id, const std::string& status, const Json& error,
                       std::optional<int> exit_code) override {
    bool ok = WriteRunStatus(id, status, error, exit_code);
    if (ok) NotifyRunStatusChanged(id, status);
    return ok;
  }

  bool WriteRunStatus(const std::string& id, const std::string& status, const Json& error,
                      std::optional<int> exit_code) {
    std::lock_guard lk(mu_);
    Tx tx(this);
    Stmt g(db_, "SELECT status, started FROM runs WHERE id=?");
    g.Bind(1, id);
    if (!g.Step()) throw NotFound("run '" + id + "' not found");
    std::string cur = g.Text(0);
    int64_t started = g.Int(1);
    if (IsTerminalStatus(cur)) return cur == status;
    int64_t now = NowMillis();
    bool terminal = IsTerminalStatus(status);
    if (status == "Running" && started == 0) started = now;
    if (terminal && started == 0) started = now;
    Stmt s(db_,
           "UPDATE runs SET status=?, started=?, ended=CASE WHEN ? THEN ? ELSE ended END, "
           "error=COALESCE(?, error), exit_code=COALESCE(?, exit_code) WHERE id=?");
    s.Bind(1, status).Bind(2, started).Bind(3, int64_t{terminal}).Bind(4, now).BindJson(5, error);
    if (exit_code) {
      s.Bind(6, int64_t{*exit_code});
    } else {
      s.BindNull(6);
    }
    s.Bind(7, id);
    s.Step();
    if (cur != status) AddHistory(id, status, now);
    if (terminal) {  // the run's credentials end with it
      Stmt d(db_, "DELETE FROM run_tokens WHERE run_id=?");
      d.Bind(1, id);
      d.Step();
    }
    tx.Commit();
    return true;
  }

  void AddRunToken(const std::string& run_id, const std::string& token_hash) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "INSERT OR REPLACE INTO run_tokens (hash, run_id, created) VALUES (?, ?, ?)");
    s.Bind(1, token_hash).Bind(2, run_id).Bind(3, NowMillis());
    s.Step();
  }

  std::optional<std::string> FindRunToken(const std::string& token_hash) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT run_id FROM run_tokens WHERE hash=?");
    s.Bind(1, token_hash);
    if (!s.Step()) return std::nullopt;
    return s.Text(0);
  }

  void DeleteRunTokens(const std::string& run_id) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "DELETE FROM run_tokens WHERE run_id=?");
    s.Bind(1, run_id);
    s.Step();
  }

  void SetAgentPid(const std::string& id, int64_t pid) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "UPDATE runs SET agent_pid=? WHERE id=?");
    s.Bind(1, pid).Bind(2, id);
    s.Step();
  }

  void SetTags(const std::string& id, const Json& tags) override {
    std::lock_guard lk(mu_);
    Tx tx(this);
    RequireRun(id);
    WriteKv("run_tags", id, tags);
    tx.Commit();
  }

  void AddProperties(const std::string& id, const Json& props) override {
    std::lock_guard lk(mu_);
    Tx tx(this);
    RequireRun(id);
    for (auto& [k, v] : props.items()) {
      Stmt g(db_, "SELECT value FROM run_properties WHERE run_id=? AND key=?");
      g.Bind(1, id).Bind(2, k);
      if (g.Step()) {
        if (g.Text(0) != v.get<std::string>()) {
          throw Conflict("property '" + k + "' of run '" + id + "' is already set to '" +
                         g.Text(0) +
                         "'; properties are immutable once set (use tags for "
                         "values that change)");
        }
        continue;
      }
      Stmt p(db_, "INSERT INTO run_properties (run_id, key, value) VALUES (?,?,?)");
      p.Bind(1, id).Bind(2, k).Bind(3, v.get<std::string>());
      p.Step();
    }
    tx.Commit();
  }

  size_t InsertMetrics(const std::vector<MetricPoint>& points) override {
    size_t n = WriteMetrics(points);
    if (n > 0) NotifyMetricsInserted(points);
    return n;
  }

  size_t WriteMetrics(const std::vector<MetricPoint>& points) {
    std::lock_guard lk(mu_);
    Tx tx(this);
    Stmt s(db_,
           "INSERT OR IGNORE INTO metrics (run_key, seq, name, kind, num, json, step, time, "
           "description) VALUES (?,?,?,?,?,?,?,?,?)");
    size_t inserted = 0;
    std::string last_run;
    int64_t last_key = 0;
    for (const auto& p : points) CheckMetricValue(p.name, p.value);  // before anything is stored
    for (const auto& p : points) {
      if (p.run_id != last_run) {
        last_key = RunKey(p.run_id);
        last_run = p.run_id;
      }
      s.Bind(1, last_key);
      if (p.seq) s.Bind(2, *p.seq);
      s.Bind(3, p.name).Bind(4, p.kind);
      if (p.kind == "scalar" && p.value.is_number_integer()) {
        s.Bind(5, p.value.get<int64_t>());
      } else if (p.kind == "scalar" && p.value.is_number()) {
        s.BindDouble(5, p.value.get<double>());
      } else {
        s.Bind(6, p.value.dump());
      }
      if (p.step) s.Bind(7, *p.step);
      s.Bind(8, p.time);
      if (!p.description.empty()) s.Bind(9, p.description);
      s.Step();
      inserted += static_cast<size_t>(sqlite3_changes(db_));
      s.Reset();
    }
    tx.Commit();
    return inserted;
  }

  std::vector<MetricPoint> GetMetrics(const std::string& run_id, const std::string& name) override {
    std::lock_guard lk(mu_);
    Stmt k(db_, "SELECT key FROM runs WHERE id=?");
    k.Bind(1, run_id);
    if (!k.Step()) return {};
    // With a name, the (run_key, name) index yields rows in rowid (= log) order: no sort.
    Stmt s(db_, name.empty()
                    ? "SELECT name, kind, num, json, step, time, seq, description, typeof(num) "
                      "FROM metrics WHERE run_key=?1 ORDER BY rowid"
                    : "SELECT name, kind, num, json, step, time, seq, description, typeof(num) "
                      "FROM metrics INDEXED BY metrics_run_name WHERE run_key=?1 AND name=?2 "
                      "ORDER BY rowid");
    s.Bind(1, k.Int(0));
    if (!name.empty()) s.Bind(2, name);
    std::vector<MetricPoint> out;
    while (s.Step()) {
      MetricPoint p;
      p.run_id = run_id;
      p.name = s.Text(0);
      p.kind = s.Text(1);
      if (!s.IsNull(2)) {
        // The untyped column keeps integers and floats apart.
        if (s.Text(8) == "integer") {
          p.value = s.Int(2);
        } else {
          p.value = s.Double(2);
        }
      } else if (!s.IsNull(3)) {
        p.value = ParseStoredJson(s.Text(3));
      }
      if (!s.IsNull(4)) p.step = s.Int(4);
      p.time = s.Int(5);
      if (!s.IsNull(6)) p.seq = s.Int(6);
      p.description = s.Text(7);
      out.push_back(std::move(p));
    }
    return out;
  }

  void PutArtifact(const std::string& run_id, const ArtifactRecord& a) override {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT OR REPLACE INTO artifacts (run_id, path, sha256, size, created) "
           "VALUES (?,?,?,?,?)");
    s.Bind(1, run_id).Bind(2, a.path).Bind(3, a.sha256).Bind(4, static_cast<int64_t>(a.size));
    s.Bind(5, NowMillis());
    s.Step();
  }

  std::vector<ArtifactRecord> ListArtifacts(const std::string& run_id) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT path, sha256, size FROM artifacts WHERE run_id=? ORDER BY path");
    s.Bind(1, run_id);
    std::vector<ArtifactRecord> out;
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))});
    return out;
  }

  std::optional<ArtifactRecord> GetArtifact(const std::string& run_id,
                                            const std::string& path) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT path, sha256, size FROM artifacts WHERE run_id=? AND path=?");
    s.Bind(1, run_id).Bind(2, path);
    if (!s.Step()) return std::nullopt;
    return ArtifactRecord{s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))};
  }

  void CreateModel(ModelRecord& m) override {
    std::lock_guard lk(mu_);
    Tx tx(this);
    Stmt n(db_, "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name=?");
    n.Bind(1, m.name);
    n.Step();
    m.version = n.Int(0);
    m.created = NowMillis();
    Stmt s(db_,
           "INSERT INTO models (name, version, created, run_id, experiment, description, "
           "framework, framework_version, path, tags, properties, resource_configuration, files, "
           "datasets) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, m.name).Bind(2, m.version).Bind(3, m.created).BindOptText(4, m.run_id);
    s.BindOptText(5, m.experiment).Bind(6, m.description).BindOptText(7, m.framework);
    s.BindOptText(8, m.framework_version).Bind(9, m.path).Bind(10, m.tags.dump());
    s.Bind(11, m.properties.dump()).BindJson(12, m.resource_configuration);
    s.Bind(13, m.files.dump()).Bind(14, m.datasets.dump());
    s.Step();
    tx.Commit();
  }

  std::optional<ModelRecord> GetModel(const std::string& name, int64_t version) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kModelColumns) +
                      " WHERE name=?1 AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1";
    Stmt s(db_, sql.c_str());
    s.Bind(1, name).Bind(2, version);
    if (!s.Step()) return std::nullopt;
    return ReadModel(s);
  }

  std::vector<ModelRecord> ListModels(const ModelFilter& f) override {
    std::lock_guard lk(mu_);
    std::string sql =
        std::string(kModelColumns) + " WHERE (?1 = '' OR name = ?1) ORDER BY name, version DESC";
    Stmt s(db_, sql.c_str());
    s.Bind(1, f.name);
    std::vector<ModelRecord> out;
    std::string last_name;
    while (s.Step()) {
      ModelRecord m = ReadModel(s);
      if (f.latest && m.name == last_name) continue;
      last_name = m.name;
      if (!MatchesKv(m.tags, f.tags) || !MatchesKv(m.properties, f.properties)) continue;
      out.push_back(std::move(m));
    }
    std::stable_sort(out.begin(), out.end(), [](const ModelRecord& a, const ModelRecord& b) {
      return a.created > b.created;
    });
    return out;
  }

  // ----- assets and lineage -----
  AssetRecord PutAsset(AssetRecord a, AssetVersioning policy, bool* created) override {
    std::lock_guard lk(mu_);
    Tx tx(this);
    std::optional<AssetRecord> latest = GetAssetLocked(a.kind, a.name, 0);
    if (latest && policy != AssetVersioning::kAlwaysNew &&
        latest->definition_hash == a.definition_hash) {
      if (created) *created = false;
      return *latest;
    }
    if (latest && policy == AssetVersioning::kSameOrConflict) {
      throw Conflict("a " + a.kind + " named '" + a.name + "' is already registered (version " +
                     std::to_string(latest->version) +
                     ") with a different definition; register it as a new version "
                     "(create_new_version=True; `--new-version` in the CLI) or choose another "
                     "name");
    }
    a.version = latest ? latest->version + 1 : 1;
    a.created = NowMillis();
    Stmt s(db_,
           "INSERT INTO assets (kind, name, version, id, created, description, tags, definition, "
           "definition_hash) VALUES (?,?,?,?,?,?,?,?,?)");
    s.Bind(1, a.kind).Bind(2, a.name).Bind(3, a.version).Bind(4, a.id).Bind(5, a.created);
    s.Bind(6, a.description).Bind(7, a.tags.dump()).Bind(8, a.definition.dump());
    s.Bind(9, a.definition_hash);
    s.Step();
    tx.Commit();
    if (created) *created = true;
    return a;
  }

  std::optional<AssetRecord> GetAsset(const std::string& kind, const std::string& name,
                                      int64_t version) override {
    std::lock_guard lk(mu_);
    return GetAssetLocked(kind, name, version);
  }

  std::optional<AssetRecord> GetAssetById(const std::string& kind, const std::string& id) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kAssetColumns) + " WHERE kind=? AND id=?";
    Stmt s(db_, sql.c_str());
    s.Bind(1, kind).Bind(2, id);
    if (!s.Step()) return std::nullopt;
    return ReadAsset(s);
  }

  std::vector<AssetRecord> ListAssets(const std::string& kind, const std::string& name,
                                      bool latest_only) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kAssetColumns) +
                      " WHERE kind=?1 AND (?2 = '' OR name = ?2) ORDER BY name, version DESC";
    Stmt s(db_, sql.c_str());
    s.Bind(1, kind).Bind(2, name);
    std::vector<AssetRecord> out;
    while (s.Step()) {
      AssetRecord a = ReadAsset(s);
      if (latest_only && !out.empty() && out.back().name == a.name) continue;
      out.push_back(std::move(a));
    }
    return out;
  }

  void AddRunInputs(const std::vector<RunInputRecord>& inputs) override {
    if (inputs.empty()) return;
    std::lock_guard lk(mu_);
    Tx tx(this);
    for (const RunInputRecord& in : inputs) {
      Stmt s(db_,
             "INSERT OR REPLACE INTO run_inputs (run_id, kind, name, version, asset_id, "
             "input_name, mode, created) VALUES (?,?,?,?,?,?,?,?)");
      s.Bind(1, in.run_id).Bind(2, in.kind).Bind(3, in.name).Bind(4, in.version);
      s.Bind(5, in.asset_id).Bind(6, in.input_name).Bind(7, in.mode);
      s.Bind(8, in.created ? in.created : NowMillis());
      s.Step();
    }
    tx.Commit();
  }

  std::vector<RunInputRecord> ListRunInputs(const std::string& run_id) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kRunInputColumns) + " WHERE run_id=? ORDER BY input_name";
    Stmt s(db_, sql.c_str());
    s.Bind(1, run_id);
    std::vector<RunInputRecord> out;
    while (s.Step()) out.push_back(ReadRunInput(s));
    return out;
  }

  std::vector<RunInputRecord> ListAssetConsumers(const std::string& kind, const std::string& name,
                                                 int64_t version) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kRunInputColumns) +
                      " WHERE kind=?1 AND name=?2 AND (?3 = 0 OR version = ?3) ORDER BY created";
    Stmt s(db_, sql.c_str());
    s.Bind(1, kind).Bind(2, name).Bind(3, version);
    std::vector<RunInputRecord> out;
    while (s.Step()) out.push_back(ReadRunInput(s));
    return out;
  }

  void PutService(const ServiceRecord& r) override {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT OR REPLACE INTO services (name, created, updated, state, error, spec, "
           "primary_key, secondary_key, port, generation) VALUES (?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, r.name).Bind(2, r.created).Bind(3, r.updated).Bind(4, r.state);
    s.BindJson(5, r.error).Bind(6, r.spec.dump()).Bind(7, r.primary_key);
    s.Bind(8, r.secondary_key).Bind(9, static_cast<int64_t>(r.port)).Bind(10, r.generation);
    s.Step();
  }

  std::optional<ServiceRecord> GetService(const std::string& name) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kServiceColumns) + " WHERE name=?";
    Stmt s(db_, sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return ReadService(s);
  }

  std::vector<ServiceRecord> ListServices() override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kServiceColumns) + " ORDER BY name";
    Stmt s(db_, sql.c_str());
    std::vector<ServiceRecord> out;
    while (s.Step()) out.push_back(ReadService(s));
    return out;
  }

  void InsertComputeTarget(const ComputeTargetRow& t) override {
    std::lock_guard lk(mu_);
    Stmt g(db_, "SELECT 1 FROM compute_targets WHERE name=?");
    g.Bind(1, t.name);
    if (g.Step()) throw Conflict("compute target '" + t.name + "' exists");
    WriteComputeTarget(t);
  }

  void PutComputeTarget(const ComputeTargetRow& t) override {
    std::lock_guard lk(mu_);
    WriteComputeTarget(t);
  }

  std::optional<ComputeTargetRow> GetComputeTarget(const std::string& name) override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kComputeColumns) + " WHERE name=?";
    Stmt s(db_, sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return ReadComputeTarget(s);
  }

  std::vector<ComputeTargetRow> ListComputeTargets() override {
    std::lock_guard lk(mu_);
    std::string sql = std::string(kComputeColumns) + " ORDER BY name";
    Stmt s(db_, sql.c_str());
    std::vector<ComputeTargetRow> out;
    while (s.Step()) out.push_back(ReadComputeTarget(s));
    return out;
  }

  bool DeleteComputeTarget(const std::string& name) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "DELETE FROM compute_targets WHERE name=?");
    s.Bind(1, name);
    s.Step();
    return sqlite3_changes(db_) > 0;
  }

  bool DeleteService(const std::string& name) override {
    std::lock_guard lk(mu_);
    Stmt s(db_, "DELETE FROM services WHERE name=?");
    s.Bind(1, name);
    s.Step();
    return sqlite3_changes(db_) > 0;
  }

 private:
  static constexpr const char* kComputeColumns =
      "SELECT name, type, state, settings, errors, status, created, updated FROM compute_targets";
  static ComputeTargetRow ReadComputeTarget(const Stmt& s) {
    ComputeTargetRow t;
    t.name = s.Text(0);
    t.type = s.Text(1);
    t.state = s.Text(2);
    t.settings = Json::parse(s.Text(3));
    t.errors = Json::parse(s.Text(4));
    t.status = Json::parse(s.Text(5));
    t.created = s.Int(6);
    t.updated = s.Int(7);
    return t;
  }
  void WriteComputeTarget(const ComputeTargetRow& t) {
    Stmt s(db_,
           "INSERT OR REPLACE INTO compute_targets (name, type, state, settings, errors, status, "
           "created, updated) VALUES (?,?,?,?,?,?,?,?)");
    s.Bind(1, t.name).Bind(2, t.type).Bind(3, t.state).Bind(4, t.settings.dump());
    s.Bind(5, t.errors.dump()).Bind(6, t.status.dump()).Bind(7, t.created).Bind(8, t.updated);
    s.Step();
  }

  static constexpr const char* kServiceColumns =
      "SELECT name, created, updated, state, error, spec, primary_key, secondary_key, port, "
      "generation FROM services";
  static ServiceRecord ReadService(const Stmt& s) {
    ServiceRecord r;
    r.name = s.Text(0);
    r.created = s.Int(1);
    r.updated = s.Int(2);
    r.state = s.Text(3);
    r.error = s.JsonCol(4);
    r.spec = ParseStoredJson(s.Text(5));
    r.primary_key = s.Text(6);
    r.secondary_key = s.Text(7);
    r.port = static_cast<int>(s.Int(8));
    r.generation = s.Int(9);
    return r;
  }

  static constexpr const char* kRunColumns =
      "SELECT id, number, experiment, parent_id, kind, display_name, status, created, started, "
      "ended, compute_target, definition, snapshot_id, git, error, exit_code, agent_pid FROM runs";
  static constexpr const char* kModelColumns =
      "SELECT name, version, created, run_id, experiment, description, framework, "
      "framework_version, path, tags, properties, resource_configuration, files, datasets "
      "FROM models";
  static constexpr const char* kAssetColumns =
      "SELECT kind, name, version, id, created, description, tags, definition, definition_hash "
      "FROM assets";
  static constexpr const char* kRunInputColumns =
      "SELECT run_id, kind, name, version, asset_id, input_name, mode, created FROM run_inputs";

  std::optional<AssetRecord> GetAssetLocked(const std::string& kind, const std::string& name,
                                            int64_t version) {
    std::string sql = std::string(kAssetColumns) +
                      " WHERE kind=?1 AND name=?2 AND (?3 = 0 OR version = ?3) "
                      "ORDER BY version DESC LIMIT 1";
    Stmt s(db_, sql.c_str());
    s.Bind(1, kind).Bind(2, name).Bind(3, version);
    if (!s.Step()) return std::nullopt;
    return ReadAsset(s);
  }

  static AssetRecord ReadAsset(const Stmt& s) {
    AssetRecord a;
    a.kind = s.Text(0);
    a.name = s.Text(1);
    a.version = s.Int(2);
    a.id = s.Text(3);
    a.created = s.Int(4);
    a.description = s.Text(5);
    a.tags = s.JsonCol(6);
    a.definition = s.JsonCol(7);
    a.definition_hash = s.Text(8);
    return a;
  }

  static RunInputRecord ReadRunInput(const Stmt& s) {
    RunInputRecord r;
    r.run_id = s.Text(0);
    r.kind = s.Text(1);
    r.name = s.Text(2);
    r.version = s.Int(3);
    r.asset_id = s.Text(4);
    r.input_name = s.Text(5);
    r.mode = s.Text(6);
    r.created = s.Int(7);
    return r;
  }

  // A transaction held for the scope; rolled back unless Commit() is called.
  class Tx {
   public:
    explicit Tx(SqliteMetadataStore* st) : st_(st) { st_->Exec("BEGIN IMMEDIATE"); }
    ~Tx() {
      if (!done_) sqlite3_exec(st_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void Commit() {
      st_->Exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteMetadataStore* st_;
    bool done_ = false;
  };

  void Exec(const char* sql) {
    char* err = nullptr;
    if (int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
      if (rc == SQLITE_FULL) {
        sqlite3_free(err);
        ThrowOsError(ENOSPC, "write the metadata store");
      }
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw InternalError("sqlite: " + msg + " in " + std::string(sql).substr(0, 80));
    }
  }

  void Migrate() {
    Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    int64_t version = 0;
    {
      Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
      if (s.Step()) version = s.Int(0);
    }
    const int64_t latest = static_cast<int64_t>(std::size(kMigrations));
    if (version > latest) {
      throw InternalError("metadata store schema version " + std::to_string(version) +
                          " is newer than this trainyard (" + std::to_string(latest) +
                          "); upgrade trainyard");
    }
    for (int64_t v = version; v < latest; ++v) {
      Tx tx(this);
      Exec(kMigrations[v]);
      Stmt s(db_, "INSERT INTO schema_version (version) VALUES (?)");
      s.Bind(1, v + 1);
      s.Step();
      tx.Commit();
    }
  }

  Experiment EnsureExperimentLocked(const std::string& name) {
    Stmt g(db_, "SELECT id, name, created FROM experiments WHERE name=?");
    g.Bind(1, name);
    if (g.Step()) return {g.Int(0), g.Text(1), g.Int(2)};
    int64_t now = NowMillis();
    Stmt s(db_, "INSERT INTO experiments (name, created) VALUES (?, ?)");
    s.Bind(1, name).Bind(2, now);
    s.Step();
    return {sqlite3_last_insert_rowid(db_), name, now};
  }

  // The integer key metrics rows use for a run (runs.key): small rows, cheap index compares.
  int64_t RunKey(const std::string& id) {
    Stmt s(db_, "SELECT key FROM runs WHERE id=?");
    s.Bind(1, id);
    if (!s.Step()) throw NotFound("run '" + id + "' not found");
    return s.Int(0);
  }

  void RequireRun(const std::string& id) {
    Stmt s(db_, "SELECT 1 FROM runs WHERE id=?");
    s.Bind(1, id);
    if (!s.Step()) throw NotFound("run '" + id + "' not found");
  }

  void AddHistory(const std::string& id, const std::string& status, int64_t t) {
    Stmt h(db_, "INSERT INTO run_status_history (run_id, status, time) VALUES (?,?,?)");
    h.Bind(1, id).Bind(2, status).Bind(3, t);
    h.Step();
  }

  void WriteKv(const char* table, const std::string& id, const Json& kv) {
    std::string sql =
        std::string("INSERT OR REPLACE INTO ") + table + " (run_id, key, value) VALUES (?,?,?)";
    for (auto& [k, v] : kv.items()) {
      Stmt s(db_, sql.c_str());
      s.Bind(1, id).Bind(2, k).Bind(3, v.get<std::string>());
      s.Step();
    }
  }

  void LoadKv(RunRecord& r) {
    for (auto [table, target] :
         {std::pair{"run_tags", &r.tags}, {"run_properties", &r.properties}}) {
      std::string sql = std::string("SELECT key, value FROM ") + table + " WHERE run_id=?";
      Stmt s(db_, sql.c_str());
      s.Bind(1, r.id);
      *target = Json::object();
      while (s.Step()) (*target)[s.Text(0)] = s.Text(1);
    }
  }

  static RunRecord ReadRun(const Stmt& s) {
    RunRecord r;
    r.id = s.Text(0);
    r.number = s.Int(1);
    r.experiment = s.Text(2);
    r.parent_id = s.Text(3);
    r.kind = s.Text(4);
    r.display_name = s.Text(5);
    r.status = s.Text(6);
    r.created = s.Int(7);
    r.started = s.Int(8);
    r.ended = s.Int(9);
    r.compute_target = s.Text(10);
    r.definition = ParseStoredJson(s.Text(11));
    r.snapshot_id = s.Text(12);
    r.git = s.JsonCol(13);
    r.error = s.JsonCol(14);
    if (!s.IsNull(15)) r.exit_code = static_cast<int>(s.Int(15));
    r.agent_pid = s.Int(16);
    return r;
  }

  static ModelRecord ReadModel(const Stmt& s) {
    ModelRecord m;
    m.name = s.Text(0);
    m.version = s.Int(1);
    m.created = s.Int(2);
    m.run_id = s.Text(3);
    m.experiment = s.Text(4);
    m.description = s.Text(5);
    m.framework = s.Text(6);
    m.framework_version = s.Text(7);
    m.path = s.Text(8);
    m.tags = s.JsonCol(9);
    m.properties = s.JsonCol(10);
    m.resource_configuration = s.JsonCol(11);
    m.files = s.JsonCol(12);
    m.datasets = s.JsonCol(13);
    return m;
  }

  std::mutex mu_;
  sqlite3* db_ = nullptr;
};

}  // namespace

int64_t SqliteSchemaVersion() { return static_cast<int64_t>(std::size(kMigrations)); }

std::unique_ptr<MetadataStore> OpenSqliteMetadataStore(const std::string& path) {
  return std::make_unique<SqliteMetadataStore>(path);
}

bool IsTerminalStatus(const std::string& s) {
  return s == "Completed" || s == "Failed" || s == "Canceled";
}

bool IsKnownStatus(const std::string& s) {
  static const char* const kStatuses[] = {
      "NotStarted", "Queued",          "Preparing",     "Provisioning", "Starting",
      "Running",    "CancelRequested", "Finalizing",    "Completed",    "Failed",
      "Canceled",   "Unapproved",      "NotResponding", "Pausing",      "Paused"};
  for (const char* k : kStatuses)
    if (s == k) return true;
  return false;
}

}  // namespace trainyard
