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

namespace trainyard::automl {

struct LearnerInfo {
  std::string name;  // "ExtremeRandomTrees"
  std::vector<Task> tasks;
  std::string classification_label;  // "extra trees"
  std::string regression_label;
  std::function<std::unique_ptr<Learner>()> make;
  std::function<std::vector<ParamSpec>()> params;
  // Relative cost estimate (1 = a linear model on this data), for cheap-first search.
  double relative_cost = 1.0;
};

const std::vector<LearnerInfo>& AllLearners();
// Names for `task`, in registry order.
std::vector<std::string> LearnerNames(Task task);
// Throws InvalidInput listing the valid names when `name` is unknown or not for `task`.
const LearnerInfo& FindLearner(const std::string& name, Task task);

// A configured, unfitted learner. Unknown parameter names throw InvalidInput naming the
// learner's parameters.
std::unique_ptr<Learner> CreateLearner(const std::string& name, Task task, const Params& params);

// The live-table description of a pipeline: "Standardize SGD classifier", "extra trees".
std::string PipelineLabel(const std::string& scaler_display, const std::string& learner, Task task);

}  // namespace trainyard::automl
