#include "automl/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace trainyard::automl {
namespace {

Matrix Proba(std::initializer_list<std::initializer_list<double>> rows) {
  Matrix m(rows.size(), rows.begin()->size());
  size_t i = 0;
  for (const auto& r : rows) {
    size_t j = 0;
    for (double v : r) m.At(i, j++) = v;
    ++i;
  }
  return m;
}

TEST(Metrics, BinaryAucCountsTiesAsHalf) {
  // Positives {0.8, 0.5}, negatives {0.5, 0.2}: pairs (0.8>0.5), (0.8>0.2), (0.5=0.5: 1/2),
  // (0.5>0.2) -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(BinaryAuc({0.8, 0.5, 0.5, 0.2}, {true, true, false, false}), 0.875);
  EXPECT_TRUE(std::isnan(BinaryAuc({0.1, 0.2}, {true, true})));
}

TEST(Metrics, AveragePrecisionStepsOverDistinctThresholds) {
  // scikit-learn: average_precision_score([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.1]) == 0.8333...
  EXPECT_NEAR(BinaryAveragePrecision({0.9, 0.8, 0.8, 0.1}, {true, false, true, false}),
              0.5 * 1.0 + 0.5 * (2.0 / 3.0), 1e-15);
}

TEST(Metrics, ClassificationScoresOnAKnownCase) {
  std::vector<double> y = {0, 1, 2, 2};
  Matrix p = Proba({{0.8, 0.1, 0.1}, {0.3, 0.6, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.1, 0.8}});
  Scores s = ClassificationScores(y, p);
  EXPECT_DOUBLE_EQ(s["accuracy"], 0.75);
  // Recalls 1, 1, 0.5 -> macro 5/6; normalized: (5/6 - 1/3) / (2/3) = 0.75.
  EXPECT_NEAR(s["recall_score_macro"], 5.0 / 6.0, 1e-15);
  EXPECT_NEAR(s["norm_macro_recall"], 0.75, 1e-15);
  EXPECT_NEAR(s["balanced_accuracy"], 5.0 / 6.0, 1e-15);
  // Precisions 1, 0.5, 1 weighted by support 1, 1, 2 -> 0.875.
  EXPECT_NEAR(s["precision_score_weighted"], 0.875, 1e-15);
  EXPECT_NEAR(s["log_loss"], -(std::log(0.8) + std::log(0.6) + std::log(0.3) + std::log(0.8)) / 4,
              1e-15);
  EXPECT_DOUBLE_EQ(s["AUC_weighted"], 1.0);
}

TEST(Metrics, NormMacroRecallIsClippedAtZero) {
  std::vector<double> y = {0, 1};
  Scores s = ClassificationScores(y, Proba({{0.1, 0.9}, {0.9, 0.1}}));
  EXPECT_EQ(s["norm_macro_recall"], 0.0);
}

TEST(Metrics, RegressionScores) {
  Scores s = RegressionScores({1, 2, 3, 4}, {1, 2, 3, 5});
  EXPECT_NEAR(s["r2_score"], 1 - 1.0 / 5.0, 1e-15);
  EXPECT_NEAR(s["root_mean_squared_error"], 0.5, 1e-15);
  EXPECT_NEAR(s["normalized_root_mean_squared_error"], 0.5 / 3, 1e-15);
  EXPECT_NEAR(s["normalized_mean_absolute_error"], 0.25 / 3, 1e-15);
  EXPECT_NEAR(s["spearman_correlation"], 1.0, 1e-15);
  // Constant y_true: scikit-learn's force_finite r2.
  EXPECT_EQ(RegressionScores({2, 2}, {2, 2})["r2_score"], 1.0);
  EXPECT_EQ(RegressionScores({2, 2}, {1, 2})["r2_score"], 0.0);
}

TEST(Metrics, CatalogueAndDirections) {
  EXPECT_EQ(PrimaryMetrics(Task::kClassification).size(), 5u);
  EXPECT_TRUE(IsKnownMetric(Task::kRegression, "normalized_root_mean_squared_error"));
  EXPECT_FALSE(IsKnownMetric(Task::kRegression, "AUC_weighted"));
  EXPECT_TRUE(HigherIsBetter("AUC_weighted"));
  EXPECT_FALSE(HigherIsBetter("normalized_root_mean_squared_error"));
  EXPECT_FALSE(HigherIsBetter("log_loss"));
}

TEST(Metrics, ShapeErrors) {
  EXPECT_THROW(ClassificationScores({0, 1, 0}, Matrix(2, 2, 0.5)), InvalidInput);
  EXPECT_THROW(ClassificationScores({0, 5}, Matrix(2, 2, 0.5)), InvalidInput);
  EXPECT_THROW(RegressionScores({}, {}), InvalidInput);
}

}  // namespace
}  // namespace trainyard::automl
