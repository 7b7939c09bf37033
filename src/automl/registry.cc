#include "automl/registry.h"

#include <algorithm>
#include <cmath>

#include "automl/linear.h"
#include "automl/other_learners.h"
#include "automl/trees.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {
constexpr Task kC = Task::kClassification;
constexpr Task kR = Task::kRegression;
}  // namespace

const std::vector<LearnerInfo>& AllLearners() {
  static const std::vector<LearnerInfo> kAll = {
      {"LogisticRegression",
       {kC},
       "logistic regression",
       "",
       MakeLogisticRegression,
       LogisticRegressionParamSpecs},
      {"SGD", {kC, kR}, "SGD classifier", "SGD regressor", MakeSgd, SgdParamSpecs},
      {"NaiveBayes", {kC}, "naive Bayes", "", MakeGaussianNb, NaiveBayesParamSpecs},
      {"MultinomialNaiveBayes",
       {kC},
       "multinomial naive Bayes",
       "",
       MakeMultinomialNb,
       NaiveBayesParamSpecs},
      {"BernoulliNaiveBayes",
       {kC},
       "Bernoulli naive Bayes",
       "",
       MakeBernoulliNb,
       NaiveBayesParamSpecs},
      {"KNN", {kC, kR}, "kNN", "kNN", MakeKnn, KnnParamSpecs},
      {"DecisionTree", {kC, kR}, "DT", "DT", MakeDecisionTree, DecisionTreeParamSpecs},
      {"RandomForest",
       {kC, kR},
       "random forest",
       "random forest",
       MakeRandomForest,
       [] { return ForestParamSpecs(false); }},
      {"ExtremeRandomTrees",
       {kC, kR},
       "extra trees",
       "extra trees",
       MakeExtraTrees,
       [] { return ForestParamSpecs(true); }},
      {"GradientBoosting",
       {kC, kR},
       "gradient boosting",
       "gradient boosting",
       MakeGradientBoosting,
       GradientBoostingParamSpecs},
      {"XGBoostClassifier", {kC}, "XGBoost classifier", "", MakeXgboost, XgboostParamSpecs},
      {"XGBoostRegressor", {kR}, "", "XGBoost regressor", MakeXgboost, XgboostParamSpecs},
      {"LinearSVM", {kC}, "linear SVM", "", MakeLinearSvm, LinearSvmParamSpecs},
      {"SVM", {kC, kR}, "SVM", "SVM", MakeSvm, SvmParamSpecs},
      {"ElasticNet", {kR}, "", "elastic net", MakeElasticNet, ElasticNetParamSpecs},
  };
  return kAll;
}

namespace {

std::vector<ParamSpec> ForestSpace() {
  return {ParamSpec::Int("n_estimators", 10, 500, 10, true),
          ParamSpec::Float("max_features", 0.05, 1.0, 0.2, false),
          ParamSpec::Int("min_samples_leaf", 1, 20, 1, true)};
}
std::vector<ParamSpec> XgboostSpace() {
  return {ParamSpec::Int("n_estimators", 4, 1000, 4, true),
          ParamSpec::Int("max_depth", 1, 12, 6, false),
          ParamSpec::Float("learning_rate", 0.01, 1.0, 0.3, true),
          ParamSpec::Float("colsample_bytree", 0.3, 1.0, 1.0, false)};
}

}  // namespace

SearchProfile SearchProfileOf(const std::string& learner, Task task) {
  FindLearner(learner, task);  // validates the name for the task
  SearchProfile p;
  const bool cls = task == Task::kClassification;
  // First round: strong, cheap learners first (Azure's and FLAML's experience), then the rest.
  static const std::vector<std::string> kFirst = {"LogisticRegression",
                                                  "ElasticNet",
                                                  "KNN",
                                                  "ExtremeRandomTrees",
                                                  "SGD",
                                                  "RandomForest",
                                                  "XGBoostClassifier",
                                                  "XGBoostRegressor",
                                                  "LinearSVM",
                                                  "NaiveBayes",
                                                  "DecisionTree",
                                                  "SVM",
                                                  "GradientBoosting",
                                                  "MultinomialNaiveBayes",
                                                  "BernoulliNaiveBayes"};
  p.first_round =
      static_cast<int>(std::find(kFirst.begin(), kFirst.end(), learner) - kFirst.begin());
  p.scale_sensitive = learner == "LogisticRegression" || learner == "SGD" || learner == "KNN" ||
                      learner == "SVM" || learner == "LinearSVM" || learner == "ElasticNet";
  if (learner == "MultinomialNaiveBayes") p.fixed_scaler = Scaler::Kind::kMinMax;
  p.quadratic_in_rows = learner == "SVM" || learner == "KNN";
  if (learner == "LogisticRegression") {
    p.space = {ParamSpec::Float("C", 1e-3, 1e3, 1.0, true),
               ParamSpec::Int("max_iter", 10, 1000, 100, true)};
    p.relative_cost = 1.2;
  } else if (learner == "LinearSVM") {
    p.space = {ParamSpec::Float("C", 1e-3, 1e3, 1.0, true)};
  } else if (learner == "SVM") {
    p.space = {ParamSpec::Float("C", 1e-2, 1e3, 1.0, true)};
    p.relative_cost = 10;
  } else if (learner == "SGD") {
    p.space = {ParamSpec::Float("alpha", 1e-6, 1e-1, 1e-4, true),
               ParamSpec::Int("max_iter", 5, 1000, 20, true),
               ParamSpec::Float("eta0", 1e-4, 1.0, 0.01, true)};
    // Classification losses only for the classifier; the regressor has squared error only.
    if (cls)
      p.space.push_back(
          ParamSpec::Choice("loss", {"log_loss", "modified_huber", "hinge"}, "log_loss"));
  } else if (learner == "ElasticNet") {
    p.space = {ParamSpec::Float("alpha", 1e-4, 10.0, 1.0, true),
               ParamSpec::Float("l1_ratio", 0.0, 1.0, 0.5, false)};
  } else if (learner == "NaiveBayes") {
    p.space = {ParamSpec::Float("var_smoothing", 1e-12, 1e-3, 1e-9, true)};
    p.relative_cost = 0.2;
  } else if (learner == "MultinomialNaiveBayes" || learner == "BernoulliNaiveBayes") {
    p.space = {ParamSpec::Float("alpha", 1e-3, 10, 1.0, true)};
    p.relative_cost = 0.2;
  } else if (learner == "KNN") {
    p.space = {ParamSpec::Int("n_neighbors", 1, 50, 5, true), ParamSpec::Int("p", 1, 2, 2, false),
               ParamSpec::Choice("weights", {"uniform", "distance"}, "uniform")};
    p.relative_cost = 1.5;
  } else if (learner == "DecisionTree") {
    p.space = {ParamSpec::Int("max_depth", 1, 64, 8, true),
               ParamSpec::Int("min_samples_split", 2, 40, 2, true),
               ParamSpec::Int("min_samples_leaf", 1, 20, 1, true)};
    p.relative_cost = 0.5;
  } else if (learner == "RandomForest") {
    p.space = ForestSpace();
    p.relative_cost = 2.5;
  } else if (learner == "ExtremeRandomTrees") {
    p.space = ForestSpace();
    p.relative_cost = 2.0;
  } else if (learner == "GradientBoosting") {
    p.space = {ParamSpec::Int("n_estimators", 10, 500, 10, true),
               ParamSpec::Float("learning_rate", 0.01, 1.0, 0.1, true),
               ParamSpec::Int("max_depth", 1, 10, 3, false)};
    p.relative_cost = 8;
  } else if (learner == "XGBoostClassifier" || learner == "XGBoostRegressor") {
    p.space = XgboostSpace();
    p.relative_cost = 6;
  }
  return p;
}

std::vector<std::string> LearnerNames(Task task) {
  std::vector<std::string> names;
  for (const auto& info : AllLearners()) {
    if (std::find(info.tasks.begin(), info.tasks.end(), task) != info.tasks.end()) {
      names.push_back(info.name);
    }
  }
  return names;
}

const LearnerInfo& FindLearner(const std::string& name, Task task) {
  for (const auto& info : AllLearners()) {
    if (info.name == name &&
        std::find(info.tasks.begin(), info.tasks.end(), task) != info.tasks.end()) {
      return info;
    }
  }
  std::string valid;
  for (const auto& n : LearnerNames(task)) valid += (valid.empty() ? "" : ", ") + n;
  throw InvalidInput("model '" + name + "' is not available for " + TaskName(task) +
                     "; choose one of: " + valid);
}

std::unique_ptr<Learner> CreateLearner(const std::string& name, Task task, const Params& params) {
  const LearnerInfo& info = FindLearner(name, task);
  auto specs = info.params();
  auto known = [&](const std::string& p) {
    return std::any_of(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == p; });
  };
  auto reject = [&](const std::string& p) {
    std::string list;
    for (const auto& s : specs) list += (list.empty() ? "" : ", ") + s.name;
    throw InvalidInput(name + " has no hyperparameter '" + p + "'; it has: " + list);
  };
  for (const auto& [k, v] : params.num) {
    if (!known(k)) reject(k);
    if (!std::isfinite(v)) throw InvalidInput(name + ": hyperparameter '" + k + "' is not finite");
  }
  for (const auto& [k, v] : params.str) {
    if (!known(k)) reject(k);
  }
  auto learner = info.make();
  learner->Configure(task, params);
  return learner;
}

std::string PipelineLabel(const std::string& scaler_display, const std::string& learner,
                          Task task) {
  std::string label = learner;
  for (const auto& info : AllLearners()) {
    if (info.name == learner) {
      const std::string& l =
          task == Task::kClassification ? info.classification_label : info.regression_label;
      if (!l.empty()) label = l;
    }
  }
  return scaler_display.empty() ? label : scaler_display + " " + label;
}

}  // namespace trainyard::automl
