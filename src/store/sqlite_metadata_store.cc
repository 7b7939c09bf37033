// SQLite (WAL) implementation of MetadataStore: one serialized writer connection and a pool of
// reader connections (readers never wait for the writer), each with its prepared statements.
#include <sqlite3.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <variant>

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
    // 6: run history at scale (issue 20): run numbers from a per-experiment counter; indexes
    // for paged listings (top-level runs, children, tag/property values); the latest value of
    // every scalar series (filter and sort by metric) and per-block summaries of each series
    // (ranged and downsampled reads), both maintained by InsertMetrics.
    R"sql(
ALTER TABLE experiments ADD COLUMN last_run_number INTEGER NOT NULL DEFAULT 0;
UPDATE experiments SET last_run_number =
  COALESCE((SELECT MAX(number) FROM runs WHERE runs.experiment = experiments.name), 0);
DROP INDEX runs_parent;
CREATE INDEX runs_parent ON runs(parent_id, created);
CREATE INDEX runs_top ON runs(experiment, created) WHERE parent_id IS NULL;
CREATE INDEX run_tags_kv ON run_tags(key, value);
CREATE INDEX run_properties_kv ON run_properties(key, value);
CREATE TABLE metrics_latest (run_key INTEGER NOT NULL, name TEXT NOT NULL,
  count INTEGER NOT NULL, num, value TEXT, step INTEGER, time INTEGER NOT NULL,
  last_x INTEGER NOT NULL, mode INTEGER NOT NULL, monotonic INTEGER NOT NULL,
  PRIMARY KEY(run_key, name)) WITHOUT ROWID;
CREATE INDEX metrics_latest_value ON metrics_latest(name, num);
CREATE TABLE metric_blocks (run_key INTEGER NOT NULL, name TEXT NOT NULL, block INTEGER NOT NULL,
  n INTEGER NOT NULL, first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL,
  first_x INTEGER NOT NULL, last_x INTEGER NOT NULL, min_v, min_x INTEGER, max_v, max_x INTEGER,
  PRIMARY KEY(run_key, name, block)) WITHOUT ROWID;
)sql",
    // 7: the time of each block's minimum and maximum (downsampled points carry their time);
    // the summaries are rebuilt from the points.
    R"sql(
ALTER TABLE metric_blocks ADD COLUMN min_t INTEGER;
ALTER TABLE metric_blocks ADD COLUMN max_t INTEGER;
)sql",
};
// The migration after which series summaries (metrics_latest, metric_blocks) are rebuilt from
// the points: the last one that changed their shape.
constexpr int64_t kSeriesSummaryMigration = 7;

// Points per summary block of a series (metric_blocks).
constexpr int64_t kBlock = 256;

// One SQLite connection and its prepared statements (by SQL text). Used by one thread at a time
// (the writer under its mutex, a reader while leased from the pool).
struct Conn {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle;  // prepared, reset
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    for (auto& [sql, v] : idle)
      for (sqlite3_stmt* st : v) sqlite3_finalize(st);
    if (db) sqlite3_close(db);
  }
};

// A prepared statement borrowed from its connection's cache (prepared once per connection and
// SQL text); reset and returned to the cache at the end of the scope.
class Stmt {
 public:
  Stmt(Conn& c, const std::string& sql) : c_(c) {
    auto it = c.idle.find(sql);
    if (it != c.idle.end()) {
      slot_ = &it->second;  // stable: unordered_map keeps elements in place on rehash
      if (!slot_->empty()) {
        s_ = slot_->back();
        slot_->pop_back();
        return;
      }
    } else {
      sql_ = sql;
    }
    if (sqlite3_prepare_v3(c.db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) !=
        SQLITE_OK) {
      throw InternalError(std::string("sqlite prepare: ") + sqlite3_errmsg(c.db) + " in " + sql);
    }
  }
  ~Stmt() {
    if (!s_) return;
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    if (slot_) {
      if (slot_->size() < 4) {
        slot_->push_back(s_);
      } else {
        sqlite3_finalize(s_);
      }
      return;
    }
    auto it = c_.idle.find(sql_);
    if (it == c_.idle.end() && c_.idle.size() >= 256) {  // many one-off queries: don't keep
      sqlite3_finalize(s_);
      return;
    }
    auto& v = it == c_.idle.end() ? c_.idle[sql_] : it->second;
    if (v.size() < 4) {
      v.push_back(s_);
    } else {
      sqlite3_finalize(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Text that outlives the statement's use (no copy).
  Stmt& BindStatic(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
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
  Stmt& BindValue(int i, const SqlValue& v) {
    if (std::holds_alternative<std::monostate>(v)) return BindNull(i);
    if (auto* x = std::get_if<int64_t>(&v)) return Bind(i, *x);
    if (auto* d = std::get_if<double>(&v)) return BindDouble(i, *d);
    return Bind(i, std::get<std::string>(v));
  }

  // Returns true while rows are available.
  bool Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT)
      throw Conflict(std::string("constraint: ") + sqlite3_errmsg(c_.db));
    if (rc == SQLITE_FULL) ThrowOsError(ENOSPC, "write the metadata store");
    throw InternalError(std::string("sqlite step: ") + sqlite3_errmsg(c_.db));
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
  int Type(int c) const { return sqlite3_column_type(s_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  // Bounded: a document stored before the input limits existed cannot crash a reader.
  Json JsonCol(int c) const { return IsNull(c) ? Json() : ParseStoredJson(Text(c)); }
  SqlValue Value(int c) const {
    switch (Type(c)) {
      case SQLITE_INTEGER:
        return Int(c);
      case SQLITE_FLOAT:
        return Double(c);
      case SQLITE_NULL:
        return std::monostate{};
      default:
        return Text(c);
    }
  }

 private:
  Conn& c_;
  std::vector<sqlite3_stmt*>* slot_ = nullptr;  // its cache entry, when one existed
  std::string sql_;                             // the SQL, when no cache entry existed
  sqlite3_stmt* s_ = nullptr;
};

// The connection the current thread holds (set by a Lease for the duration of a store call).
thread_local Conn* tl_conn = nullptr;
Conn& C() { return *tl_conn; }

// ----- scalar series summaries (metrics_latest, metric_blocks) -----

bool IsNum(const SqlValue& v) {
  return std::holds_alternative<int64_t>(v) || std::holds_alternative<double>(v);
}
double ToD(const SqlValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}
bool IsNullV(const SqlValue& v) { return std::holds_alternative<std::monostate>(v); }

// A scalar metric value as stored: numbers in `num`, anything else as JSON text.
SqlValue ScalarValue(const Json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return v.get<double>();
  if (v.is_null()) return std::monostate{};
  return v.dump();
}

struct BlockAcc {
  int64_t block = -1, n = 0, first_rowid = 0, last_rowid = 0, first_x = 0, last_x = 0;
  SqlValue min_v, max_v;
  int64_t min_x = 0, max_x = 0;
  int64_t min_t = -1, max_t = -1;  // -1: unknown (NULL)
  void AddNumeric(const SqlValue& v, int64_t x, int64_t t) {
    if (!IsNum(v)) return;
    double d = ToD(v);
    if (IsNullV(min_v) || d < ToD(min_v)) {
      min_v = v;
      min_x = x;
      min_t = t;
    }
    if (IsNullV(max_v) || d > ToD(max_v)) {
      max_v = v;
      max_x = x;
      max_t = t;
    }
  }
  // The extremes' times are known (or there are no numbers).
  bool HasTimes() const { return IsNullV(min_v) || (min_t >= 0 && max_t >= 0); }
};

// What metrics_latest holds for one (run, name): the point count, the last logged value,
// and whether x (the step, or the position when logged without one) never decreased.
struct SeriesState {
  int64_t count = 0;
  SqlValue latest;
  std::optional<int64_t> step;
  int64_t time = 0, last_x = 0;
  int mode = 0;  // 1: logged without steps, 2: with steps, 3: mixed
  bool monotonic = true;
  BlockAcc cur;
  bool cur_dirty = false;
};

std::optional<SeriesState> LoadSeriesState(int64_t key, const std::string& name) {
  Stmt s(C(),
         "SELECT count, num, value, step, time, last_x, mode, monotonic FROM metrics_latest "
         "WHERE run_key=? AND name=?");
  s.Bind(1, key).Bind(2, name);
  if (!s.Step()) return std::nullopt;
  SeriesState st;
  st.count = s.Int(0);
  st.latest = s.IsNull(1) ? (s.IsNull(2) ? SqlValue{} : SqlValue{s.Text(2)}) : s.Value(1);
  if (!s.IsNull(3)) st.step = s.Int(3);
  st.time = s.Int(4);
  st.last_x = s.Int(5);
  st.mode = static_cast<int>(s.Int(6));
  st.monotonic = s.Int(7) != 0;
  return st;
}

constexpr const char* kBlockColumns =
    "SELECT block, n, first_rowid, last_rowid, first_x, last_x, min_v, min_x, max_v, max_x, "
    "min_t, max_t FROM metric_blocks";

BlockAcc ReadBlock(const Stmt& s) {
  BlockAcc b;
  b.block = s.Int(0);
  b.n = s.Int(1);
  b.first_rowid = s.Int(2);
  b.last_rowid = s.Int(3);
  b.first_x = s.Int(4);
  b.last_x = s.Int(5);
  b.min_v = s.Value(6);
  b.min_x = s.Int(7);
  b.max_v = s.Value(8);
  b.max_x = s.Int(9);
  b.min_t = s.IsNull(10) ? -1 : s.Int(10);
  b.max_t = s.IsNull(11) ? -1 : s.Int(11);
  return b;
}

void WriteBlock(int64_t key, const std::string& name, const BlockAcc& b) {
  Stmt s(C(),
         "INSERT OR REPLACE INTO metric_blocks (run_key, name, block, n, first_rowid, "
         "last_rowid, first_x, last_x, min_v, min_x, max_v, max_x, min_t, max_t) VALUES "
         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Bind(1, key).Bind(2, name).Bind(3, b.block).Bind(4, b.n).Bind(5, b.first_rowid);
  s.Bind(6, b.last_rowid).Bind(7, b.first_x).Bind(8, b.last_x).BindValue(9, b.min_v);
  s.Bind(10, b.min_x).BindValue(11, b.max_v).Bind(12, b.max_x);
  if (b.min_t >= 0) {
    s.Bind(13, b.min_t);
  } else {
    s.BindNull(13);
  }
  if (b.max_t >= 0) {
    s.Bind(14, b.max_t);
  } else {
    s.BindNull(14);
  }
  s.Step();
}

// Maintains metrics_latest and metric_blocks for the scalar points of one write transaction.
class SeriesAccumulator {
 public:
  void Add(int64_t key, const std::string& name, int64_t rowid, SqlValue v,
           std::optional<int64_t> step, int64_t time) {
    SeriesState* stp = last_;
    if (!stp || last_key_ != key || last_name_ != name) {
      auto [it, fresh] = states_.try_emplace({key, name});
      stp = &it->second;
      if (fresh) {
        if (auto loaded = LoadSeriesState(key, name)) *stp = std::move(*loaded);
        if (stp->count % kBlock != 0) {
          std::string sql = std::string(kBlockColumns) + " WHERE run_key=? AND name=? AND block=?";
          Stmt b(C(), sql);
          b.Bind(1, key).Bind(2, name).Bind(3, stp->count / kBlock);
          if (b.Step()) stp->cur = ReadBlock(b);
        }
      }
      last_ = stp;
      last_key_ = key;
      last_name_ = name;
    }
    SeriesState& st = *stp;
    int64_t ordinal = st.count;
    int64_t x = step ? *step : ordinal;
    int mode = step ? 2 : 1;
    if (st.count == 0) {
      st.mode = mode;
    } else if (st.mode != mode) {
      st.mode = 3;
      st.monotonic = false;
    } else if (x < st.last_x) {
      st.monotonic = false;
    }
    st.last_x = x;
    ++st.count;
    st.step = step;
    st.time = time;
    int64_t b = ordinal / kBlock;
    if (st.cur.block != b) {
      if (st.cur_dirty) WriteBlock(key, name, st.cur);
      st.cur = BlockAcc{};
      st.cur.block = b;
    }
    BlockAcc& c = st.cur;
    if (c.n == 0) {
      c.first_rowid = rowid;
      c.first_x = x;
    }
    ++c.n;
    c.last_rowid = rowid;
    c.last_x = x;
    c.AddNumeric(v, x, time);
    st.cur_dirty = true;
    st.latest = std::move(v);
  }

  void Flush() {
    for (auto& [k, st] : states_) {
      if (st.cur_dirty) WriteBlock(k.first, k.second, st.cur);
      Stmt s(C(),
             "INSERT OR REPLACE INTO metrics_latest (run_key, name, count, num, value, step, "
             "time, last_x, mode, monotonic) VALUES (?,?,?,?,?,?,?,?,?,?)");
      s.Bind(1, k.first).Bind(2, k.second).Bind(3, st.count);
      if (IsNum(st.latest)) {
        s.BindValue(4, st.latest).BindNull(5);
      } else {
        s.BindNull(4).BindValue(5, st.latest);
      }
      if (st.step) {
        s.Bind(6, *st.step);
      } else {
        s.BindNull(6);
      }
      s.Bind(7, st.time).Bind(8, st.last_x).Bind(9, int64_t{st.mode});
      s.Bind(10, int64_t{st.monotonic ? 1 : 0});
      s.Step();
    }
    states_.clear();
    last_ = nullptr;
  }

 private:
  std::map<std::pair<int64_t, std::string>, SeriesState> states_;
  SeriesState* last_ = nullptr;
  int64_t last_key_ = 0;
  std::string last_name_;
};

// Visits the scalar points of a series after `after_rowid` (up to `max_rowid`) in logging
// order; `ordinal` is the position of the first one. fn returns false to stop.
void ScanSeries(int64_t key, const std::string& name, int64_t after_rowid, int64_t ordinal,
                int64_t max_rowid, const std::function<bool(int64_t, int64_t, SeriesPoint&)>& fn) {
  Stmt s(C(),
         "SELECT rowid, num, json, step, time FROM metrics INDEXED BY metrics_run_name WHERE "
         "run_key=? AND name=? AND rowid > ? AND rowid <= ? AND kind='scalar' ORDER BY rowid");
  s.Bind(1, key).Bind(2, name).Bind(3, after_rowid).Bind(4, max_rowid);
  SeriesPoint p;
  while (s.Step()) {
    int64_t ord = ordinal++;
    p.step = s.IsNull(3) ? ord : s.Int(3);
    int t = s.Type(1);
    if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
      p.value = s.Value(1);
    } else if (!s.IsNull(2)) {
      p.value = s.Text(2);
    } else {
      p.value = std::monostate{};
    }
    p.time = s.Int(4);
    if (!fn(s.Int(0), ord, p)) return;
  }
}

// Min and max of each of `buckets` runs of consecutive units (summaries in step order), as
// points in step order: the extremes of every bucket are kept.
struct Unit {
  int64_t n = 0;
  SqlValue min_v, max_v;
  int64_t min_x = 0, max_x = 0;
  int64_t min_t = 0, max_t = 0;
};

Unit UnitOf(const BlockAcc& b) {
  return {b.n,
          b.min_v,
          b.max_v,
          b.min_x,
          b.max_x,
          std::max<int64_t>(0, b.min_t),
          std::max<int64_t>(0, b.max_t)};
}

// The unit's extremes as points in step order (one when they are the same point).
void AppendExtremes(const Unit& u, std::vector<SeriesPoint>& out) {
  if (IsNullV(u.min_v)) return;
  SeriesPoint a{u.min_x, u.min_v, u.min_t}, b{u.max_x, u.max_v, u.max_t};
  if (a.step > b.step) std::swap(a, b);
  out.push_back(a);
  if (!(u.min_x == u.max_x && ToD(u.min_v) == ToD(u.max_v))) out.push_back(b);
}

void EmitBuckets(const std::vector<Unit>& units, size_t buckets, std::vector<SeriesPoint>& out) {
  int64_t total = 0;
  for (auto& u : units) total += u.n;
  if (total == 0) return;
  Unit acc;
  int64_t cum = 0;
  size_t cur = SIZE_MAX;
  for (auto& u : units) {
    size_t bucket = static_cast<size_t>(static_cast<double>(cum) * static_cast<double>(buckets) /
                                        static_cast<double>(total));
    if (bucket != cur) {
      if (cur != SIZE_MAX) AppendExtremes(acc, out);
      acc = Unit{};
      cur = bucket;
    }
    cum += u.n;
    acc.n += u.n;
    if (!IsNullV(u.min_v) && (IsNullV(acc.min_v) || ToD(u.min_v) < ToD(acc.min_v))) {
      acc.min_v = u.min_v;
      acc.min_x = u.min_x;
      acc.min_t = u.min_t;
    }
    if (!IsNullV(u.max_v) && (IsNullV(acc.max_v) || ToD(u.max_v) > ToD(acc.max_v))) {
      acc.max_v = u.max_v;
      acc.max_x = u.max_x;
      acc.max_t = u.max_t;
    }
  }
  AppendExtremes(acc, out);
}

}  // namespace

// Largest-Triangle-Three-Buckets (Steinarsson 2013) over numeric points in step order, keeping
// the first, the last, the minimum and the maximum: at most `n` points, in step order.
std::vector<SeriesPoint> LttbDownsample(const std::vector<SeriesPoint>& in, size_t n) {
  std::vector<SeriesPoint> pts;
  pts.reserve(in.size());
  for (auto& p : in)
    if (IsNum(p.value)) pts.push_back(p);
  if (pts.size() <= n || n < 2) return pts;
  size_t lo_i = 0, hi_i = 0;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (ToD(pts[i].value) < ToD(pts[lo_i].value)) lo_i = i;
    if (ToD(pts[i].value) > ToD(pts[hi_i].value)) hi_i = i;
  }
  // Room for the extremes when LTTB might miss them.
  const size_t k = n >= 5 ? n - 2 : n;
  std::vector<size_t> pick;
  pick.reserve(n);
  pick.push_back(0);
  if (k > 2) {
    const double every = static_cast<double>(pts.size() - 2) / static_cast<double>(k - 2);
    size_t a = 0;
    for (size_t i = 0; i + 2 < k; ++i) {
      size_t avg_from = static_cast<size_t>(std::floor(static_cast<double>(i + 1) * every)) + 1;
      size_t avg_to = std::min(
          pts.size(), static_cast<size_t>(std::floor(static_cast<double>(i + 2) * every)) + 1);
      double ax = 0, ay = 0;
      if (avg_from >= avg_to) avg_from = pts.size() - 1, avg_to = pts.size();
      for (size_t j = avg_from; j < avg_to; ++j) {
        ax += static_cast<double>(pts[j].step);
        ay += ToD(pts[j].value);
      }
      ax /= static_cast<double>(avg_to - avg_from);
      ay /= static_cast<double>(avg_to - avg_from);
      size_t from = static_cast<size_t>(std::floor(static_cast<double>(i) * every)) + 1;
      size_t to = std::min(pts.size() - 1,
                           static_cast<size_t>(std::floor(static_cast<double>(i + 1) * every)) + 1);
      const double px = static_cast<double>(pts[a].step), py = ToD(pts[a].value);
      double best = -1;
      size_t best_j = from;
      for (size_t j = from; j < to; ++j) {
        double area = std::fabs((px - ax) * (ToD(pts[j].value) - py) -
                                (px - static_cast<double>(pts[j].step)) * (ay - py));
        if (area > best) {
          best = area;
          best_j = j;
        }
      }
      pick.push_back(best_j);
      a = best_j;
    }
  }
  pick.push_back(pts.size() - 1);
  if (k != n) {
    pick.push_back(lo_i);
    pick.push_back(hi_i);
  }
  std::sort(pick.begin(), pick.end());
  pick.erase(std::unique(pick.begin(), pick.end()), pick.end());
  std::vector<SeriesPoint> out;
  out.reserve(pick.size());
  for (size_t i : pick) out.push_back(pts[i]);
  return out;
}

namespace {

// A range of at most this many points is downsampled with LTTB over its points; a larger one
// (of a series whose steps never decrease) over the extremes of its 256-point blocks.
constexpr int64_t kLttbExactPoints = 65536;

// Downsampled read: min/max per bucket, or LTTB. A series whose steps never decrease is read
// from its block summaries (only the blocks cut by the range are read point by point);
// otherwise, or when the range holds too few blocks, from its points.
void Downsample(int64_t key, const std::string& name, const SeriesState& st, int64_t lo, int64_t hi,
                int max_points, bool lttb, SeriesChunk& out) {
  const size_t buckets = static_cast<size_t>(std::max(1, max_points / 2));
  std::vector<SeriesPoint> raw;  // points in range, when read one by one
  if (st.monotonic) {
    std::vector<BlockAcc> blocks;
    {
      std::string sql = std::string(kBlockColumns) +
                        " WHERE run_key=? AND name=? AND last_x >= ? AND first_x <= ? ORDER BY "
                        "block";
      Stmt b(C(), sql);
      b.Bind(1, key).Bind(2, name).Bind(3, lo).Bind(4, hi);
      while (b.Step()) blocks.push_back(ReadBlock(b));
    }
    std::vector<Unit> units;
    int64_t total = 0;
    for (auto& b : blocks) {
      Unit u;
      if (b.first_x >= lo && b.last_x <= hi && b.HasTimes()) {
        u = UnitOf(b);
      } else {  // cut by the range (or summarised without times): its points
        BlockAcc part;
        ScanSeries(key, name, b.first_rowid - 1, b.block * kBlock, b.last_rowid,
                   [&](int64_t, int64_t, SeriesPoint& p) {
                     if (p.step < lo || p.step > hi) return true;
                     ++part.n;
                     part.AddNumeric(p.value, p.step, p.time);
                     return true;
                   });
        u = UnitOf(part);
      }
      total += u.n;
      units.push_back(u);
    }
    const bool from_blocks =
        total > max_points && units.size() >= buckets &&
        (!lttb || (total > kLttbExactPoints && units.size() >= static_cast<size_t>(max_points)));
    if (from_blocks && !lttb) {
      EmitBuckets(units, buckets, out.points);
      return;
    }
    if (from_blocks) {  // LTTB over the blocks' extremes (2 candidates per block)
      std::vector<SeriesPoint> cand;
      cand.reserve(units.size() * 2);
      for (auto& u : units) AppendExtremes(u, cand);
      out.points = LttbDownsample(cand, static_cast<size_t>(max_points));
      return;
    }
    int64_t after = blocks.empty() ? 0 : blocks.front().first_rowid - 1;
    int64_t ord = blocks.empty() ? 0 : blocks.front().block * kBlock;
    int64_t last = blocks.empty() ? 0 : blocks.back().last_rowid;
    if (!blocks.empty()) {
      ScanSeries(key, name, after, ord, last, [&](int64_t, int64_t, SeriesPoint& p) {
        if (p.step >= lo && p.step <= hi) raw.push_back(std::move(p));
        return true;
      });
    }
  } else {
    ScanSeries(key, name, 0, 0, INT64_MAX, [&](int64_t, int64_t, SeriesPoint& p) {
      if (p.step >= lo && p.step <= hi) raw.push_back(std::move(p));
      return true;
    });
    std::stable_sort(raw.begin(), raw.end(),
                     [](const SeriesPoint& a, const SeriesPoint& b) { return a.step < b.step; });
  }
  if (raw.size() <= static_cast<size_t>(max_points)) {
    out.points = std::move(raw);
    out.downsampled = false;
    return;
  }
  if (lttb) {
    out.points = LttbDownsample(raw, static_cast<size_t>(max_points));
    return;
  }
  std::vector<Unit> units;
  units.reserve(raw.size());
  for (auto& p : raw) {
    Unit u;
    u.n = 1;
    if (IsNum(p.value)) u = {1, p.value, p.value, p.step, p.step, p.time, p.time};
    units.push_back(u);
  }
  EmitBuckets(units, buckets, out.points);
}

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
  explicit SqliteMetadataStore(const std::string& path) : path_(path) {
    Open(writer_, true);
    Lease lk = Write();
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=NORMAL");
    Exec("PRAGMA foreign_keys=ON");
    Migrate();
  }
  ~SqliteMetadataStore() override = default;

  Experiment EnsureExperiment(const std::string& name) override {
    Lease lk = Write();
    return EnsureExperimentLocked(name);
  }

  std::optional<Experiment> GetExperiment(const std::string& name) override {
    Lease lk = Read();
    Stmt s(C(), "SELECT id, name, created FROM experiments WHERE name=?");
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return Experiment{s.Int(0), s.Text(1), s.Int(2)};
  }

  std::vector<Experiment> ListExperiments() override {
    Lease lk = Read();
    Stmt s(C(), "SELECT id, name, created FROM experiments ORDER BY name");
    std::vector<Experiment> out;
    while (s.Step()) out.push_back({s.Int(0), s.Text(1), s.Int(2)});
    return out;
  }

  void CreateRun(RunRecord& r) override {
    Lease lk = Write();
    Tx tx(this);
    CreateRunLocked(r);
    tx.Commit();
  }

  void CreateRuns(std::vector<RunRecord>& runs) override {
    Lease lk = Write();
    Tx tx(this);
    for (RunRecord& r : runs) CreateRunLocked(r);
    tx.Commit();
  }

  std::optional<RunRecord> GetRun(const std::string& id) override {
    Lease lk = Read();
    std::string sql = std::string(kRunColumns) + " WHERE id=?";
    Stmt s(C(), sql.c_str());
    s.Bind(1, id);
    if (!s.Step()) return std::nullopt;
    RunRecord r = ReadRun(s);
    LoadKv(r);
    return r;
  }

  std::vector<RunRecord> ListRuns(const RunFilter& f) override {
    Lease lk = Read();
    std::vector<RunRecord> out;
    if (f.parent_id) {
      std::vector<std::string> frontier{*f.parent_id};
      while (!frontier.empty()) {
        std::vector<std::string> next;
        for (const auto& pid : frontier) {
          std::string sql =
              std::string(kRunColumns) + " WHERE parent_id=? ORDER BY created, number";
          Stmt s(C(), sql.c_str());
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
      Stmt s(C(), sql.c_str());
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
    Lease lk = Write();
    Tx tx(this);
    Stmt g(C(), "SELECT status, started FROM runs WHERE id=?");
    g.Bind(1, id);
    if (!g.Step()) throw NotFound("run '" + id + "' not found");
    std::string cur = g.Text(0);
    int64_t started = g.Int(1);
    if (IsTerminalStatus(cur)) return cur == status;
    int64_t now = NowMillis();
    bool terminal = IsTerminalStatus(status);
    if (status == "Running" && started == 0) started = now;
    if (terminal && started == 0) started = now;
    Stmt s(C(),
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
      Stmt d(C(), "DELETE FROM run_tokens WHERE run_id=?");
      d.Bind(1, id);
      d.Step();
    }
    tx.Commit();
    return true;
  }

  void AddRunToken(const std::string& run_id, const std::string& token_hash) override {
    Lease lk = Write();
    Stmt s(C(), "INSERT OR REPLACE INTO run_tokens (hash, run_id, created) VALUES (?, ?, ?)");
    s.Bind(1, token_hash).Bind(2, run_id).Bind(3, NowMillis());
    s.Step();
  }

  std::optional<std::string> FindRunToken(const std::string& token_hash) override {
    Lease lk = Read();
    Stmt s(C(), "SELECT run_id FROM run_tokens WHERE hash=?");
    s.Bind(1, token_hash);
    if (!s.Step()) return std::nullopt;
    return s.Text(0);
  }

  void DeleteRunTokens(const std::string& run_id) override {
    Lease lk = Write();
    Stmt s(C(), "DELETE FROM run_tokens WHERE run_id=?");
    s.Bind(1, run_id);
    s.Step();
  }

  void SetAgentPid(const std::string& id, int64_t pid) override {
    Lease lk = Write();
    Stmt s(C(), "UPDATE runs SET agent_pid=? WHERE id=?");
    s.Bind(1, pid).Bind(2, id);
    s.Step();
  }

  void SetTags(const std::string& id, const Json& tags) override {
    Lease lk = Write();
    Tx tx(this);
    RequireRun(id);
    WriteKv("run_tags", id, tags);
    tx.Commit();
  }

  void AddProperties(const std::string& id, const Json& props) override {
    Lease lk = Write();
    Tx tx(this);
    RequireRun(id);
    for (auto& [k, v] : props.items()) {
      Stmt g(C(), "SELECT value FROM run_properties WHERE run_id=? AND key=?");
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
      Stmt p(C(), "INSERT INTO run_properties (run_id, key, value) VALUES (?,?,?)");
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
    Lease lk = Write();
    Tx tx(this);
    Stmt s(C(),
           "INSERT OR IGNORE INTO metrics (run_key, seq, name, kind, num, json, step, time, "
           "description) VALUES (?,?,?,?,?,?,?,?,?)");
    size_t inserted = 0;
    SeriesAccumulator series;
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
      if (sqlite3_changes(C().db) > 0) {
        ++inserted;
        if (p.kind == "scalar") {
          series.Add(last_key, p.name, sqlite3_last_insert_rowid(C().db), ScalarValue(p.value),
                     p.step, p.time);
        }
      }
      s.Reset();
    }
    series.Flush();
    tx.Commit();
    return inserted;
  }

  std::vector<MetricPoint> GetMetrics(const std::string& run_id, const std::string& name) override {
    std::vector<MetricPoint> out;
    ForEachMetric(run_id, name, [&](MetricPoint& p) { out.push_back(std::move(p)); });
    return out;
  }

  void ForEachMetric(const std::string& run_id, const std::string& name,
                     const std::function<void(MetricPoint&)>& fn) override {
    Lease lk = Read();
    std::optional<int64_t> key = FindRunKey(run_id);
    if (!key) return;
    // With a name, the (run_key, name) index yields rows in rowid (= log) order: no sort.
    Stmt s(C(), name.empty() ? "SELECT name, kind, num, json, step, time, seq, description "
                               "FROM metrics WHERE run_key=?1 ORDER BY rowid"
                             : "SELECT name, kind, num, json, step, time, seq, description "
                               "FROM metrics INDEXED BY metrics_run_name WHERE run_key=?1 AND "
                               "name=?2 ORDER BY rowid");
    s.Bind(1, *key);
    if (!name.empty()) s.Bind(2, name);
    MetricPoint p;
    while (s.Step()) {
      p.run_id = run_id;
      p.name = s.Text(0);
      p.kind = s.Text(1);
      // The untyped column keeps integers and floats apart.
      int t = s.Type(2);
      if (t == SQLITE_INTEGER) {
        p.value = s.Int(2);
      } else if (t != SQLITE_NULL) {
        p.value = s.Double(2);
      } else if (!s.IsNull(3)) {
        p.value = ParseStoredJson(s.Text(3));
      } else {
        p.value = nullptr;
      }
      p.step.reset();
      if (!s.IsNull(4)) p.step = s.Int(4);
      p.time = s.Int(5);
      p.seq.reset();
      if (!s.IsNull(6)) p.seq = s.Int(6);
      p.description = s.Text(7);
      fn(p);
    }
  }

  // ----- run history at scale -----
  RunPage QueryRuns(const RunQuery& q) override {
    std::vector<FilterTerm> filter = ParseRunFilter(q.filter);
    std::vector<OrderTerm> order = ParseRunOrderBy(q.order_by);
    int page = std::clamp(q.page_size, 1, 10000);
    RunPageSql sql = BuildRunPageSql(q.scope, filter, order, q.cursor, page + 1, kRunColumnsAliased,
                                     q.filter, q.order_by);
    RunPage out;
    Lease lk = Read();
    {
      Stmt s(C(), sql.sql);
      for (size_t i = 0; i < sql.binds.size(); ++i)
        s.BindValue(static_cast<int>(i + 1), sql.binds[i]);
      std::vector<SqlValue> last_keys;
      while (s.Step()) {
        if (static_cast<int>(out.runs.size()) == page) {
          out.next_cursor = EncodeRunCursor(sql.signature, last_keys);
          break;
        }
        out.runs.push_back(ReadRun(s));
        last_keys.clear();
        for (size_t k = 0; k < sql.sort_columns; ++k) {
          last_keys.push_back(s.Value(static_cast<int>(kRunColumnCount + k)));
        }
      }
    }
    LoadKvBatch(out.runs);
    if (q.count) {
      Stmt c(C(), sql.count_sql);
      for (size_t i = 0; i < sql.count_binds.size(); ++i)
        c.BindValue(static_cast<int>(i + 1), sql.count_binds[i]);
      c.Step();
      out.total = c.Int(0);
    }
    return out;
  }

  std::map<std::string, Json> LatestMetrics(const std::vector<std::string>& run_ids) override {
    std::map<std::string, Json> out;
    if (run_ids.empty()) return out;
    Lease lk = Read();
    for (size_t at = 0; at < run_ids.size(); at += 500) {
      size_t n = std::min<size_t>(500, run_ids.size() - at);
      std::string sql =
          "SELECT r.id, ml.name, ml.num, ml.value FROM runs r JOIN metrics_latest ml ON "
          "ml.run_key = r.key WHERE r.id IN (";
      for (size_t i = 0; i < n; ++i) sql += i ? ",?" : "?";
      sql += ")";
      Stmt s(C(), sql);
      for (size_t i = 0; i < n; ++i) s.BindStatic(static_cast<int>(i + 1), run_ids[at + i]);
      while (s.Step()) {
        Json& m = out[s.Text(0)];
        if (m.is_null()) m = Json::object();
        int t = s.Type(2);
        if (t == SQLITE_INTEGER) {
          m[s.Text(1)] = s.Int(2);
        } else if (t == SQLITE_FLOAT) {
          m[s.Text(1)] = s.Double(2);
        } else {
          m[s.Text(1)] = s.JsonCol(3);
        }
      }
    }
    return out;
  }

  std::vector<std::pair<std::string, int64_t>> SeriesNames(const std::string& run_id) override {
    Lease lk = Read();
    std::optional<int64_t> key = FindRunKey(run_id);
    if (!key) throw NotFound("run '" + run_id + "' not found");
    Stmt s(C(), "SELECT name, count FROM metrics_latest WHERE run_key=? ORDER BY name");
    s.Bind(1, *key);
    std::vector<std::pair<std::string, int64_t>> out;
    while (s.Step()) out.emplace_back(s.Text(0), s.Int(1));
    return out;
  }

  SeriesChunk ReadSeries(const SeriesRead& r) override {
    Lease lk = Read();
    std::optional<int64_t> key = FindRunKey(r.run_id);
    if (!key) throw NotFound("run '" + r.run_id + "' not found");
    SeriesChunk out;
    std::optional<SeriesState> st = LoadSeriesState(*key, r.name);
    if (!st) return out;
    out.count = st->count;
    const int64_t lo = r.start_step.value_or(INT64_MIN);
    const int64_t hi = r.end_step.value_or(INT64_MAX);
    if (lo > hi) return out;
    if (r.max_points > 0) {
      out.downsampled = true;
      Downsample(*key, r.name, *st, lo, hi, r.max_points, r.mode == DownsampleMode::kLttb, out);
      return out;
    }
    // Raw read: rowid keyset over the (run_key, name) index; "rowid:ordinal" continues.
    int64_t after_rowid = 0, ordinal = 0;
    if (!r.after.empty()) {
      if (std::sscanf(r.after.c_str(), "%" SCNd64 ":%" SCNd64, &after_rowid, &ordinal) != 2) {
        throw InvalidInput("series cursor '" + r.after + "' is malformed; pass next as is",
                           "InvalidCursor");
      }
    } else if (r.start_step && st->monotonic) {
      Stmt b(C(),
             "SELECT block, first_rowid FROM metric_blocks WHERE run_key=? AND name=? AND "
             "last_x >= ? ORDER BY block LIMIT 1");
      b.Bind(1, *key).Bind(2, r.name).Bind(3, lo);
      if (!b.Step()) return out;
      ordinal = b.Int(0) * kBlock;
      after_rowid = b.Int(1) - 1;
    }
    ScanSeries(*key, r.name, after_rowid, ordinal, INT64_MAX,
               [&](int64_t rowid, int64_t ord, SeriesPoint& p) {
                 if (p.step > hi) return !st->monotonic;  // past the range: stop when ordered
                 if (p.step < lo) return true;
                 out.points.push_back(std::move(p));
                 if (r.chunk > 0 && out.points.size() >= r.chunk) {
                   out.next = std::to_string(rowid) + ":" + std::to_string(ord + 1);
                   return false;
                 }
                 return true;
               });
    return out;
  }

  void PutArtifact(const std::string& run_id, const ArtifactRecord& a) override {
    Lease lk = Write();
    Stmt s(C(),
           "INSERT OR REPLACE INTO artifacts (run_id, path, sha256, size, created) "
           "VALUES (?,?,?,?,?)");
    s.Bind(1, run_id).Bind(2, a.path).Bind(3, a.sha256).Bind(4, static_cast<int64_t>(a.size));
    s.Bind(5, NowMillis());
    s.Step();
  }

  std::vector<ArtifactRecord> ListArtifacts(const std::string& run_id) override {
    Lease lk = Read();
    Stmt s(C(), "SELECT path, sha256, size FROM artifacts WHERE run_id=? ORDER BY path");
    s.Bind(1, run_id);
    std::vector<ArtifactRecord> out;
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))});
    return out;
  }

  std::optional<ArtifactRecord> GetArtifact(const std::string& run_id,
                                            const std::string& path) override {
    Lease lk = Read();
    Stmt s(C(), "SELECT path, sha256, size FROM artifacts WHERE run_id=? AND path=?");
    s.Bind(1, run_id).Bind(2, path);
    if (!s.Step()) return std::nullopt;
    return ArtifactRecord{s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))};
  }

  void CreateModel(ModelRecord& m) override {
    Lease lk = Write();
    Tx tx(this);
    Stmt n(C(), "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name=?");
    n.Bind(1, m.name);
    n.Step();
    m.version = n.Int(0);
    m.created = NowMillis();
    Stmt s(C(),
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
    Lease lk = Read();
    std::string sql = std::string(kModelColumns) +
                      " WHERE name=?1 AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1";
    Stmt s(C(), sql.c_str());
    s.Bind(1, name).Bind(2, version);
    if (!s.Step()) return std::nullopt;
    return ReadModel(s);
  }

  std::vector<ModelRecord> ListModels(const ModelFilter& f) override {
    Lease lk = Read();
    std::string sql =
        std::string(kModelColumns) + " WHERE (?1 = '' OR name = ?1) ORDER BY name, version DESC";
    Stmt s(C(), sql.c_str());
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
    Lease lk = Write();
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
    Stmt s(C(),
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
    Lease lk = Read();
    return GetAssetLocked(kind, name, version);
  }

  std::optional<AssetRecord> GetAssetById(const std::string& kind, const std::string& id) override {
    Lease lk = Read();
    std::string sql = std::string(kAssetColumns) + " WHERE kind=? AND id=?";
    Stmt s(C(), sql.c_str());
    s.Bind(1, kind).Bind(2, id);
    if (!s.Step()) return std::nullopt;
    return ReadAsset(s);
  }

  std::vector<AssetRecord> ListAssets(const std::string& kind, const std::string& name,
                                      bool latest_only) override {
    Lease lk = Read();
    std::string sql = std::string(kAssetColumns) +
                      " WHERE kind=?1 AND (?2 = '' OR name = ?2) ORDER BY name, version DESC";
    Stmt s(C(), sql.c_str());
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
    Lease lk = Write();
    Tx tx(this);
    for (const RunInputRecord& in : inputs) {
      Stmt s(C(),
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
    Lease lk = Read();
    std::string sql = std::string(kRunInputColumns) + " WHERE run_id=? ORDER BY input_name";
    Stmt s(C(), sql.c_str());
    s.Bind(1, run_id);
    std::vector<RunInputRecord> out;
    while (s.Step()) out.push_back(ReadRunInput(s));
    return out;
  }

  std::map<std::string, std::vector<RunInputRecord>> ListRunInputsOf(
      const std::vector<std::string>& run_ids) override {
    std::map<std::string, std::vector<RunInputRecord>> out;
    if (run_ids.empty()) return out;
    Lease lk = Read();
    for (size_t at = 0; at < run_ids.size(); at += 500) {
      size_t n = std::min<size_t>(500, run_ids.size() - at);
      std::string sql = std::string(kRunInputColumns) + " WHERE run_id IN (";
      for (size_t i = 0; i < n; ++i) sql += i ? ",?" : "?";
      sql += ") ORDER BY run_id, input_name";
      Stmt s(C(), sql);
      for (size_t i = 0; i < n; ++i) s.BindStatic(static_cast<int>(i + 1), run_ids[at + i]);
      while (s.Step()) {
        RunInputRecord r = ReadRunInput(s);
        out[r.run_id].push_back(std::move(r));
      }
    }
    return out;
  }

  std::vector<RunInputRecord> ListAssetConsumers(const std::string& kind, const std::string& name,
                                                 int64_t version) override {
    Lease lk = Read();
    std::string sql = std::string(kRunInputColumns) +
                      " WHERE kind=?1 AND name=?2 AND (?3 = 0 OR version = ?3) ORDER BY created";
    Stmt s(C(), sql.c_str());
    s.Bind(1, kind).Bind(2, name).Bind(3, version);
    std::vector<RunInputRecord> out;
    while (s.Step()) out.push_back(ReadRunInput(s));
    return out;
  }

  void PutService(const ServiceRecord& r) override {
    Lease lk = Write();
    Stmt s(C(),
           "INSERT OR REPLACE INTO services (name, created, updated, state, error, spec, "
           "primary_key, secondary_key, port, generation) VALUES (?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, r.name).Bind(2, r.created).Bind(3, r.updated).Bind(4, r.state);
    s.BindJson(5, r.error).Bind(6, r.spec.dump()).Bind(7, r.primary_key);
    s.Bind(8, r.secondary_key).Bind(9, static_cast<int64_t>(r.port)).Bind(10, r.generation);
    s.Step();
  }

  std::optional<ServiceRecord> GetService(const std::string& name) override {
    Lease lk = Read();
    std::string sql = std::string(kServiceColumns) + " WHERE name=?";
    Stmt s(C(), sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return ReadService(s);
  }

  std::vector<ServiceRecord> ListServices() override {
    Lease lk = Read();
    std::string sql = std::string(kServiceColumns) + " ORDER BY name";
    Stmt s(C(), sql.c_str());
    std::vector<ServiceRecord> out;
    while (s.Step()) out.push_back(ReadService(s));
    return out;
  }

  void InsertComputeTarget(const ComputeTargetRow& t) override {
    Lease lk = Write();
    Stmt g(C(), "SELECT 1 FROM compute_targets WHERE name=?");
    g.Bind(1, t.name);
    if (g.Step()) throw Conflict("compute target '" + t.name + "' exists");
    WriteComputeTarget(t);
  }

  void PutComputeTarget(const ComputeTargetRow& t) override {
    Lease lk = Write();
    WriteComputeTarget(t);
  }

  std::optional<ComputeTargetRow> GetComputeTarget(const std::string& name) override {
    Lease lk = Read();
    std::string sql = std::string(kComputeColumns) + " WHERE name=?";
    Stmt s(C(), sql.c_str());
    s.Bind(1, name);
    if (!s.Step()) return std::nullopt;
    return ReadComputeTarget(s);
  }

  std::vector<ComputeTargetRow> ListComputeTargets() override {
    Lease lk = Read();
    std::string sql = std::string(kComputeColumns) + " ORDER BY name";
    Stmt s(C(), sql.c_str());
    std::vector<ComputeTargetRow> out;
    while (s.Step()) out.push_back(ReadComputeTarget(s));
    return out;
  }

  bool DeleteComputeTarget(const std::string& name) override {
    Lease lk = Write();
    Stmt s(C(), "DELETE FROM compute_targets WHERE name=?");
    s.Bind(1, name);
    s.Step();
    return sqlite3_changes(C().db) > 0;
  }

  bool DeleteService(const std::string& name) override {
    Lease lk = Write();
    Stmt s(C(), "DELETE FROM services WHERE name=?");
    s.Bind(1, name);
    s.Step();
    return sqlite3_changes(C().db) > 0;
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
    Stmt s(C(),
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

  static constexpr const char* kRunColumnsAliased =
      "r.id, r.number, r.experiment, r.parent_id, r.kind, r.display_name, r.status, r.created, "
      "r.started, r.ended, r.compute_target, r.definition, r.snapshot_id, r.git, r.error, "
      "r.exit_code, r.agent_pid";
  static constexpr size_t kRunColumnCount = 17;

  std::optional<int64_t> FindRunKey(const std::string& id) {
    Stmt s(C(), "SELECT key FROM runs WHERE id=?");
    s.Bind(1, id);
    if (!s.Step()) return std::nullopt;
    return s.Int(0);
  }

  // Run numbers come from the experiment's counter (no scan of its runs).
  void CreateRunLocked(RunRecord& r) {
    EnsureExperimentLocked(r.experiment);
    {
      Stmt n(C(),
             "UPDATE experiments SET last_run_number = last_run_number + 1 WHERE name=? "
             "RETURNING last_run_number");
      n.Bind(1, r.experiment);
      if (!n.Step()) throw InternalError("experiment '" + r.experiment + "' vanished");
      r.number = n.Int(0);
      while (n.Step()) {
      }
    }
    {
      Stmt e(C(), "SELECT 1 FROM runs WHERE id=?");
      e.Bind(1, r.id);
      if (e.Step()) throw Conflict("a run with id '" + r.id + "' already exists");
    }
    Stmt s(C(),
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
      Stmt p(C(), "INSERT INTO run_properties (run_id, key, value) VALUES (?,?,?)");
      p.Bind(1, r.id).Bind(2, k).Bind(3, v.get<std::string>());
      p.Step();
    }
  }

  // Builds metrics_latest and metric_blocks from the points of a store written before
  // migration 4.
  void RebuildSeriesSummaries() {
    Exec("DELETE FROM metrics_latest");
    Exec("DELETE FROM metric_blocks");
    Stmt s(C(),
           "SELECT rowid, run_key, name, num, json, step, time FROM metrics WHERE "
           "kind='scalar' ORDER BY run_key, name, rowid");
    SeriesAccumulator acc;
    size_t n = 0;
    while (s.Step()) {
      SqlValue v = s.IsNull(3) ? (s.IsNull(4) ? SqlValue{} : SqlValue{s.Text(4)}) : s.Value(3);
      std::optional<int64_t> step;
      if (!s.IsNull(5)) step = s.Int(5);
      acc.Add(s.Int(1), s.Text(2), s.Int(0), std::move(v), step, s.Int(6));
      if (++n % 100000 == 0) acc.Flush();
    }
    acc.Flush();
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
    Stmt s(C(), sql.c_str());
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
      if (!done_) sqlite3_exec(C().db, "ROLLBACK", nullptr, nullptr, nullptr);
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
    if (int rc = sqlite3_exec(C().db, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
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
      Stmt s(C(), "SELECT COALESCE(MAX(version), 0) FROM schema_version");
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
      if (v + 1 == kSeriesSummaryMigration) RebuildSeriesSummaries();
      Stmt s(C(), "INSERT INTO schema_version (version) VALUES (?)");
      s.Bind(1, v + 1);
      s.Step();
      tx.Commit();
    }
  }

  Experiment EnsureExperimentLocked(const std::string& name) {
    Stmt g(C(), "SELECT id, name, created FROM experiments WHERE name=?");
    g.Bind(1, name);
    if (g.Step()) return {g.Int(0), g.Text(1), g.Int(2)};
    int64_t now = NowMillis();
    Stmt s(C(), "INSERT INTO experiments (name, created) VALUES (?, ?)");
    s.Bind(1, name).Bind(2, now);
    s.Step();
    return {sqlite3_last_insert_rowid(C().db), name, now};
  }

  // The integer key metrics rows use for a run (runs.key): small rows, cheap index compares.
  int64_t RunKey(const std::string& id) {
    Stmt s(C(), "SELECT key FROM runs WHERE id=?");
    s.Bind(1, id);
    if (!s.Step()) throw NotFound("run '" + id + "' not found");
    return s.Int(0);
  }

  void RequireRun(const std::string& id) {
    Stmt s(C(), "SELECT 1 FROM runs WHERE id=?");
    s.Bind(1, id);
    if (!s.Step()) throw NotFound("run '" + id + "' not found");
  }

  void AddHistory(const std::string& id, const std::string& status, int64_t t) {
    Stmt h(C(), "INSERT INTO run_status_history (run_id, status, time) VALUES (?,?,?)");
    h.Bind(1, id).Bind(2, status).Bind(3, t);
    h.Step();
  }

  void WriteKv(const char* table, const std::string& id, const Json& kv) {
    std::string sql =
        std::string("INSERT OR REPLACE INTO ") + table + " (run_id, key, value) VALUES (?,?,?)";
    for (auto& [k, v] : kv.items()) {
      Stmt s(C(), sql.c_str());
      s.Bind(1, id).Bind(2, k).Bind(3, v.get<std::string>());
      s.Step();
    }
  }

  void LoadKv(RunRecord& r) {
    for (auto [table, target] :
         {std::pair{"run_tags", &r.tags}, {"run_properties", &r.properties}}) {
      std::string sql = std::string("SELECT key, value FROM ") + table + " WHERE run_id=?";
      Stmt s(C(), sql.c_str());
      s.Bind(1, r.id);
      *target = Json::object();
      while (s.Step()) (*target)[s.Text(0)] = s.Text(1);
    }
  }

  // Tags and properties of many runs: two queries, not two per run.
  void LoadKvBatch(std::vector<RunRecord>& runs) {
    if (runs.empty()) return;
    std::unordered_map<std::string, RunRecord*> by_id;
    for (auto& r : runs) {
      r.tags = Json::object();
      r.properties = Json::object();
      by_id[r.id] = &r;
    }
    for (const char* table : {"run_tags", "run_properties"}) {
      bool tags = std::string_view(table) == "run_tags";
      for (size_t at = 0; at < runs.size(); at += 500) {
        size_t n = std::min<size_t>(500, runs.size() - at);
        std::string sql =
            std::string("SELECT run_id, key, value FROM ") + table + " WHERE run_id IN (";
        for (size_t i = 0; i < n; ++i) sql += i ? ",?" : "?";
        Stmt s(C(), sql + ")");
        for (size_t i = 0; i < n; ++i) s.BindStatic(static_cast<int>(i + 1), runs[at + i].id);
        while (s.Step()) {
          RunRecord* r = by_id[s.Text(0)];
          (tags ? r->tags : r->properties)[s.Text(1)] = s.Text(2);
        }
      }
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

  // One writer connection (writes are serialized by write_mu_, as SQLite serializes them
  // anyway) and a pool of reader connections: in WAL mode readers never wait for the writer.
  static constexpr size_t kMaxReaders = 8;

  class Lease {
   public:
    Lease(SqliteMetadataStore* st, Conn* c, bool writer) : st_(st), c_(c), writer_(writer) {
      prev_ = tl_conn;
      tl_conn = c;
    }
    ~Lease() {
      tl_conn = prev_;
      if (writer_) {
        st_->write_mu_.unlock();
      } else {
        std::lock_guard lk(st_->pool_mu_);
        st_->free_.push_back(c_);
        st_->pool_cv_.notify_one();
      }
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    SqliteMetadataStore* st_;
    Conn* c_;
    Conn* prev_;
    bool writer_;
  };

  Lease Write() {
    write_mu_.lock();
    return Lease(this, &writer_, true);
  }

  Lease Read() {
    std::unique_lock lk(pool_mu_);
    if (free_.empty() && readers_.size() < kMaxReaders) {
      readers_.push_back(std::make_unique<Conn>());
      Conn* c = readers_.back().get();
      lk.unlock();
      try {
        Open(*c, false);
      } catch (...) {
        std::lock_guard relock(pool_mu_);
        readers_.erase(std::find_if(readers_.begin(), readers_.end(),
                                    [c](const auto& p) { return p.get() == c; }));
        throw;
      }
      return Lease(this, c, false);
    }
    pool_cv_.wait(lk, [this] { return !free_.empty(); });
    Conn* c = free_.back();
    free_.pop_back();
    return Lease(this, c, false);
  }

  void Open(Conn& c, bool writer) {
    if (sqlite3_open_v2(path_.c_str(), &c.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = c.db ? sqlite3_errmsg(c.db) : "out of memory";
      sqlite3_close(c.db);
      c.db = nullptr;
      throw InternalError("cannot open metadata store " + path_ + ": " + msg);
    }
    sqlite3_busy_timeout(c.db, 10000);
    if (!writer) sqlite3_exec(c.db, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
  }

  std::string path_;
  std::mutex write_mu_;
  Conn writer_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Conn>> readers_;
  std::vector<Conn*> free_;
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
