#include <gtest/gtest.h>

#include <cmath>

#include "automl/data_io.h"
#include "automl/preprocess.h"
#include "automl/splitter.h"
#include "common/error.h"
#include "synthetic.h"

namespace trainyard::automl {
namespace {

TEST(Handover, RoundTripsNumbersNamesAndLabels) {
  RawDataset ds;
  ds.X = Matrix(2, 2);
  ds.X.data = {1.5, NAN, -3, 4};
  ds.feature_names = {"a", "b"};
  ds.y_kind = RawDataset::YKind::kLabels;
  ds.y_labels = {"yes", "no"};
  RawDataset back = ParseHandover(SerializeHandover(ds));
  EXPECT_EQ(back.X.rows, 2u);
  EXPECT_EQ(back.X.data[0], 1.5);
  EXPECT_TRUE(std::isnan(back.X.data[1]));
  EXPECT_EQ(back.feature_names, ds.feature_names);
  EXPECT_EQ(back.y_labels, ds.y_labels);
  Target t = MakeTarget(back, Task::kClassification);
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(t.y, (std::vector<double>{1, 0}));
  EXPECT_THROW(MakeTarget(back, Task::kRegression), InvalidInput);
}

TEST(Handover, RejectsCorruptInput) {
  RawDataset ds;
  ds.X = Matrix(3, 1, 1.0);
  ds.y_kind = RawDataset::YKind::kNumeric;
  ds.y_numeric = {1, 2, 3};
  std::string bytes = SerializeHandover(ds);
  EXPECT_THROW(ParseHandover(bytes.substr(0, bytes.size() - 1)), InvalidInput);
  EXPECT_THROW(ParseHandover(bytes + "x"), InvalidInput);
  EXPECT_THROW(ParseHandover("TYDX" + bytes.substr(4)), InvalidInput);
  std::string huge = bytes;
  huge[8] = '\xff';  // rows: absurd
  huge[15] = '\x7f';
  EXPECT_THROW(ParseHandover(huge), InvalidInput);
}

TEST(Labels, NumericLabelsSortNumerically) {
  Target t = EncodeNumericLabels({10, 2, 2, -1});
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"-1", "2", "10"}));
  EXPECT_EQ(t.y, (std::vector<double>{2, 1, 1, 0}));
  EXPECT_THROW(EncodeNumericLabels({1, NAN}), InvalidInput);
  EXPECT_THROW(EncodeNumericLabels({1, 1}), InvalidInput);
  EXPECT_THROW(RegressionTarget({1, INFINITY}), InvalidInput);
}

TEST(Splitter, StratifiedFoldsAreBalancedAndDisjoint) {
  Dataset d = testing::Blobs(103, 2, 3, 1);
  auto folds = KFoldSplits(d.target, 5, 7);
  ASSERT_EQ(folds.size(), 5u);
  std::vector<int> seen(103, 0);
  for (const auto& f : folds) {
    EXPECT_EQ(f.train.size() + f.valid.size(), 103u);
    EXPECT_GE(f.valid.size(), 20u);
    EXPECT_LE(f.valid.size(), 21u);
    for (size_t i : f.valid) ++seen[i];
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  EXPECT_THROW(KFoldSplits(d.target, 1, 0), InvalidInput);
  EXPECT_THROW(KFoldSplits(d.target, 500, 0), InvalidInput);
}

TEST(Splitter, AzureDefaults) {
  EXPECT_EQ(ChooseValidation(999, false, 0, 0).folds, 10u);
  EXPECT_EQ(ChooseValidation(1000, false, 0, 0).folds, 3u);
  auto big = ChooseValidation(20001, false, 0, 0);
  EXPECT_EQ(big.kind, ValidationPlan::Kind::kHoldout);
  EXPECT_DOUBLE_EQ(big.fraction, 0.1);
  EXPECT_THROW(ChooseValidation(10, true, 0.2, 0), InvalidInput);
  EXPECT_THROW(ChooseValidation(10, false, 1.5, 0), InvalidInput);
}

TEST(Scalers, MatchScikitLearnDefinitions) {
  Matrix X(4, 2);
  X.data = {1, -2, 2, 0, 3, 2, 10, 4};
  Scaler standard(Scaler::Kind::kStandard);
  standard.Fit(X);
  Matrix z = standard.Transform(X);
  double mean = 0, var = 0;
  for (size_t i = 0; i < 4; ++i) mean += z.At(i, 0) / 4;
  for (size_t i = 0; i < 4; ++i) var += z.At(i, 0) * z.At(i, 0) / 4;
  EXPECT_NEAR(mean, 0, 1e-12);
  EXPECT_NEAR(var, 1, 1e-12);
  Scaler minmax(Scaler::Kind::kMinMax);
  minmax.Fit(X);
  EXPECT_DOUBLE_EQ(minmax.Transform(X).At(3, 0), 1.0);
  EXPECT_DOUBLE_EQ(minmax.Transform(X).At(0, 1), 0.0);
  Scaler maxabs(Scaler::Kind::kMaxAbs);
  maxabs.Fit(X);
  EXPECT_DOUBLE_EQ(maxabs.Transform(X).At(0, 1), -0.5);
  Scaler robust(Scaler::Kind::kRobust);
  robust.Fit(X);
  // Column 0: median 2.5, quantiles 1.75 / 4.75 -> IQR 3.
  EXPECT_DOUBLE_EQ(robust.Transform(X).At(3, 0), (10 - 2.5) / 3);
  Scaler norm(Scaler::Kind::kNormalizer);
  norm.Fit(X);
  Matrix n = norm.Transform(X);
  EXPECT_NEAR(n.At(0, 0) * n.At(0, 0) + n.At(0, 1) * n.At(0, 1), 1.0, 1e-15);
  EXPECT_EQ(Scaler::Parse("Scale MaxAbs 1"), Scaler::Kind::kMaxAbs);
  EXPECT_EQ(Scaler::DisplayName(Scaler::Kind::kMinMax), "Scale 0/1");
  EXPECT_THROW(Scaler::Parse("Whiten"), InvalidInput);
}

TEST(Featurizer, ImputesMeansAndDropsConstants) {
  Matrix X(3, 3);
  X.data = {1, 7, NAN, 3, 7, NAN, NAN, 7, NAN};
  Featurizer f;
  EXPECT_THROW(f.Fit(Matrix(3, 1, 7.0), Featurizer::Mode::kAuto), InvalidInput);
  f.Fit(X, Featurizer::Mode::kAuto);
  EXPECT_EQ(f.kept_columns(), (std::vector<size_t>{0}));
  Matrix z = f.Transform(X);
  EXPECT_EQ(z.cols, 1u);
  EXPECT_DOUBLE_EQ(z.At(2, 0), 2.0);
  Featurizer off;
  off.Fit(X, Featurizer::Mode::kOff);
  EXPECT_THROW(off.Transform(X), InvalidInput);
}

}  // namespace
}  // namespace trainyard::automl
