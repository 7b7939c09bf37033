// Learners that are neither trees nor linear: naive Bayes (Gaussian, multinomial, Bernoulli),
// k-nearest neighbours (brute force), kernel SVM (libsvm, RBF, with Platt probabilities) and
// XGBoost (its C API; the booster is saved with its own save-to-buffer).
#pragma once

#include <memory>
#include <vector>

#include "automl/learner.h"

namespace trainyard::automl {

std::unique_ptr<Learner> MakeGaussianNb();
std::unique_ptr<Learner> MakeMultinomialNb();
std::unique_ptr<Learner> MakeBernoulliNb();
std::unique_ptr<Learner> MakeKnn();
std::unique_ptr<Learner> MakeSvm();
std::unique_ptr<Learner> MakeXgboost();

std::vector<ParamSpec> NaiveBayesParamSpecs();
std::vector<ParamSpec> KnnParamSpecs();
std::vector<ParamSpec> SvmParamSpecs();
std::vector<ParamSpec> XgboostParamSpecs();

}  // namespace trainyard::automl
