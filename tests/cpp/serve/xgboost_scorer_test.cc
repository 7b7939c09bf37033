#include "serve/xgboost_scorer.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"
#include "serve/service_manager.h"

namespace trainyard::serve {
namespace {
namespace fs = std::filesystem;

// Trains a small binary classifier through the C API (label = x0 > 0.5) and saves it as JSON.
fs::path TrainModel(const fs::path& dir, std::vector<std::pair<std::string, std::string>> params = {
                                             {"objective", "binary:logistic"}}) {
  std::vector<float> x, y;
  bool binary = params[0].second == "binary:logistic";
  for (int i = 0; i < 200; ++i) {
    float a = static_cast<float>(i % 20) / 20.0f, b = static_cast<float>(i % 7) / 7.0f;
    x.push_back(a);
    x.push_back(b);
    x.push_back(0.5f);
    y.push_back(a > 0.5f ? (b > 0.5f && !binary ? 2.0f : 1.0f) : 0.0f);
  }
  DMatrixHandle d;
  EXPECT_EQ(XGDMatrixCreateFromMat(x.data(), 200, 3, NAN, &d), 0);
  EXPECT_EQ(XGDMatrixSetFloatInfo(d, "label", y.data(), 200), 0);
  BoosterHandle b;
  EXPECT_EQ(XGBoosterCreate(&d, 1, &b), 0);
  for (auto& [k, v] : params) XGBoosterSetParam(b, k.c_str(), v.c_str());
  XGBoosterSetParam(b, "max_depth", "2");
  XGBoosterSetParam(b, "nthread", "1");
  for (int it = 0; it < 10; ++it) EXPECT_EQ(XGBoosterUpdateOneIter(b, it, d), 0);
  fs::path out = dir / "model.json";
  EXPECT_EQ(XGBoosterSaveModel(b, out.c_str()), 0);
  XGBoosterFree(b);
  XGDMatrixFree(d);
  return out;
}

class XGBoostScorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xgbtest-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(XGBoostScorerTest, ScoresRowsOfATrainedModel) {
  XGBoostScorer s({{"kind", "xgboost"}, {"model_file", TrainModel(dir_).string()}});
  s.Start();
  EXPECT_EQ(s.num_features(), 3u);
  ScoreResult r = s.ScoreNow(R"({"data": [[0.9, 0.1, 0.5], [0.1, 0.1, 0.5]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto preds = nlohmann::json::parse(r.body);
  ASSERT_EQ(preds.size(), 2u);
  EXPECT_GT(preds[0].get<double>(), 0.5);
  EXPECT_LT(preds[1].get<double>(), 0.5);
  // The same through Score(), the fallback parser (extra key) and a single row.
  std::string via_score;
  s.Score(R"({"data": [[0.9, 0.1, 0.5]]})", Clock::now(),
          [&](ScoreResult x) { via_score = x.body; });
  EXPECT_EQ(nlohmann::json::parse(via_score)[0], preds[0]);
  r = s.ScoreNow(R"({"meta": 1, "data": [[0.9, 0.1, 0.5]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)[0], preds[0]);
  r = s.ScoreNow(R"([0.9, null, 0.5])");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(XGBoostScorerTest, CompiledForestMatchesLibxgboostOrFallsBack) {
  // Start() compares the compiled forest with libxgboost on generated rows and keeps it only
  // when they agree; an unsupported booster is scored through libxgboost.
  struct Case {
    std::vector<std::pair<std::string, std::string>> params;
    bool compiled;
    size_t per_row;
  };
  std::vector<Case> cases = {
      {{{"objective", "binary:logistic"}}, true, 1},
      {{{"objective", "reg:squarederror"}}, true, 1},
      {{{"objective", "multi:softprob"}, {"num_class", "3"}}, true, 3},
      {{{"objective", "multi:softmax"}, {"num_class", "3"}}, true, 1},
      {{{"objective", "reg:squarederror"}, {"booster", "dart"}}, false, 1},
  };
  int i = 0;
  for (auto& c : cases) {
    fs::path d = dir_ / std::to_string(i++);
    fs::create_directories(d);
    XGBoostScorer s({{"kind", "xgboost"}, {"model_file", TrainModel(d, c.params).string()}});
    s.Start();
    EXPECT_EQ(s.compiled(), c.compiled) << c.params[0].second;
    ScoreResult r = s.ScoreNow(R"({"data": [[0.9, 0.9, 0.5], [0.1, null, 0.5]]})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto preds = nlohmann::json::parse(r.body);
    ASSERT_EQ(preds.size(), 2u);
    if (c.per_row > 1) {
      EXPECT_EQ(preds[0].size(), c.per_row) << r.body;
    }
  }
}

TEST_F(XGBoostScorerTest, BadInputIs400) {
  XGBoostScorer s({{"kind", "xgboost"}, {"model_file", TrainModel(dir_).string()}});
  s.Start();
  auto bad = [&](const std::string& body, const std::string& fragment) {
    ScoreResult r = s.ScoreNow(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(fragment), std::string::npos) << body << " -> " << r.body;
  };
  bad(R"({"data": [[1, 2]]})", "needs 3 values");
  bad(R"({"data": [[1, 2, 3], [1, 2]]})", "row 1 has 2 values");
  bad(R"({"data": [["a", 2, 3]]})", "list of rows");
  bad(R"({"data": [[1, 2, 3]])", "not valid JSON");
  bad(R"({"rows": [[1, 2, 3]]})", "the body must be");
  // Issue 15: "data" nested 60k deep overflowed the stack (dump() of the parsed value); now
  // refused by the bounded parser. A key first keeps it off the fast path.
  bad(R"({"x": 1, "data": )" + std::string(60000, '[') + std::string(60000, ']') + "}",
      "nested deeper than 128");
}

TEST_F(XGBoostScorerTest, MissingModelFailsAtStart) {
  XGBoostScorer s({{"kind", "xgboost"}, {"model_file", (dir_ / "nope.json").string()}});
  EXPECT_THROW(s.Start(), ScorerInitError);
}

TEST(ParseDenseRowsTest, Shapes) {
  std::vector<float> v;
  size_t rows = 0, cols = 0;
  std::string err;
  ASSERT_TRUE(ParseDenseRows(" { \"data\" : [ [1, 2.5e0], [3 ,4] ] } ", &v, &rows, &cols, &err))
      << err;
  EXPECT_EQ(rows, 2u);
  EXPECT_EQ(cols, 2u);
  EXPECT_EQ(v, (std::vector<float>{1, 2.5f, 3, 4}));
  ASSERT_TRUE(ParseDenseRows("[[1],[2],[3]]", &v, &rows, &cols, &err)) << err;
  EXPECT_EQ(rows, 3u);
  EXPECT_FALSE(ParseDenseRows("[[1],[2]] x", &v, &rows, &cols, &err));
  EXPECT_FALSE(ParseDenseRows("{\"data\": []}", &v, &rows, &cols, &err));
}

TEST(ServiceNameTest, AzureRule) {
  for (const char* ok :
       {"abc", "scikit-learn-service", "a1-b2", "abcdefghijklmnopqrstuvwxyz012345"})
    EXPECT_NO_THROW(ValidateServiceName(ok)) << ok;
  for (const char* bad :
       {"ab", "Abc", "1abc", "abc-", "a_bc", "a.bc", "", "abcdefghijklmnopqrstuvwxyz0123456"})
    EXPECT_THROW(ValidateServiceName(bad), InvalidInput) << bad;
}

}  // namespace
}  // namespace trainyard::serve
