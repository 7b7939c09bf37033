#include "store/metadata_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class MetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("metatest-" + RandomHex(6));
    fs::create_directories(dir_);
    store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  RunRecord NewRun(const std::string& id, const std::string& exp = "exp",
                   const std::string& parent = "") {
    RunRecord r;
    r.id = id;
    r.experiment = exp;
    r.parent_id = parent;
    r.kind = parent.empty() ? "script" : "child";
    r.status = "Queued";
    r.created = NowMillis();
    store_->CreateRun(r);
    return r;
  }
  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(MetadataStoreTest, RunNumbersIncrementPerExperiment) {
  EXPECT_EQ(NewRun("a1", "a").number, 1);
  EXPECT_EQ(NewRun("a2", "a").number, 2);
  EXPECT_EQ(NewRun("b1", "b").number, 1);
  EXPECT_THROW(NewRun("a1", "a"), Conflict);
  ASSERT_TRUE(store_->GetExperiment("a"));
  EXPECT_EQ(store_->ListExperiments().size(), 2u);
}

TEST_F(MetadataStoreTest, StatusLifecycleSetsTimesAndTerminalIsFinal) {
  NewRun("r");
  EXPECT_TRUE(store_->UpdateRunStatus("r", "Running", nullptr, std::nullopt));
  auto r = store_->GetRun("r");
  EXPECT_GT(r->started, 0);
  EXPECT_EQ(r->ended, 0);
  EXPECT_TRUE(store_->UpdateRunStatus("r", "Failed", {{"message", "boom"}}, 3));
  r = store_->GetRun("r");
  EXPECT_EQ(r->status, "Failed");
  EXPECT_GT(r->ended, 0);
  EXPECT_EQ(r->error["message"], "boom");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(store_->UpdateRunStatus("r", "Completed", nullptr, std::nullopt));
  EXPECT_EQ(store_->GetRun("r")->status, "Failed");
  EXPECT_THROW(store_->UpdateRunStatus("nope", "Running", nullptr, std::nullopt), NotFound);
}

TEST_F(MetadataStoreTest, PropertiesAreImmutableTagsAreNot) {
  NewRun("r");
  store_->SetTags("r", {{"stage", "a"}});
  store_->SetTags("r", {{"stage", "b"}});
  store_->AddProperties("r", {{"algo", "svm"}});
  store_->AddProperties("r", {{"algo", "svm"}});  // same value: fine
  EXPECT_THROW(store_->AddProperties("r", {{"algo", "tree"}, {"new", "x"}}), Conflict);
  auto r = store_->GetRun("r");
  EXPECT_EQ(r->tags["stage"], "b");
  EXPECT_EQ(r->properties["algo"], "svm");
  EXPECT_FALSE(r->properties.contains("new"));  // nothing half-written
}

TEST_F(MetadataStoreTest, ChildrenAndFilters) {
  NewRun("p");
  NewRun("c1", "exp", "p");
  NewRun("c2", "exp", "p");
  NewRun("g1", "exp", "c1");
  store_->SetTags("c2", {{"color", "red"}});
  RunFilter top;
  top.experiment = "exp";
  EXPECT_EQ(store_->ListRuns(top).size(), 1u);
  top.include_children = true;
  EXPECT_EQ(store_->ListRuns(top).size(), 4u);
  RunFilter kids;
  kids.parent_id = "p";
  EXPECT_EQ(store_->ListRuns(kids).size(), 2u);
  kids.recursive = true;
  EXPECT_EQ(store_->ListRuns(kids).size(), 3u);
  kids.tags = {{"color", std::string("red")}};
  auto red = store_->ListRuns(kids);
  ASSERT_EQ(red.size(), 1u);
  EXPECT_EQ(red[0].id, "c2");
}

TEST_F(MetadataStoreTest, MetricsKeepTypesOrderAndAreIdempotentBySeq) {
  NewRun("r");
  std::vector<MetricPoint> pts;
  for (int i = 0; i < 5; ++i) {
    pts.push_back({"r", "acc", "scalar", Json(0.1 * i), std::nullopt, NowMillis(), i, ""});
  }
  pts.push_back({"r", "epochs", "scalar", Json(7), std::nullopt, NowMillis(), 5, ""});
  pts.push_back({"r", "kernel", "scalar", Json("linear"), std::nullopt, NowMillis(), 6, ""});
  pts.push_back({"r", "bad", "scalar", Json("NaN"), std::nullopt, NowMillis(), 7, ""});
  EXPECT_EQ(store_->InsertMetrics(pts), 8u);
  EXPECT_EQ(store_->InsertMetrics(pts), 0u);  // resent after a retry: nothing duplicated
  auto acc = store_->GetMetrics("r", "acc");
  ASSERT_EQ(acc.size(), 5u);
  EXPECT_DOUBLE_EQ(acc[3].value.get<double>(), 0.3);
  auto ep = store_->GetMetrics("r", "epochs");
  ASSERT_EQ(ep.size(), 1u);
  EXPECT_TRUE(ep[0].value.is_number_integer());
  EXPECT_EQ(store_->GetMetrics("r", "kernel")[0].value, "linear");
  EXPECT_EQ(store_->GetMetrics("r", "bad")[0].value, "NaN");
  EXPECT_EQ(store_->GetMetrics("r", "").size(), 8u);
}

// A metric value stored before the limits existed (the review stored one ~60k levels deep):
// reading it must not crash; new ones over the limits are refused before anything is stored.
TEST_F(MetadataStoreTest, DeepStoredMetricValuesReadBackAndNewOnesAreRefused) {
  NewRun("r");
  store_->InsertMetrics({{"r", "ok", "list", Json::array({1, 2}), std::nullopt, 1, 0, ""}});
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "meta.db").c_str(), &db), SQLITE_OK);
    std::string deep = std::string(60000, '[') + std::string(60000, ']');
    std::string sql =
        "INSERT INTO metrics (run_key, seq, name, kind, json, time) SELECT key, 1, 'deep', "
        "'list', '" +
        deep + "', 2 FROM runs WHERE id='r'";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto pts = store_->GetMetrics("r", "");
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_TRUE(pts[1].value.is_string());
  EXPECT_NE(pts[1].value.get<std::string>().find("nested deeper"), std::string::npos);
  EXPECT_NO_THROW(pts[1].value.dump());

  Json deep = Json::array();
  Json* cur = &deep;
  for (int i = 0; i < 200; ++i) {
    cur->push_back(Json::array());
    cur = &(*cur)[0];
  }
  std::vector<MetricPoint> batch = {{"r", "fine", "scalar", Json(1), std::nullopt, 3, 10, ""},
                                    {"r", "deep2", "list", deep, std::nullopt, 3, 11, ""}};
  EXPECT_THROW(store_->InsertMetrics(batch), InvalidInput);
  EXPECT_TRUE(store_->GetMetrics("r", "fine").empty());  // nothing of the batch stored
}

TEST_F(MetadataStoreTest, ModelsVersionPerName) {
  ModelRecord m;
  m.name = "iris";
  m.path = "model.joblib";
  store_->CreateModel(m);
  EXPECT_EQ(m.version, 1);
  ModelRecord m2 = m;
  m2.tags = {{"stage", "prod"}};
  store_->CreateModel(m2);
  EXPECT_EQ(m2.version, 2);
  EXPECT_EQ(store_->GetModel("iris", 0)->version, 2);
  EXPECT_EQ(store_->GetModel("iris", 1)->version, 1);
  EXPECT_FALSE(store_->GetModel("iris", 3));
  ModelFilter f;
  f.name = "iris";
  EXPECT_EQ(store_->ListModels(f).size(), 2u);
  f.latest = true;
  EXPECT_EQ(store_->ListModels(f).size(), 1u);
  ModelFilter tagged;
  tagged.tags = {{"stage", std::string("prod")}};
  EXPECT_EQ(store_->ListModels(tagged).size(), 1u);
}

TEST_F(MetadataStoreTest, ReopenKeepsDataAndSchemaVersion) {
  NewRun("r");
  store_.reset();
  store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
  EXPECT_TRUE(store_->GetRun("r"));
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir_ / "meta.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), SqliteSchemaVersion());
  EXPECT_GE(SqliteSchemaVersion(), 3);  // runs, assets (datasets/environments), services
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(MetadataStoreTest, ServicesPutGetListDelete) {
  ServiceRecord r;
  r.name = "svc-b";
  r.created = r.updated = 5;
  r.state = "Transitioning";
  r.spec = {{"models", {{{"name", "m"}, {"version", 1}}}}};
  r.primary_key = "p";
  r.secondary_key = "s";
  r.port = 1234;
  r.generation = 1;
  store_->PutService(r);
  r.name = "svc-a";
  store_->PutService(r);
  r.state = "Healthy";
  r.error = {{"message", "x"}};
  r.generation = 2;
  store_->PutService(r);  // replaces svc-a
  auto got = store_->GetService("svc-a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, "Healthy");
  EXPECT_EQ(got->generation, 2);
  EXPECT_EQ(got->error["message"], "x");
  EXPECT_EQ(got->spec["models"][0]["name"], "m");
  EXPECT_EQ(got->port, 1234);
  auto all = store_->ListServices();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "svc-a");
  EXPECT_TRUE(all[1].error.is_null());
  EXPECT_TRUE(store_->DeleteService("svc-a"));
  EXPECT_FALSE(store_->DeleteService("svc-a"));
  EXPECT_FALSE(store_->GetService("svc-a"));
}

TEST_F(MetadataStoreTest, ConcurrentWritersDoNotLosePoints) {
  NewRun("r");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int b = 0; b < 10; ++b) {
        std::vector<MetricPoint> pts;
        for (int i = 0; i < 50; ++i) {
          pts.push_back({"r", "m", "scalar", Json(i), std::nullopt, 0,
                         int64_t{t * 100000 + b * 1000 + i}, ""});
        }
        store_->InsertMetrics(pts);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(store_->GetMetrics("r", "m").size(), 2000u);
}

}  // namespace
}  // namespace trainyard
