#include "server/run_query_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>

#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "server/run_json.h"

namespace trainyard {

using Json = nlohmann::json;

namespace {

constexpr size_t kStreamPage = 500;     // runs per piece of a streamed listing
constexpr size_t kSeriesChunk = 65536;  // points per piece of a streamed series

bool ParseBool(const std::string& s) { return s == "1" || s == "true" || s == "True"; }

std::optional<int64_t> IntParam(const HttpRequest& req, const std::string& key, int64_t lo,
                                int64_t hi) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  int64_t v = 0;
  const std::string& s = it->second;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi) {
    throw InvalidInput(key + " must be an integer from " + std::to_string(lo) + " to " +
                       std::to_string(hi) + ", got '" + s + "'");
  }
  return v;
}

void AppendNumber(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
  // Keep floats floats ("1.0", not "1"), as nlohmann writes them.
  bool has_mark = false;
  for (char* p = buf; p < r.ptr; ++p) has_mark = has_mark || *p == '.' || *p == 'e' || *p == 'n';
  if (!has_mark) out += ".0";
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A stored scalar value as JSON text (non-numbers are stored as JSON text already).
void AppendValue(std::string& out, const SqlValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) {
    AppendInt(out, *i);
  } else if (auto* d = std::get_if<double>(&v)) {
    AppendNumber(out, *d);
  } else if (auto* s = std::get_if<std::string>(&v)) {
    out += *s;
  } else {
    out += "null";
  }
}

void AppendJsonValue(std::string& out, const Json& v) {
  if (v.is_number_integer()) {
    AppendInt(out, v.get<int64_t>());
  } else if (v.is_number_float()) {
    AppendNumber(out, v.get<double>());
  } else {
    out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

void AppendQuoted(std::string& out, std::string_view s) { AppendJsonString(out, s); }

std::string Quote(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendQuoted(out, s);
  return out;
}

// Azure's metric shapes per name, built while the points stream by (no point objects kept for
// number series): scalar -> value or list of values; row -> {column: [values]}; list, table ->
// the last value; image -> the aml:// artifact URL of the last one.
class MetricShaper {
 public:
  explicit MetricShaper(std::string run_id) : run_id_(std::move(run_id)) {}

  void Add(MetricPoint& p) {
    auto [it, fresh] = by_.try_emplace(p.name);
    Acc& a = it->second;
    if (fresh) {
      order_.push_back(p.name);
      a.kind = p.kind;
    }
    ++a.n;
    if (a.kind == "scalar") {
      if (a.numbers && p.value.is_number()) {
        if (a.n > 1) a.text += ',';
        AppendJsonValue(a.text, p.value);
        if (a.n == 1) a.first = p.value;
        return;
      }
      if (a.numbers) {  // a non-number: keep values as JSON from here on
        a.numbers = false;
        a.values = a.n > 1 ? Json::parse("[" + a.text + "]") : Json::array();
        a.text.clear();
      }
      a.values.push_back(std::move(p.value));
    } else if (a.kind == "row") {
      if (!a.values.is_object()) a.values = Json::object();
      if (!p.value.is_object()) return;
      for (auto& [k, val] : p.value.items()) {
        if (!a.values.contains(k)) a.values[k] = Json::array();
        a.values[k].push_back(val);
      }
    } else {
      a.values = std::move(p.value);  // the last one
    }
  }

  std::string Text() {
    std::string out = "{";
    for (auto& name : order_) {
      Acc& a = by_[name];
      if (out.size() > 1) out += ',';
      out += Quote(name) + ':';
      if (a.kind == "scalar") {
        if (a.numbers) {
          if (a.n == 1) {
            AppendJsonValue(out, a.first);
          } else {
            out += '[' + a.text + ']';
          }
        } else {
          const Json& v = a.n == 1 && a.values.size() == 1 ? a.values[0] : a.values;
          out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
        }
      } else if (a.kind == "image") {
        std::string path = a.values.is_object() ? a.values.value("artifact", "") : a.values.dump();
        out += Quote("aml://artifactId/ExperimentRun/dcid." + run_id_ + "/" + path);
      } else {
        out += a.values.dump(-1, ' ', false, Json::error_handler_t::replace);
      }
    }
    return out + "}";
  }

 private:
  struct Acc {
    std::string kind;
    size_t n = 0;
    bool numbers = true;
    std::string text;  // numbers, comma-separated
    Json first;
    Json values;
  };
  std::string run_id_;
  std::vector<std::string> order_;
  std::map<std::string, Acc> by_;
};

void AppendTime(std::string& out, int64_t ms) { AppendJsonTime(out, ms); }

void AppendStringMap(std::string& out, const Json& obj) { AppendJsonStringMap(out, obj); }

// The run table row (view=summary): the columns a listing shows, written as text directly
// (no log file stat, no lineage lookup, no JSON tree): several times cheaper per run than the
// full run object.
void AppendSummary(std::string& out, const RunRecord& r, const Json* metrics) {
  out += "{\"id\":";
  AppendQuoted(out, r.id);
  out += ",\"number\":";
  AppendInt(out, r.number);
  out += ",\"experiment\":";
  AppendQuoted(out, r.experiment);
  out += ",\"parent_id\":";
  if (r.parent_id.empty()) {
    out += "null";
  } else {
    AppendQuoted(out, r.parent_id);
  }
  out += ",\"kind\":";
  AppendQuoted(out, r.kind);
  out += ",\"display_name\":";
  AppendQuoted(out, r.display_name);
  out += ",\"status\":";
  AppendQuoted(out, r.status);
  out += ",\"compute_target\":";
  AppendQuoted(out, r.compute_target);
  out += ",\"created_utc\":";
  AppendTime(out, r.created);
  out += ",\"start_time_utc\":";
  AppendTime(out, r.started);
  out += ",\"end_time_utc\":";
  AppendTime(out, r.ended);
  out += ",\"tags\":";
  AppendStringMap(out, r.tags);
  out += ",\"properties\":";
  AppendStringMap(out, r.properties);
  if (metrics) {
    out += ",\"metrics\":";
    out += metrics->dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  out += '}';
}

// Room for `extra` more bytes, growing geometrically: a streamed answer collected into one
// body (a server without chunked sending) must not be copied once per chunk.
void Grow(std::string& out, size_t extra) {
  if (out.capacity() - out.size() >= extra) return;
  out.reserve(std::max(out.size() + extra, out.capacity() * 2));
}

struct SeriesOptions {
  std::optional<int64_t> start, end;
  int max_points = 0;
  DownsampleMode mode = DownsampleMode::kMinMax;
  bool Any() const { return start || end || max_points > 0; }
};

SeriesOptions SeriesFromQuery(const HttpRequest& req) {
  SeriesOptions o;
  o.start = IntParam(req, "start_step", INT64_MIN + 1, INT64_MAX - 1);
  o.end = IntParam(req, "end_step", INT64_MIN + 1, INT64_MAX - 1);
  if (auto m = IntParam(req, "max_points", 2, 1000000)) o.max_points = static_cast<int>(*m);
  std::string mode = req.Query("mode", "minmax");
  if (mode == "lttb") {
    o.mode = DownsampleMode::kLttb;
  } else if (mode != "minmax") {
    throw InvalidInput(
        "mode must be 'minmax' (the minimum and maximum of each bucket) or 'lttb' "
        "(Largest-Triangle-Three-Buckets), got '" +
        mode + "'");
  }
  if (o.start && o.end && *o.start > *o.end) {
    throw InvalidInput("start_step (" + std::to_string(*o.start) + ") is after end_step (" +
                       std::to_string(*o.end) + ")");
  }
  return o;
}

}  // namespace

struct RunQueryApi::Impl {
  MetadataStore& store;
  std::function<Json(const RunRecord&)> run_json;
  RunsText runs_text;

  RunRecord RequireRun(const std::string& id) {
    ValidateRunId("run id", id);
    auto r = store.GetRun(id);
    if (!r) throw NotFound("run '" + id + "' not found");
    return *r;
  }

  static RunFilter ScopeFromQuery(const HttpRequest& req) {
    RunFilter f;
    auto kv = [](const std::vector<std::string>& raw) {
      std::vector<std::pair<std::string, std::optional<std::string>>> out;
      for (const auto& s : raw) {
        auto eq = s.find('=');
        if (eq == std::string::npos) {
          out.emplace_back(s, std::nullopt);
        } else {
          out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
        }
      }
      return out;
    };
    f.tags = kv(req.QueryAll("tag"));
    f.properties = kv(req.QueryAll("property"));
    f.include_children = ParseBool(req.Query("include_children"));
    f.recursive = ParseBool(req.Query("recursive"));
    f.kind = req.Query("type");
    for (auto& s : req.QueryAll("status")) {
      if (!IsKnownStatus(s)) throw InvalidInput("unknown run status '" + s + "'");
      f.statuses.push_back(s);
    }
    return f;
  }

  void AppendRuns(std::string& out, const std::vector<RunRecord>& runs, bool latest, bool summary,
                  size_t& emitted, size_t limit) {
    std::map<std::string, Json> metrics;
    if (latest) {
      std::vector<std::string> ids;
      for (auto& r : runs) ids.push_back(r.id);
      metrics = store.LatestMetrics(ids);
    }
    static const Json kNoMetrics = Json::object();
    Grow(out, runs.size() * (summary ? 512 : 768));
    std::vector<std::string> texts;
    if (!summary && runs_text) {
      size_t n = limit > 0 ? std::min(runs.size(), limit - std::min(limit, emitted)) : runs.size();
      texts = runs_text(
          n == runs.size() ? runs : std::vector<RunRecord>(runs.begin(), runs.begin() + n),
          latest ? &metrics : nullptr);
    }
    for (size_t k = 0; k < runs.size(); ++k) {
      const RunRecord& r = runs[k];
      if (limit > 0 && emitted >= limit) return;
      if (summary) {
        if (emitted++) out += ',';
        auto it = metrics.find(r.id);
        AppendSummary(out, r, !latest ? nullptr : it == metrics.end() ? &kNoMetrics : &it->second);
        continue;
      }
      if (k < texts.size()) {
        if (emitted++) out += ',';
        out += texts[k];
        continue;
      }
      Json j = run_json(r);
      if (latest) {
        auto it = metrics.find(r.id);
        j["metrics"] = it == metrics.end() ? Json::object() : it->second;
      }
      if (emitted++) out += ',';
      out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
  }

  // GET .../runs and .../children: one page (page_size or cursor given), else every match
  // (up to limit) streamed page by page.
  void ListRuns(HttpRequest& req, HttpResponse& res, RunFilter scope) {
    RunQuery q;
    q.scope = std::move(scope);
    q.filter = req.Query("filter");
    q.order_by = req.Query("order_by");
    q.cursor = req.Query("cursor");
    q.count = ParseBool(req.Query("count"));
    bool latest = ParseBool(req.Query("latest_metrics"));
    std::string view = req.Query("view", "full");
    if (view != "full" && view != "summary") {
      throw InvalidInput("view must be 'full' (run objects) or 'summary' (table rows), got '" +
                         view + "'");
    }
    bool summary = view == "summary";
    bool paged = req.query.count("page_size") || req.query.count("cursor");
    q.page_size = static_cast<int>(IntParam(req, "page_size", 1, 10000).value_or(100));
    size_t limit = static_cast<size_t>(IntParam(req, "limit", 0, INT64_MAX).value_or(0));
    res.status = 200;
    res.content_type = "application/json";
    if (paged) {
      RunPage page = store.QueryRuns(q);
      std::string out = "{\"runs\":[";
      size_t emitted = 0;
      AppendRuns(out, page.runs, latest, summary, emitted, 0);
      out += "],\"next_cursor\":";
      out += page.next_cursor.empty() ? "null" : Quote(page.next_cursor);
      if (page.total) out += ",\"total\":" + std::to_string(*page.total);
      res.body = out + "}";
      return;
    }
    q.page_size = static_cast<int>(limit > 0 ? std::min(limit, kStreamPage) : kStreamPage);
    struct State {
      RunQuery q;
      RunPage page;
      size_t emitted = 0;
      bool started = false;
    };
    auto st = std::make_shared<State>();
    st->q = std::move(q);
    st->page = store.QueryRuns(st->q);  // a bad filter is a 400 before any byte is sent
    st->q.count = false;
    res.stream = [this, st, latest, summary, limit](std::string& out) {
      if (!st->started) {
        out += "{\"runs\":[";
        st->started = true;
      }
      AppendRuns(out, st->page.runs, latest, summary, st->emitted, limit);
      if ((limit > 0 && st->emitted >= limit) || st->page.next_cursor.empty()) {
        out += "],\"next_cursor\":null";
        if (st->page.total) out += ",\"total\":" + std::to_string(*st->page.total);
        out += "}";
        return false;
      }
      std::optional<int64_t> total = st->page.total;
      st->q.cursor = st->page.next_cursor;
      st->page = store.QueryRuns(st->q);
      st->page.total = total;
      return true;
    };
  }

  // One run's metrics in Azure's shape. A named series of 2+ scalar points is written from
  // the series reader in chunks; with start_step/end_step/max_points the named (or every)
  // scalar series is read ranged / downsampled.
  std::string ShapeRun(const std::string& run_id, const std::string& name, const SeriesOptions& o) {
    if (o.Any()) {
      std::vector<std::string> names;
      if (!name.empty()) {
        names.push_back(name);
      } else {
        for (auto& [n, c] : store.SeriesNames(run_id)) names.push_back(n);
      }
      std::string out = "{";
      for (auto& n : names) {
        SeriesRead r{run_id, n, o.start, o.end, o.max_points, "", 0, o.mode};
        SeriesChunk c = store.ReadSeries(r);
        if (c.count == 0) continue;
        if (out.size() > 1) out += ',';
        out += Quote(n) + ":";
        if (c.points.size() == 1) {
          AppendValue(out, c.points[0].value);
          continue;
        }
        out += '[';
        for (size_t i = 0; i < c.points.size(); ++i) {
          if (i) out += ',';
          AppendValue(out, c.points[i].value);
        }
        out += ']';
      }
      return out + "}";
    }
    MetricShaper shaper(run_id);
    store.ForEachMetric(run_id, name, [&](MetricPoint& p) { shaper.Add(p); });
    return shaper.Text();
  }

  void GetMetrics(HttpRequest& req, HttpResponse& res, const std::string& id) {
    RunRecord r = RequireRun(id);
    std::string name = req.Query("name");
    SeriesOptions o = SeriesFromQuery(req);
    res.status = 200;
    res.content_type = "application/json";
    if (ParseBool(req.Query("recursive"))) {
      std::string out = "{\"metrics\":{" + Quote(r.id) + ":" + ShapeRun(r.id, name, o);
      RunQuery q;
      q.scope.parent_id = r.id;
      q.scope.recursive = true;
      q.page_size = static_cast<int>(kStreamPage);
      for (;;) {
        RunPage page = store.QueryRuns(q);
        for (auto& c : page.runs) out += "," + Quote(c.id) + ":" + ShapeRun(c.id, name, o);
        if (page.next_cursor.empty()) break;
        q.cursor = page.next_cursor;
      }
      res.body = out + "}}";
      return;
    }
    if (!name.empty() && !o.Any()) {
      SeriesChunk head = store.ReadSeries({r.id, name, std::nullopt, std::nullopt, 0, "", 1});
      if (head.count >= 2) {
        StreamValues(res, r.id, name, Quote(name));
        return;
      }
    }
    res.body = "{\"metrics\":" + ShapeRun(r.id, name, o) + "}";
  }

  // {"metrics":{"<name>":[v, v, ...]}} written kSeriesChunk points at a time.
  void StreamValues(HttpResponse& res, const std::string& run_id, const std::string& name,
                    const std::string& quoted) {
    struct State {
      std::string after;
      bool started = false;
      size_t n = 0;
    };
    auto st = std::make_shared<State>();
    res.stream = [this, st, run_id, name, quoted](std::string& out) {
      if (!st->started) {
        out += "{\"metrics\":{" + quoted + ":[";
        st->started = true;
      }
      SeriesChunk c =
          store.ReadSeries({run_id, name, std::nullopt, std::nullopt, 0, st->after, kSeriesChunk});
      Grow(out, c.points.size() * 20);
      for (auto& p : c.points) {
        if (st->n++) out += ',';
        AppendValue(out, p.value);
      }
      if (c.next.empty()) {
        out += "]}}";
        return false;
      }
      st->after = c.next;
      return true;
    };
  }

  void GetRawMetrics(HttpRequest& req, HttpResponse& res, const std::string& id) {
    RunRecord r = RequireRun(id);
    std::string out = "{\"points\":[";
    size_t n = 0;
    store.ForEachMetric(r.id, req.Query("name"), [&](MetricPoint& m) {
      if (n++) out += ',';
      out += "{\"name\":" + Quote(m.name) + ",\"kind\":" + Quote(m.kind) + ",\"value\":";
      AppendJsonValue(out, m.value);
      out += ",\"step\":";
      if (m.step) {
        AppendInt(out, *m.step);
      } else {
        out += "null";
      }
      out += ",\"time\":";
      AppendInt(out, m.time);
      out += '}';
    });
    res.status = 200;
    res.content_type = "application/json";
    res.body = out + "]}";
  }

  // GET /runs/{id}/series: {"run_id", "series": [{"name", "count", "downsampled"[, "mode"],
  // "points": [[step, value, time], ...]}]}; full reads are streamed in chunks.
  void GetSeries(HttpRequest& req, HttpResponse& res, const std::string& id) {
    RunRecord r = RequireRun(id);
    SeriesOptions o = SeriesFromQuery(req);
    std::vector<std::string> names = req.QueryAll("name");
    for (auto& n : names) ValidateKey("metric name", n);
    res.status = 200;
    res.content_type = "application/json";
    auto st = std::make_shared<SeriesStream>();
    st->runs.push_back({r.id, names.empty() ? AllNames(r.id) : names});
    st->single = true;
    st->o = o;
    res.stream = [this, st](std::string& out) { return NextSeriesPiece(*st, out); };
  }

  // GET /series?run=A&run=B&name=acc...: the same reads for several runs (a comparison chart)
  // in one answer: {"runs": [{"run_id", "series": [...]}, ...]} in the order asked. Every run
  // is checked before the first byte (404 for an unknown one).
  void GetMultiSeries(HttpRequest& req, HttpResponse& res) {
    std::vector<std::string> ids = req.QueryAll("run");
    if (ids.empty()) {
      throw InvalidInput("name the runs to read with run=<id> (repeat it for each run)");
    }
    if (ids.size() > kMaxSeriesRuns) {
      throw InvalidInput("at most " + std::to_string(kMaxSeriesRuns) + " runs per request, got " +
                         std::to_string(ids.size()) + "; split the request");
    }
    SeriesOptions o = SeriesFromQuery(req);
    std::vector<std::string> names = req.QueryAll("name");
    for (auto& n : names) ValidateKey("metric name", n);
    auto st = std::make_shared<SeriesStream>();
    for (auto& id : ids) {
      RunRecord r = RequireRun(id);
      st->runs.push_back({r.id, names.empty() ? AllNames(r.id) : names});
    }
    st->o = o;
    res.status = 200;
    res.content_type = "application/json";
    res.stream = [this, st](std::string& out) { return NextSeriesPiece(*st, out); };
  }

  static constexpr size_t kMaxSeriesRuns = 100;

  struct SeriesStream {
    std::vector<std::pair<std::string, std::vector<std::string>>> runs;  // run id, names
    bool single = false;  // one run: {"run_id", "series"} instead of {"runs": [...]}
    SeriesOptions o;
    size_t r = 0, i = 0;  // the run, the series
    std::string after;
    bool begun = false;
    bool open = false;  // inside a series' points
    size_t n = 0;
  };

  std::vector<std::string> AllNames(const std::string& run_id) {
    std::vector<std::string> names;
    for (auto& [n, c] : store.SeriesNames(run_id)) names.push_back(n);
    return names;
  }

  // The next piece of a series answer: the head of a run, one chunk of a series, or the end.
  bool NextSeriesPiece(SeriesStream& st, std::string& out) {
    if (!st.begun) {
      out += st.single ? "{\"run_id\":" + Quote(st.runs[0].first) + ",\"series\":["
                       : std::string("{\"runs\":[");
      st.begun = true;
      if (!st.single && !st.runs.empty())
        out += "{\"run_id\":" + Quote(st.runs[0].first) + ",\"series\":[";
    }
    if (st.r >= st.runs.size()) {
      out += "]}";
      return false;
    }
    const auto& [run_id, names] = st.runs[st.r];
    if (st.i >= names.size()) {  // this run is done
      ++st.r;
      st.i = 0;
      if (st.single || st.r >= st.runs.size()) {
        out += st.single ? "]}" : "]}]}";
        return false;
      }
      out += "]},{\"run_id\":" + Quote(st.runs[st.r].first) + ",\"series\":[";
      return true;
    }
    const SeriesOptions& o = st.o;
    const std::string& name = names[st.i];
    SeriesRead rd{
        run_id, name, o.start, o.end, o.max_points, st.after, o.max_points > 0 ? 0 : kSeriesChunk,
        o.mode};
    SeriesChunk c = store.ReadSeries(rd);
    if (!st.open) {
      if (st.i) out += ',';
      out += "{\"name\":" + Quote(name) + ",\"count\":" + std::to_string(c.count) +
             ",\"downsampled\":" + (c.downsampled ? "true" : "false");
      if (o.max_points > 0) {
        out += o.mode == DownsampleMode::kLttb ? ",\"mode\":\"lttb\"" : ",\"mode\":\"minmax\"";
      }
      out += ",\"points\":[";
      st.open = true;
      st.n = 0;
    }
    Grow(out, c.points.size() * 32);
    for (auto& p : c.points) {
      if (st.n++) out += ',';
      out += '[';
      AppendInt(out, p.step);
      out += ',';
      AppendValue(out, p.value);
      out += ',';
      if (p.time) {
        AppendInt(out, p.time);
      } else {
        out += "null";
      }
      out += ']';
    }
    if (c.next.empty()) {
      out += "]}";
      st.open = false;
      st.after.clear();
      ++st.i;
    } else {
      st.after = c.next;
    }
    return true;
  }
};

RunQueryApi::RunQueryApi(MetadataStore& store, std::function<Json(const RunRecord&)> run_json,
                         RunsText runs_text)
    : impl_(std::make_unique<Impl>(Impl{store, std::move(run_json), std::move(runs_text)})) {}
RunQueryApi::~RunQueryApi() = default;

bool RunQueryApi::Handle(HttpRequest& req, HttpResponse& res,
                         const std::vector<std::string>& segs) {
  if (req.method != "GET" || segs.size() < 3 || segs[0] != "api" || segs[1] != "v1") return false;
  Impl& m = *impl_;
  if (segs.size() == 3 && segs[2] == "series") {
    m.GetMultiSeries(req, res);
  } else if (segs.size() < 5) {
    return false;
  } else if (segs.size() == 5 && segs[2] == "experiments" && segs[4] == "runs") {
    ValidateName("experiment name", segs[3]);
    RunFilter scope = Impl::ScopeFromQuery(req);
    scope.experiment = segs[3];
    scope.recursive = false;
    if (!m.store.GetExperiment(segs[3])) throw NotFound("experiment '" + segs[3] + "' not found");
    m.ListRuns(req, res, std::move(scope));
  } else if (segs[2] != "runs") {
    return false;
  } else if (segs.size() == 5 && segs[4] == "children") {
    m.RequireRun(segs[3]);
    RunFilter scope = Impl::ScopeFromQuery(req);
    scope.parent_id = segs[3];
    m.ListRuns(req, res, std::move(scope));
  } else if (segs.size() == 5 && segs[4] == "metrics") {
    m.GetMetrics(req, res, segs[3]);
  } else if (segs.size() == 6 && segs[4] == "metrics" && segs[5] == "raw") {
    m.GetRawMetrics(req, res, segs[3]);
  } else if (segs.size() == 5 && segs[4] == "series") {
    m.GetSeries(req, res, segs[3]);
  } else {
    return false;
  }
  if (res.stream && !req.can_stream) {
    while (res.stream(res.body)) {
    }
    res.stream = nullptr;
  }
  return true;
}

}  // namespace trainyard
