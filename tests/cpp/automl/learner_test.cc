#include <gtest/gtest.h>

#include <atomic>

#include "automl/metrics.h"
#include "automl/pipeline.h"
#include "automl/registry.h"
#include "common/error.h"
#include "synthetic.h"

namespace trainyard::automl {
namespace {

struct Split {
  Matrix train_X, test_X;
  Target train_y, test_y;
};

Split Halves(const Dataset& d) {
  std::vector<size_t> tr, te;
  for (size_t i = 0; i < d.X.rows; ++i) (i % 4 == 0 ? te : tr).push_back(i);
  Split s{SelectRows(d.X, tr), SelectRows(d.X, te), d.target, d.target};
  s.train_y.y = SelectItems(d.target.y, tr);
  s.test_y.y = SelectItems(d.target.y, te);
  return s;
}

PipelineSpec Spec(const std::string& learner, Scaler::Kind scaler) {
  PipelineSpec spec;
  spec.learner = learner;
  spec.scaler = scaler;
  if (learner == "RandomForest" || learner == "ExtremeRandomTrees" ||
      learner == "GradientBoosting" || learner.rfind("XGBoost", 0) == 0) {
    spec.params.num["n_estimators"] = 20;
  }
  return spec;
}

Scaler::Kind ScalerFor(const std::string& learner) {
  return learner == "MultinomialNaiveBayes" ? Scaler::Kind::kMinMax : Scaler::Kind::kStandard;
}

TEST(Learners, EveryClassifierLearnsSeparableBlobsAndRoundTrips) {
  Split s = Halves(testing::Blobs(240, 4, 3, 11));
  FitContext ctx;
  ctx.threads = 2;
  for (const auto& name : LearnerNames(Task::kClassification)) {
    SCOPED_TRACE(name);
    auto p = Pipeline::Fit(Spec(name, ScalerFor(name)), s.train_X, s.train_y, ctx);
    Matrix proba = p->PredictRaw(s.test_X);
    ASSERT_EQ(proba.cols, 3u);
    for (size_t i = 0; i < proba.rows; ++i) {
      double sum = 0;
      for (size_t c = 0; c < 3; ++c) sum += proba.At(i, c);
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
    double acc = ClassificationScores(s.test_y.y, proba)["accuracy"];
    // Naive Bayes on min-max scaled or binarized blobs is a weaker model by construction.
    EXPECT_GT(acc, name.find("NaiveBayes") != std::string::npos ? 0.6 : 0.9);
    auto loaded = Pipeline::Deserialize(p->Serialize());
    EXPECT_EQ(loaded->PredictRaw(s.test_X).data, proba.data);
    EXPECT_EQ(loaded->Label(), p->Label());
  }
}

TEST(Learners, EveryRegressorFitsAndRoundTrips) {
  Split s = Halves(testing::Regression(300, 4, 5));
  FitContext ctx;
  for (const auto& name : LearnerNames(Task::kRegression)) {
    SCOPED_TRACE(name);
    PipelineSpec spec = Spec(name, Scaler::Kind::kStandard);
    if (name == "ElasticNet") spec.params.num["alpha"] = 0.01;
    auto p = Pipeline::Fit(spec, s.train_X, s.train_y, ctx);
    std::vector<double> pred = p->Predict(s.test_X);
    EXPECT_GT(RegressionScores(s.test_y.y, pred)["r2_score"], 0.6);
    auto loaded = Pipeline::Deserialize(p->Serialize());
    EXPECT_EQ(loaded->Predict(s.test_X), pred);
  }
}

TEST(Learners, CancelStopsAFit) {
  Dataset d = testing::Blobs(200, 4, 2, 3);
  std::atomic<bool> cancel{true};
  FitContext ctx;
  ctx.cancel = &cancel;
  for (const char* name : {"RandomForest", "GradientBoosting", "SGD", "XGBoostClassifier", "SVM"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(Pipeline::Fit(Spec(name, Scaler::Kind::kNone), d.X, d.target, ctx), Cancelled);
  }
}

TEST(Learners, ClassesMissingFromTheTrainingRowsAreNeverPredicted) {
  // Training rows hold classes 0 and 2 of {0, 1, 2} (as in a small CV fold), or one class.
  Dataset d = testing::Blobs(90, 3, 3, 6);
  std::vector<size_t> keep;
  for (size_t i = 0; i < d.X.rows; ++i) {
    if (d.target.y[i] != 1) keep.push_back(i);
  }
  Target y = d.target;
  y.y = SelectItems(d.target.y, keep);
  Matrix X = SelectRows(d.X, keep);
  for (const char* name : {"LinearSVM", "LogisticRegression", "SGD", "SVM"}) {
    SCOPED_TRACE(name);
    auto p = Pipeline::Fit(Spec(name, Scaler::Kind::kStandard), X, y, FitContext{});
    for (double c : p->Predict(d.X)) EXPECT_NE(c, 1.0);
  }
  Target binary;
  binary.task = Task::kClassification;
  binary.class_names = {"no", "yes"};
  binary.y.assign(20, 1.0);
  Matrix Xb = SelectRows(d.X, std::vector<size_t>{0,  1,  2,  3,  4,  5,  6,  7,  8,  9,
                                                  10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
  for (const char* name : {"LinearSVM", "LogisticRegression", "SVM"}) {
    auto p = Pipeline::Fit(Spec(name, Scaler::Kind::kNone), Xb, binary, FitContext{});
    for (double c : p->Predict(Xb)) EXPECT_EQ(c, 1.0) << name;
  }
}

TEST(Learners, RegistryRejectsUnknownNamesAndParameters) {
  EXPECT_THROW(CreateLearner("Nope", Task::kClassification, {}), InvalidInput);
  EXPECT_THROW(CreateLearner("ElasticNet", Task::kClassification, {}), InvalidInput);
  Params bad;
  bad.num["depth"] = 3;
  try {
    CreateLearner("RandomForest", Task::kClassification, bad);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("n_estimators"), std::string::npos);
  }
  EXPECT_EQ(PipelineLabel("Standardize", "SGD", Task::kClassification),
            "Standardize SGD classifier");
  EXPECT_EQ(PipelineLabel("", "ExtremeRandomTrees", Task::kClassification), "extra trees");
  EXPECT_EQ(PipelineLabel("Normalizer", "DecisionTree", Task::kClassification), "Normalizer DT");
}

TEST(ModelFile, RefusesDamage) {
  Dataset d = testing::Blobs(60, 3, 2, 9);
  auto p = Pipeline::Fit(Spec("DecisionTree", Scaler::Kind::kNone), d.X, d.target, FitContext{});
  std::string bytes = p->Serialize();
  EXPECT_NE(Pipeline::ReadHeader(bytes).find("\"learner\":\"DecisionTree\""), std::string::npos);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x55;
  EXPECT_THROW(Pipeline::Deserialize(flipped), InvalidInput);
  EXPECT_THROW(Pipeline::Deserialize(bytes.substr(0, 30)), InvalidInput);
  EXPECT_THROW(Pipeline::Deserialize("garbage"), InvalidInput);
}

TEST(Evaluate, CrossValidationAveragesFolds) {
  Dataset d = testing::Blobs(150, 3, 3, 4);
  auto folds = KFoldSplits(d.target, 5, 1);
  Evaluation ev =
      EvaluatePipeline(Spec("KNN", Scaler::Kind::kStandard), d.X, d.target, folds, FitContext{});
  EXPECT_EQ(ev.folds, 5u);
  EXPECT_GT(ev.scores["AUC_weighted"], 0.95);
  EXPECT_EQ(ev.scores.count("norm_macro_recall"), 1u);
}

}  // namespace
}  // namespace trainyard::automl
