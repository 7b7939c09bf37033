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
       LogisticRegressionParamSpecs,
       1.0},
      {"SGD", {kC, kR}, "SGD classifier", "SGD regressor", MakeSgd, SgdParamSpecs, 1.0},
      {"NaiveBayes", {kC}, "naive Bayes", "", MakeGaussianNb, NaiveBayesParamSpecs, 0.2},
      {"MultinomialNaiveBayes",
       {kC},
       "multinomial naive Bayes",
       "",
       MakeMultinomialNb,
       NaiveBayesParamSpecs,
       0.2},
      {"BernoulliNaiveBayes",
       {kC},
       "Bernoulli naive Bayes",
       "",
       MakeBernoulliNb,
       NaiveBayesParamSpecs,
       0.2},
      {"KNN", {kC, kR}, "kNN", "kNN", MakeKnn, KnnParamSpecs, 1.5},
      {"DecisionTree", {kC, kR}, "DT", "DT", MakeDecisionTree, DecisionTreeParamSpecs, 0.5},
      {"RandomForest",
       {kC, kR},
       "random forest",
       "random forest",
       MakeRandomForest,
       [] { return ForestParamSpecs(false); },
       5.0},
      {"ExtremeRandomTrees",
       {kC, kR},
       "extra trees",
       "extra trees",
       MakeExtraTrees,
       [] { return ForestParamSpecs(true); },
       4.0},
      {"GradientBoosting",
       {kC, kR},
       "gradient boosting",
       "gradient boosting",
       MakeGradientBoosting,
       GradientBoostingParamSpecs,
       8.0},
      {"XGBoostClassifier", {kC}, "XGBoost classifier", "", MakeXgboost, XgboostParamSpecs, 6.0},
      {"XGBoostRegressor", {kR}, "", "XGBoost regressor", MakeXgboost, XgboostParamSpecs, 6.0},
      {"LinearSVM", {kC}, "linear SVM", "", MakeLinearSvm, LinearSvmParamSpecs, 1.0},
      {"SVM", {kC, kR}, "SVM", "SVM", MakeSvm, SvmParamSpecs, 10.0},
      {"ElasticNet", {kR}, "", "elastic net", MakeElasticNet, ElasticNetParamSpecs, 1.0},
  };
  return kAll;
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
