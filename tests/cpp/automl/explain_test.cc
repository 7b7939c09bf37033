#include "automl/explain.h"

#include <gtest/gtest.h>

#include <cmath>

#include "automl/pipeline.h"
#include "synthetic.h"

namespace trainyard::automl {
namespace {

// Exact Shapley values of the path-dependent value function, by enumerating every subset.
std::vector<std::vector<double>> BruteForceShapley(const Tree& tree, const double* x, size_t F) {
  std::vector<std::vector<double>> phi(F, std::vector<double>(tree.n_outputs, 0.0));
  std::vector<double> fact(F + 1, 1.0);
  for (size_t i = 1; i <= F; ++i) fact[i] = fact[i - 1] * static_cast<double>(i);
  for (size_t j = 0; j < F; ++j) {
    for (uint32_t mask = 0; mask < (1u << F); ++mask) {
      if (mask & (1u << j)) continue;
      std::vector<bool> known(F);
      size_t s = 0;
      for (size_t k = 0; k < F; ++k) s += (known[k] = (mask >> k) & 1u);
      auto without = TreeConditionalExpectation(tree, x, known);
      known[j] = true;
      auto with = TreeConditionalExpectation(tree, x, known);
      double w = fact[s] * fact[F - s - 1] / fact[F];
      for (size_t k = 0; k < tree.n_outputs; ++k) phi[j][k] += w * (with[k] - without[k]);
    }
  }
  return phi;
}

TEST(TreeShap, EqualsBruteForceShapleyOnEveryTree) {
  Dataset d = testing::Blobs(200, 5, 3, 21);
  PipelineSpec spec;
  spec.learner = "RandomForest";
  spec.params.num["n_estimators"] = 4;
  spec.params.num["max_depth"] = 6;
  spec.featurization = Featurizer::Mode::kOff;
  auto p = Pipeline::Fit(spec, d.X, d.target, FitContext{});
  const TreeEnsemble& ens = *p->learner().trees();
  for (size_t t = 0; t < ens.trees.size(); ++t) {
    TreeEnsemble single;
    single.trees = {ens.trees[t]};
    single.n_outputs = ens.n_outputs;
    single.base.assign(ens.n_outputs, 0.0);
    Matrix rows = SelectRows(d.X, std::vector<size_t>{0, 7, 42});
    std::vector<double> expected;
    std::vector<Matrix> shap = TreeShap(single, rows, &expected);
    for (size_t i = 0; i < rows.rows; ++i) {
      auto brute = BruteForceShapley(ens.trees[t], rows.Row(i), 5);
      for (size_t j = 0; j < 5; ++j) {
        for (size_t k = 0; k < ens.n_outputs; ++k) {
          EXPECT_NEAR(shap[k].At(i, j), brute[j][k], 1e-12) << "tree " << t << " row " << i;
        }
      }
    }
  }
}

TEST(Explain, TreeLinearAndPermutationAreAdditive) {
  Dataset d = testing::Blobs(150, 4, 3, 5);
  for (const char* learner : {"GradientBoosting", "LogisticRegression", "KNN"}) {
    SCOPED_TRACE(learner);
    PipelineSpec spec;
    spec.learner = learner;
    spec.scaler = Scaler::Kind::kStandard;
    if (std::string(learner) == "GradientBoosting") spec.params.num["n_estimators"] = 10;
    auto p = Pipeline::Fit(spec, d.X, d.target, FitContext{});
    Matrix rows = SelectRows(d.X, std::vector<size_t>{1, 2, 3});
    ExplainOptions opt;
    opt.permutations = 4;
    Explanation e = Explain(*p, rows, &d.X, opt);
    ASSERT_EQ(e.values.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      for (size_t i = 0; i < rows.rows; ++i) {
        double total = e.expected_values[k];
        for (size_t j = 0; j < 4; ++j) total += e.values[k].At(i, j);
        EXPECT_NEAR(total, e.model_output[k][i], 1e-10);
      }
    }
  }
}

TEST(Explain, PermutationValuesDoNotDependOnTheThreads) {
  // Rows are explained side by side; each has its own random stream, so one thread and four
  // give the same values, bit for bit. SVM, and XGBoost behind a Normalizer (not per-column:
  // the permutation explainer), whose booster's result buffer is shared between calls.
  Dataset d = testing::Blobs(120, 5, 3, 6);
  for (const char* learner : {"SVM", "XGBoostClassifier"}) {
    SCOPED_TRACE(learner);
    PipelineSpec spec;
    spec.learner = learner;
    spec.scaler =
        std::string(learner) == "SVM" ? Scaler::Kind::kStandard : Scaler::Kind::kNormalizer;
    auto p = Pipeline::Fit(spec, d.X, d.target, FitContext{});
    Matrix rows = SelectRows(d.X, std::vector<size_t>{0, 7, 19, 33, 50, 71, 90});
    ExplainOptions one;
    one.permutations = 4;
    one.threads = 1;
    ExplainOptions four = one;
    four.threads = 4;
    Explanation a = Explain(*p, rows, &d.X, one), b = Explain(*p, rows, &d.X, four);
    ASSERT_EQ(a.method, "permutation");
    ASSERT_EQ(a.values.size(), b.values.size());
    for (size_t k = 0; k < a.values.size(); ++k) {
      EXPECT_EQ(a.values[k].data, b.values[k].data);
      EXPECT_EQ(a.model_output[k], b.model_output[k]);
      for (size_t i = 0; i < rows.rows; ++i) {
        double total = a.expected_values[k];
        for (size_t j = 0; j < rows.cols; ++j) total += a.values[k].At(i, j);
        EXPECT_NEAR(total, a.model_output[k][i], 1e-10);
      }
    }
  }
}

}  // namespace
}  // namespace trainyard::automl
