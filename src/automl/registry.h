// The learner registry: Azure AutoML's model names -> factories, the tasks each supports,
// its short name in the live table ("extra trees", "SGD classifier"), and its hyperparameter
// space. An explicit table in registry.cc (no static self-registration: the engine is a
// static library and the linker would drop unreferenced registrars).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "automl/learner.h"
#include "automl/preprocess.h"

namespace trainyard::automl {

struct LearnerInfo {
  std::string name;  // "ExtremeRandomTrees"
  std::vector<Task> tasks;
  std::string classification_label;  // "extra trees"
  std::string regression_label;
  std::function<std::unique_ptr<Learner>()> make;
  std::function<std::vector<ParamSpec>()> params;
};

const std::vector<LearnerInfo>& AllLearners();
// Names for `task`, in registry order.
std::vector<std::string> LearnerNames(Task task);
// Throws InvalidInput listing the valid names when `name` is unknown or not for `task`.
const LearnerInfo& FindLearner(const std::string& name, Task task);

// A configured, unfitted learner. Unknown parameter names throw InvalidInput naming the
// learner's parameters.
std::unique_ptr<Learner> CreateLearner(const std::string& name, Task task, const Params& params);

// How the search treats a learner (one table in registry.cc, the only place search spaces
// live): the hyperparameters it tunes, each a subset of the learner's params() with the range
// searched and default_num / default_str its cheap initial value (FLAML's low-cost point:
// few trees / rounds / epochs); its relative cost (1 = a linear model on the same data); its
// place in the first round (strong, cheap learners first); whether its inputs are scaled by
// the searched scaler (scale-sensitive) or get a fixed one.
struct SearchProfile {
  std::vector<ParamSpec> space;
  double relative_cost = 1.0;
  int first_round = 0;
  bool scale_sensitive = false;
  bool quadratic_in_rows = false;  // kernel SVM, KNN: cost grows with rows squared
  // For learners that are not scale-sensitive: the fixed scaler (Azure shows "MaxAbsScaler"
  // before tree learners; multinomial naive Bayes needs non-negative inputs: Scale 0/1).
  Scaler::Kind fixed_scaler = Scaler::Kind::kMaxAbs;
};
// Throws InvalidInput (as FindLearner) when `learner` is unknown or not for `task`.
SearchProfile SearchProfileOf(const std::string& learner, Task task);

// The live-table description of a pipeline: "Standardize SGD classifier", "extra trees".
std::string PipelineLabel(const std::string& scaler_display, const std::string& learner, Task task);

}  // namespace trainyard::automl
