// Linear learners: LogisticRegression (liblinear for two classes, own multinomial L-BFGS
// for more, as scikit-learn's default lbfgs solver), LinearSVM (liblinear), SGD (own: log /
// modified Huber / hinge loss for classification, squared loss for regression) and ElasticNet (own
// coordinate descent, scikit-learn's objective).
//
// All of them end as a LinearModel: margins m_k = intercept_k + coef_k . x, which the exact
// linear explainer uses.
#pragma once

#include <memory>
#include <vector>

#include "automl/learner.h"

namespace trainyard::automl {

struct LinearModel {
  size_t n_margins = 1;  // 1 for binary classification and regression, C for one-vs-rest
  size_t n_features = 0;
  std::vector<double> coef;          // n_margins x n_features
  std::vector<double> intercept;     // n_margins
  std::vector<double> feature_mean;  // training means: the explainer's background
  // How margins become outputs: identity (regression), sigmoid of one margin (binary),
  // normalized one-vs-rest sigmoids (multiclass), or softmax (multinomial).
  enum class Link { kIdentity, kLogistic, kSoftmax } link = Link::kIdentity;

  double Margin(size_t k, const double* x) const;
  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);
};

std::unique_ptr<Learner> MakeLogisticRegression();
std::unique_ptr<Learner> MakeLinearSvm();
std::unique_ptr<Learner> MakeSgd();
std::unique_ptr<Learner> MakeElasticNet();

std::vector<ParamSpec> LogisticRegressionParamSpecs();
std::vector<ParamSpec> LinearSvmParamSpecs();
std::vector<ParamSpec> SgdParamSpecs();
std::vector<ParamSpec> ElasticNetParamSpecs();

}  // namespace trainyard::automl
