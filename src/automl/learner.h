// The learner interface and hyperparameters. A learner is created by name from the registry
// (registry.h), fitted once, then used read-only: Predict is thread-safe after Fit/Load.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "automl/bytes.h"
#include "automl/matrix.h"

namespace trainyard::automl {

struct TreeEnsemble;
struct LinearModel;

// Hyperparameter values by name: numbers and strings. Validated against the learner's
// ParamSpec list when the learner is created.
struct Params {
  std::map<std::string, double> num;
  std::map<std::string, std::string> str;

  double Num(const std::string& name, double fallback) const {
    auto it = num.find(name);
    return it == num.end() ? fallback : it->second;
  }
  std::string Str(const std::string& name, const std::string& fallback) const {
    auto it = str.find(name);
    return it == str.end() ? fallback : it->second;
  }
  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);
};

// One hyperparameter: a learner's accepted range (params()), or a searched range in a search
// profile (registry.h's SearchProfile, default = the initial point). Numeric values lie in
// [low, high] (log-uniform when `log`); kChoice values are one of `choices`.
struct ParamSpec {
  enum class Type { kInt, kFloat, kChoice } type = Type::kFloat;
  std::string name;
  double low = 0, high = 0, default_num = 0;
  bool log = false;
  std::vector<std::string> choices;
  std::string default_str;

  // The one way the learners and the search build their spaces.
  static ParamSpec Float(std::string name, double low, double high, double init, bool log = false);
  static ParamSpec Int(std::string name, double low, double high, double init, bool log = false);
  static ParamSpec Choice(std::string name, std::vector<std::string> choices, std::string init);
};

// Resources and controls for one fit.
struct FitContext {
  size_t threads = 1;  // max_cores_per_iteration
  uint64_t seed = 0;
  // Checked between trees/epochs; when set the fit throws Cancelled. May be null.
  const std::atomic<bool>* cancel = nullptr;
  bool Cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
};

class Learner {
 public:
  virtual ~Learner() = default;

  // Registry name ("RandomForest").
  virtual std::string name() const = 0;
  Task task() const { return task_; }
  size_t num_outputs() const { return n_outputs_; }

  // X holds no NaN (the featurizer ran); y matches the task. Throws InvalidInput on data the
  // learner cannot use (e.g. negative counts for MultinomialNaiveBayes).
  virtual void Fit(const Matrix& X, const Target& y, const FitContext& ctx) = 0;
  // Classification: rows x C class probabilities (rows sum to 1). Regression: rows x 1.
  virtual Matrix Predict(const Matrix& X) const = 0;

  // Learner-specific state (hyperparameters are saved by the pipeline).
  virtual void SaveState(ByteWriter& w) const = 0;
  virtual void LoadState(ByteReader& r) = 0;

  // Structure for exact explainers, when the learner has it.
  virtual const TreeEnsemble* trees() const { return nullptr; }
  virtual const LinearModel* linear() const { return nullptr; }
  // Exact SHAP values the learner computes itself (XGBoost), per margin: rows x (features+1)
  // with the expected value last; empty when it has none.
  virtual bool has_native_shap() const { return false; }
  virtual std::vector<Matrix> NativeShap(const Matrix& X) const {
    (void)X;
    return {};
  }

  const Params& params() const { return params_; }
  void Configure(Task task, Params params) {
    task_ = task;
    params_ = std::move(params);
  }

 protected:
  // Check `X` has the trained column count (InvalidInput otherwise).
  void CheckPredictInput(const Matrix& X) const;
  void SaveShape(ByteWriter& w) const;
  void LoadShape(ByteReader& r);

  Task task_ = Task::kClassification;
  Params params_;
  size_t n_outputs_ = 0;   // C for classification, 1 for regression
  size_t n_features_ = 0;  // columns seen at fit
};

// Thrown out of Fit when FitContext::cancel was set.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("the fit was cancelled") {}
};

// Runs fn(i) for i in [0, n) on up to `threads` threads (the caller's thread included).
// Exceptions from fn are rethrown (the first) after all threads stop.
void ParallelFor(size_t n, size_t threads, const std::function<void(size_t)>& fn);

}  // namespace trainyard::automl
