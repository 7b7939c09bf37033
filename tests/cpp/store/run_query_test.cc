#include "store/run_query.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "store/metadata_store.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

std::string ErrorOf(const std::string& filter, bool order = false) {
  try {
    if (order) {
      ParseRunOrderBy(filter);
    } else {
      ParseRunFilter(filter);
    }
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(RunQueryGrammar, ParsesMlflowStyleTerms) {
  auto t = ParseRunFilter(
      "metrics.acc > 0.99 and params.lr = '0.1' AND tags.\"my tag\" != \"y\" and "
      "attributes.status IN ('Completed', 'Failed') and metric.`val/loss` <= -2 and "
      "start_time >= '2026-01-01T00:00:00Z' and run_type = 'script' and tags.x LIKE 'a%'");
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[0].field, RunField::kMetric);
  EXPECT_EQ(t[0].key, "acc");
  EXPECT_EQ(t[0].op, ">");
  EXPECT_EQ(std::get<double>(t[0].values[0]), 0.99);
  EXPECT_EQ(t[1].field, RunField::kParam);
  EXPECT_EQ(std::get<std::string>(t[1].values[0]), "0.1");
  EXPECT_EQ(t[2].field, RunField::kTag);
  EXPECT_EQ(t[2].key, "my tag");
  EXPECT_EQ(t[2].op, "!=");
  EXPECT_EQ(t[3].key, "status");
  EXPECT_EQ(t[3].op, "IN");
  EXPECT_EQ(t[3].values.size(), 2u);
  EXPECT_EQ(t[4].key, "val/loss");
  EXPECT_EQ(std::get<int64_t>(t[4].values[0]), -2);
  EXPECT_EQ(t[5].key, "start_time");
  EXPECT_EQ(std::get<int64_t>(t[5].values[0]), 1767225600000);  // ISO time -> millis
  EXPECT_EQ(t[6].key, "run_type");
  EXPECT_EQ(t[7].op, "LIKE");
  EXPECT_TRUE(ParseRunFilter("   ").empty());
  auto o = ParseRunOrderBy("metrics.acc DESC, attributes.created asc, params.lr");
  ASSERT_EQ(o.size(), 3u);
  EXPECT_TRUE(o[0].desc);
  EXPECT_FALSE(o[1].desc);
  EXPECT_EQ(o[1].key, "created");
  EXPECT_EQ(o[2].field, RunField::kParam);
}

TEST(RunQueryGrammar, ErrorsNameTheTokenAndPosition) {
  EXPECT_NE(ErrorOf("metrics.acc >> 0.9").find("position 13 ('>')"), std::string::npos)
      << ErrorOf("metrics.acc >> 0.9");
  EXPECT_NE(ErrorOf("metrics.acc > 0.9 or tags.x = 'y'").find("OR is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf("metrics.acc > 'high'").find("position 14"), std::string::npos);
  EXPECT_NE(ErrorOf("params.lr > '0.1'").find("text"), std::string::npos);
  EXPECT_NE(ErrorOf("colour = 'red'").find("unknown attribute 'colour'"), std::string::npos);
  EXPECT_NE(ErrorOf("tags.x = 'unterminated").find("unterminated"), std::string::npos);
  EXPECT_NE(ErrorOf("params.lr = 0.1").find("quotes"), std::string::npos);
  EXPECT_NE(ErrorOf("metrics.acc").find("operator"), std::string::npos);
  EXPECT_NE(ErrorOf("status IN ('a'").find("')'"), std::string::npos);
  EXPECT_NE(ErrorOf("start_time > 'yesterday'").find("ISO 8601"), std::string::npos);
  EXPECT_NE(ErrorOf("metrics.acc DESC DESC", true).find("position 17"), std::string::npos);
  EXPECT_NE(ErrorOf("metrics.", true).find("expected a name"), std::string::npos);
}

class RunQueryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("runquery-" + RandomHex(6));
    fs::create_directories(dir_);
    store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  // Runs r0..r(n-1) created 1 ms apart; acc = (i * 37 % n) / n, lr = i % 3, tag team by parity.
  void Seed(int n) {
    std::vector<RunRecord> runs;
    std::vector<MetricPoint> pts;
    for (int i = 0; i < n; ++i) {
      RunRecord r;
      r.id = "r" + std::to_string(i);
      r.experiment = "e";
      r.kind = i % 4 == 0 ? "script" : "interactive";
      r.status = i % 5 == 0 ? "Failed" : "Completed";
      r.created = 1000 + i;
      r.properties = {{"lr", std::to_string(i % 3)}};
      r.tags = {{"team", i % 2 ? "Blue" : "red"}};
      runs.push_back(r);
      if (i % 10 == 9) continue;  // some runs without acc
      MetricPoint m;
      m.run_id = r.id;
      m.name = "acc";
      m.kind = "scalar";
      m.value = 0.0;  // overwritten by the latest point below
      m.time = 1;
      pts.push_back(m);
      m.value = static_cast<double>(i * 37 % n) / n;
      pts.push_back(m);
    }
    store_->CreateRuns(runs);
    store_->InsertMetrics(pts);
  }
  std::vector<std::string> All(RunQuery q) {
    std::vector<std::string> ids;
    for (;;) {
      RunPage p = store_->QueryRuns(q);
      for (auto& r : p.runs) ids.push_back(r.id);
      if (p.next_cursor.empty()) return ids;
      q.cursor = p.next_cursor;
    }
  }
  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(RunQueryStoreTest, RunNumbersComeFromTheCounterAcrossBatches) {
  Seed(10);
  RunRecord r;
  r.id = "late";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = NowMillis();
  store_->CreateRun(r);
  EXPECT_EQ(r.number, 11);
  EXPECT_EQ(store_->GetRun("r0")->number, 1);
}

TEST_F(RunQueryStoreTest, PagesAreNewestFirstWithoutGapsOrRepeatsWhileRunsAreAdded) {
  Seed(250);
  RunQuery q;
  q.scope.experiment = "e";
  q.page_size = 7;
  q.count = true;
  std::vector<std::string> ids;
  int added = 0;
  for (;;) {
    RunPage p = store_->QueryRuns(q);
    if (q.cursor.empty()) {
      ASSERT_TRUE(p.total);
      EXPECT_EQ(*p.total, 250);
    }
    for (auto& r : p.runs) ids.push_back(r.id);
    // New runs arrive between pages: they sort before the cursor and must not show up.
    RunRecord n;
    n.id = "new" + std::to_string(added++);
    n.experiment = "e";
    n.kind = "interactive";
    n.status = "Running";
    n.created = 100000 + added;
    store_->CreateRun(n);
    if (p.next_cursor.empty()) break;
    q.cursor = p.next_cursor;
    q.count = false;
  }
  ASSERT_EQ(ids.size(), 250u);
  for (int i = 0; i < 250; ++i)
    EXPECT_EQ(ids[static_cast<size_t>(i)], "r" + std::to_string(249 - i));
}

TEST_F(RunQueryStoreTest, FilterSemantics) {
  Seed(100);
  RunQuery q;
  q.scope.experiment = "e";
  q.page_size = 1000;
  auto ids = [&](const std::string& f) {
    q.filter = f;
    return All(q);
  };
  // acc = i*37%100/100 > 0.9 -> i*37%100 in 91..99, minus runs with i%10==9 (no acc)
  std::set<std::string> want;
  for (int i = 0; i < 100; ++i) {
    if (i % 10 != 9 && i * 37 % 100 > 90) want.insert("r" + std::to_string(i));
  }
  auto got = ids("metrics.acc > 0.9");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
  EXPECT_EQ(ids("params.lr = '1' and tags.team = 'Blue'").size(), 17u);  // i%3==1, odd
  EXPECT_EQ(ids("tags.team LIKE 'b%'").size(), 0u);                      // case-sensitive
  EXPECT_EQ(ids("tags.team ILIKE 'b%'").size(), 50u);
  EXPECT_EQ(ids("attributes.status = 'Failed'").size(), 20u);
  EXPECT_EQ(ids("status != 'Failed' and run_type = 'script'").size(), 20u);  // i%4==0, i%5!=0
  EXPECT_EQ(ids("attributes.created >= 1090").size(), 10u);
  EXPECT_EQ(ids("params.lr IN ('0', '2')").size(), 67u);
  EXPECT_EQ(ids("params.lr NOT IN ('0', '2')").size(), 33u);
  EXPECT_EQ(ids("metrics.missing > 0").size(), 0u);
  q.filter = "metrics.acc >> 1";
  EXPECT_THROW(store_->QueryRuns(q), InvalidInput);
}

TEST_F(RunQueryStoreTest, OrderByMetricPagesAndPutsRunsWithoutItLast) {
  Seed(100);
  RunQuery q;
  q.scope.experiment = "e";
  q.order_by = "metrics.acc DESC";
  q.page_size = 9;
  auto ids = All(q);
  ASSERT_EQ(ids.size(), 100u);
  auto acc = [](const std::string& id) {
    int i = std::stoi(id.substr(1));
    return i % 10 == 9 ? -1.0 : static_cast<double>(i * 37 % 100) / 100;
  };
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GE(acc(ids[i - 1]), acc(ids[i])) << i;
  EXPECT_EQ(acc(ids.back()), -1.0);  // no acc: last
  // With a filter on the same metric (inner join), ascending.
  q.filter = "metrics.acc >= 0.5";
  q.order_by = "metrics.acc ASC";
  ids = All(q);
  ASSERT_FALSE(ids.empty());
  EXPECT_GE(acc(ids.front()), 0.5);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LE(acc(ids[i - 1]), acc(ids[i]));
  // A cursor of another query is refused.
  RunPage p = store_->QueryRuns(q);
  q.order_by = "metrics.acc DESC";
  q.cursor = p.next_cursor.empty() ? "x" : p.next_cursor;
  EXPECT_THROW(store_->QueryRuns(q), InvalidInput);
  q.cursor = "not-a-cursor!";
  EXPECT_THROW(store_->QueryRuns(q), InvalidInput);
}

TEST_F(RunQueryStoreTest, LatestMetricIsTheLastLoggedValue) {
  Seed(3);
  auto m = store_->LatestMetrics({"r0", "r1", "r2"});
  EXPECT_DOUBLE_EQ(m["r1"]["acc"].get<double>(), 1.0 / 3);  // 37 % 3 / 3
  EXPECT_EQ(store_->SeriesNames("r1").at(0).second, 2);
}

TEST_F(RunQueryStoreTest, SeriesRangedChunkedAndDownsampledKeepExtremes) {
  RunRecord r;
  r.id = "s";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = 1;
  store_->CreateRun(r);
  const int n = 20000;
  // Two batches, so the open block is continued across writes.
  for (int half = 0; half < 2; ++half) {
    std::vector<MetricPoint> pts;
    for (int i = half * n / 2; i < (half + 1) * n / 2; ++i) {
      MetricPoint p;
      p.run_id = "s";
      p.name = "loss";
      p.kind = "scalar";
      p.value = i == 12345 ? 99.5 : (i == 777 ? -42.0 : static_cast<double>(i % 10));
      p.step = i * 2;
      p.time = i;
      pts.push_back(p);
      p.name = "nostep";
      p.step.reset();
      p.value = i;
      pts.push_back(p);
    }
    store_->InsertMetrics(pts);
  }
  // Ranged: steps 100..120 inclusive.
  SeriesChunk c = store_->ReadSeries({"s", "loss", 100, 120, 0, "", 0});
  ASSERT_EQ(c.points.size(), 11u);
  EXPECT_EQ(c.points.front().step, 100);
  EXPECT_EQ(c.points.back().step, 120);
  EXPECT_EQ(c.count, n);
  // Chunked full read: every point once, in order.
  std::string after;
  int64_t seen = 0, last = -1;
  do {
    c = store_->ReadSeries({"s", "loss", std::nullopt, std::nullopt, 0, after, 3000});
    for (auto& p : c.points) {
      EXPECT_GT(p.step, last);
      last = p.step;
      ++seen;
    }
    after = c.next;
  } while (!after.empty());
  EXPECT_EQ(seen, n);
  // Downsampled: at most max_points, extremes kept, steps increasing.
  for (auto [lo, hi] : {std::pair<int64_t, int64_t>{INT64_MIN + 1, INT64_MAX - 1}, {1001, 30001}}) {
    c = store_->ReadSeries({"s", "loss", lo, hi, 100, "", 0});
    EXPECT_TRUE(c.downsampled);
    ASSERT_LE(c.points.size(), 100u);
    ASSERT_GE(c.points.size(), 50u);
    double mx = -1e9, mn = 1e9;
    for (size_t i = 0; i < c.points.size(); ++i) {
      double v = std::holds_alternative<double>(c.points[i].value)
                     ? std::get<double>(c.points[i].value)
                     : static_cast<double>(std::get<int64_t>(c.points[i].value));
      mx = std::max(mx, v);
      mn = std::min(mn, v);
      EXPECT_GE(c.points[i].step, lo);
      EXPECT_LE(c.points[i].step, hi);
      if (i) {
        EXPECT_GT(c.points[i].step, c.points[i - 1].step);
      }
    }
    EXPECT_EQ(mx, 99.5);   // step 24690 is inside both ranges
    EXPECT_EQ(mn, -42.0);  // step 1554 is inside both ranges
  }
  // Without steps, the position is the step.
  c = store_->ReadSeries({"s", "nostep", 5, 7, 0, "", 0});
  ASSERT_EQ(c.points.size(), 3u);
  EXPECT_EQ(c.points[0].step, 5);
  EXPECT_EQ(std::get<int64_t>(c.points[0].value), 5);
  // Unknown series: empty; unknown run: NotFound.
  EXPECT_EQ(store_->ReadSeries({"s", "nope", std::nullopt, std::nullopt, 0, "", 0}).count, 0);
  EXPECT_THROW(store_->ReadSeries({"nope", "loss", std::nullopt, std::nullopt, 0, "", 0}),
               NotFound);
}

TEST_F(RunQueryStoreTest, NonMonotonicStepsStillDownsampleCorrectly) {
  RunRecord r;
  r.id = "s";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = 1;
  store_->CreateRun(r);
  std::vector<MetricPoint> pts;
  for (int i = 0; i < 5000; ++i) {
    MetricPoint p;
    p.run_id = "s";
    p.name = "x";
    p.kind = "scalar";
    p.step = (i * 7919) % 5000;  // a permutation
    p.value = *p.step == 4000 ? 1e6 : 1.0;
    pts.push_back(p);
  }
  store_->InsertMetrics(pts);
  SeriesChunk c = store_->ReadSeries({"s", "x", 3000, 4500, 50, "", 0});
  ASSERT_LE(c.points.size(), 50u);
  bool found = false;
  for (auto& p : c.points) {
    EXPECT_GE(p.step, 3000);
    EXPECT_LE(p.step, 4500);
    found = found || p.step == 4000;
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(store_->ReadSeries({"s", "x", 3000, 3009, 0, "", 0}).points.size(), 10u);
}

double Num(const SqlValue& v) {
  return std::holds_alternative<double>(v) ? std::get<double>(v)
                                           : static_cast<double>(std::get<int64_t>(v));
}

// Every downsampled point is a logged point with its own step and time, in both modes, from
// the block summaries (long range) and from the points (short range); LTTB keeps the first,
// the last and the extremes.
TEST_F(RunQueryStoreTest, DownsampledPointsCarryTheirTimeInBothModes) {
  RunRecord r;
  r.id = "s";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = 1;
  store_->CreateRun(r);
  const int n = 100000;
  auto value = [](int i) { return i == 70001 ? 50.0 : i == 3333 ? -50.0 : std::sin(i / 100.0); };
  std::vector<MetricPoint> pts;
  for (int i = 0; i < n; ++i) {
    MetricPoint p;
    p.run_id = "s";
    p.name = "y";
    p.kind = "scalar";
    p.value = value(i);
    p.step = i;
    p.time = 1000000 + 3 * i;
    pts.push_back(p);
  }
  store_->InsertMetrics(pts);
  for (auto mode : {DownsampleMode::kMinMax, DownsampleMode::kLttb}) {
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, n - 1}, {2000, 9999}, {65000, 75000}}) {
      SeriesRead rd{"s", "y", lo, hi, 300, "", 0, mode};
      SeriesChunk c = store_->ReadSeries(rd);
      ASSERT_TRUE(c.downsampled);
      ASSERT_LE(c.points.size(), 300u);
      ASSERT_GE(c.points.size(), 100u);
      double mx = -1e9, mn = 1e9;
      for (size_t i = 0; i < c.points.size(); ++i) {
        const SeriesPoint& p = c.points[i];
        ASSERT_GE(p.step, lo);
        ASSERT_LE(p.step, hi);
        if (i) {
          ASSERT_GT(p.step, c.points[i - 1].step);
        }
        EXPECT_EQ(p.time, 1000000 + 3 * p.step) << p.step;
        EXPECT_EQ(Num(p.value), value(static_cast<int>(p.step))) << p.step;
        mx = std::max(mx, Num(p.value));
        mn = std::min(mn, Num(p.value));
      }
      double want_mx = -1e9, want_mn = 1e9;
      for (int64_t i = lo; i <= hi; ++i) {
        want_mx = std::max(want_mx, value(static_cast<int>(i)));
        want_mn = std::min(want_mn, value(static_cast<int>(i)));
      }
      EXPECT_EQ(mx, want_mx);
      EXPECT_EQ(mn, want_mn);
      if (mode == DownsampleMode::kLttb && hi - lo < 65536) {  // exact LTTB: the ends too
        EXPECT_EQ(c.points.front().step, lo);
        EXPECT_EQ(c.points.back().step, hi);
      }
    }
  }
}

TEST(Lttb, KeepsTheEndsTheExtremesAndTheShape) {
  std::vector<SeriesPoint> in;
  for (int i = 0; i < 10000; ++i) {
    double v = i == 5000 ? 10.0 : std::sin(i / 300.0);
    in.push_back({i, v, i});
  }
  SeriesPoint text;  // not a number: left out
  text.step = 10000;
  text.value = std::string("\"text\"");
  in.push_back(text);
  std::vector<SeriesPoint> out = LttbDownsample(in, 200);
  ASSERT_LE(out.size(), 200u);
  ASSERT_GE(out.size(), 190u);
  EXPECT_EQ(out.front().step, 0);
  EXPECT_EQ(out.back().step, 9999);
  bool spike = false;
  for (size_t i = 1; i < out.size(); ++i) {
    ASSERT_GT(out[i].step, out[i - 1].step);
    spike = spike || out[i].step == 5000;
  }
  EXPECT_TRUE(spike);
  // The points follow the curve: linear interpolation between them stays close to the sine
  // (away from the spike's two neighbouring segments).
  double worst = 0;
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i - 1].step <= 5000 && out[i].step >= 4950 && out[i - 1].step <= 5050) continue;
    for (int64_t x = out[i - 1].step; x <= out[i].step; ++x) {
      double t = static_cast<double>(x - out[i - 1].step) /
                 static_cast<double>(std::max<int64_t>(1, out[i].step - out[i - 1].step));
      double y = Num(out[i - 1].value) + t * (Num(out[i].value) - Num(out[i - 1].value));
      if (x != 5000)
        worst = std::max(worst, std::fabs(y - std::sin(static_cast<double>(x) / 300.0)));
    }
  }
  EXPECT_LT(worst, 0.05);
  // Fewer points than asked: all of them.
  EXPECT_EQ(LttbDownsample(std::vector<SeriesPoint>(in.begin(), in.begin() + 50), 100).size(), 50u);
}

}  // namespace
}  // namespace trainyard

namespace trainyard {
namespace {

// A store written before migration 4 gets its run counter and series summaries on open.
// A version-6 store (block summaries without times) gets them from its points on open.
TEST(RunHistoryMigration, Version6BlocksGetTheirTimes) {
  fs::path dir = fs::temp_directory_path() / ("runmig6-" + RandomHex(6));
  fs::create_directories(dir);
  std::string path = (dir / "meta.db").string();
  {
    auto store = OpenSqliteMetadataStore(path);
    RunRecord r;
    r.id = "m";
    r.experiment = "e";
    r.kind = "interactive";
    r.status = "Running";
    r.created = 1;
    store->CreateRun(r);
    std::vector<MetricPoint> pts;
    for (int i = 0; i < 5000; ++i) {
      MetricPoint p;
      p.run_id = "m";
      p.name = "loss";
      p.kind = "scalar";
      p.value = i == 2500 ? 9.0 : 1.0 / (1 + i);
      p.step = i;
      p.time = 500 + i;
      pts.push_back(p);
    }
    store->InsertMetrics(pts);
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* sql =
        "ALTER TABLE metric_blocks DROP COLUMN min_t; ALTER TABLE metric_blocks DROP COLUMN max_t;"
        "DELETE FROM schema_version WHERE version >= 7;";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  auto store = OpenSqliteMetadataStore(path);
  SeriesChunk c = store->ReadSeries({"m", "loss", std::nullopt, std::nullopt, 40, "", 0});
  ASSERT_TRUE(c.downsampled);
  bool spike = false;
  for (auto& p : c.points) {
    EXPECT_EQ(p.time, 500 + p.step);
    spike = spike || p.step == 2500;
  }
  EXPECT_TRUE(spike);
  store.reset();
  fs::remove_all(dir);
}

TEST(RunHistoryMigration, UpgradesAVersion3StoreWithItsMetrics) {
  fs::path dir = fs::temp_directory_path() / ("runmig-" + RandomHex(6));
  fs::create_directories(dir);
  std::string path = (dir / "meta.db").string();
  {
    auto store = OpenSqliteMetadataStore(path);
    for (int i = 0; i < 3; ++i) {
      RunRecord r;
      r.id = "m" + std::to_string(i);
      r.experiment = "e";
      r.kind = "interactive";
      r.status = "Running";
      r.created = 1 + i;
      store->CreateRun(r);
    }
    std::vector<MetricPoint> pts;
    for (int i = 0; i < 1000; ++i) {
      MetricPoint p;
      p.run_id = "m1";
      p.name = "loss";
      p.kind = "scalar";
      p.value = i == 500 ? 77.0 : 1.0;
      p.step = i;
      pts.push_back(p);
    }
    store->InsertMetrics(pts);
  }
  {  // Undo migrations 4-6 by hand: the schema of version 3.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* sql =
        "DROP TABLE metrics_latest; DROP TABLE metric_blocks; DROP INDEX runs_top;"
        "DROP INDEX run_tags_kv; DROP INDEX run_properties_kv; DROP INDEX runs_parent;"
        "CREATE INDEX runs_parent ON runs(parent_id);"
        "ALTER TABLE experiments DROP COLUMN last_run_number;"
        "DROP TABLE run_tokens; DROP TABLE compute_targets;"
        "DELETE FROM schema_version WHERE version >= 4;";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  auto store = OpenSqliteMetadataStore(path);
  RunRecord r;
  r.id = "m3";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = 9;
  store->CreateRun(r);
  EXPECT_EQ(r.number, 4);
  SeriesChunk c = store->ReadSeries({"m1", "loss", std::nullopt, std::nullopt, 10, "", 0});
  EXPECT_EQ(c.count, 1000);
  bool spike = false;
  for (auto& p : c.points) spike = spike || (p.step == 500 && std::get<double>(p.value) == 77.0);
  EXPECT_TRUE(spike);
  RunQuery q;
  q.scope.experiment = "e";
  q.filter = "metrics.loss = 1";
  EXPECT_EQ(store->QueryRuns(q).runs.size(), 1u);
  store.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trainyard

namespace trainyard {
namespace {

// WAL + a reader pool: reads complete while a long write transaction (a 300,000-point batch)
// is in progress, instead of queueing behind it.
TEST(RunHistoryConcurrency, ReadsDoNotWaitBehindALongWrite) {
  fs::path dir = fs::temp_directory_path() / ("runconc-" + RandomHex(6));
  fs::create_directories(dir);
  auto store = OpenSqliteMetadataStore((dir / "meta.db").string());
  RunRecord r;
  r.id = "w";
  r.experiment = "e";
  r.kind = "interactive";
  r.status = "Running";
  r.created = 1;
  store->CreateRun(r);
  std::vector<MetricPoint> pts(300000);
  for (size_t i = 0; i < pts.size(); ++i) {
    pts[i].run_id = "w";
    pts[i].name = "x";
    pts[i].kind = "scalar";
    pts[i].value = static_cast<double>(i);
    pts[i].step = static_cast<int64_t>(i);
  }
  std::atomic<bool> done{false};
  auto t0 = std::chrono::steady_clock::now();
  std::thread writer([&] {
    store->InsertMetrics(pts);
    done = true;
  });
  int reads_during_write = 0;
  double slowest_read_ms = 0;
  while (!done) {
    auto r0 = std::chrono::steady_clock::now();
    RunQuery q;
    q.scope.experiment = "e";
    ASSERT_EQ(store->QueryRuns(q).runs.size(), 1u);
    ASSERT_TRUE(store->GetRun("w"));
    slowest_read_ms = std::max(
        slowest_read_ms,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r0).count());
    if (!done) ++reads_during_write;
  }
  writer.join();
  double write_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // The write takes hundreds of milliseconds; a store with one lock would have answered at
  // most one read during it.
  EXPECT_GT(reads_during_write, 3) << "write took " << write_ms << " ms";
  EXPECT_LT(slowest_read_ms, write_ms / 3) << "write took " << write_ms << " ms";
  EXPECT_EQ(store->ReadSeries({"w", "x", std::nullopt, std::nullopt, 0, "", 1}).count, 300000);
  store.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trainyard
