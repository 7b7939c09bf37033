// The search strategy: which pipeline to evaluate next, learning from results so far. The one
// strategy of the engine: `engine.search` (RunSequentialSearch) and the AutoML driver (through
// the binding's Search, trials run as concurrent child runs) both use it.
//
// Cost-frugal, after FLAML (Wang et al., "FLAML: A Fast and Lightweight AutoML Library",
// MLSys 2021): a first round tries every learner at its cheap initial point (few trees /
// rounds / epochs; registry.cc's SearchProfileOf holds the spaces), strong cheap learners
// first; afterwards a learner is drawn with probability proportional to 1 / ECI, its estimated
// cost for improvement (seconds until it beats the best score so far, from its own improvement
// per trial, assumed to diminish geometrically, and trial cost); inside a learner, randomized
// direct search (FLAML's CFO) moves from the learner's best point along random directions in the
// normalized hyperparameter space, tries the opposite direction on failure, and shrinks the step
// after repeated failures. No pipeline is proposed twice for a learner. Scale-sensitive learners
// also probe the scalers at their best point, first those that suit the other learners. Under a
// time budget, Next() never proposes a trial whose expected seconds exceed the time left. Not
// thread-safe: one driver thread calls Next/Report (results may arrive out of order).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "automl/pipeline.h"

namespace trainyard::automl {

struct SearchSpace {
  Task task = Task::kClassification;
  std::string metric = "accuracy";
  // Registry names; empty = every learner of the task. Blocked names are removed.
  std::vector<std::string> allowed;
  std::vector<std::string> blocked;
  // Scalers tried for scale-sensitive learners (empty: all but none).
  std::vector<Scaler::Kind> scalers;
  Featurizer::Mode featurization = Featurizer::Mode::kAuto;
  uint64_t seed = 0;
  // Training rows (0: unknown). Learners whose cost grows with rows squared (SVM, KNN) get
  // their relative cost scaled by rows / 2,000 above that, for untried learners' estimates.
  size_t rows = 0;
  // Feature columns (0: unknown). With rows x cols above kLargeCells the first round starts
  // with a single depth-limited DecisionTree: a cheap, robust first model on large data
  // (any scale, imbalanced classes, one-hot columns), so a tight budget still returns one.
  size_t cols = 0;
  // The budget is a number of iterations, not time: every trial costs 1 in the learners'
  // estimated cost for improvement (Azure's `iterations` without
  // `experiment_timeout_minutes`), so cheap learners get no discount.
  bool budget_in_iterations = false;
};

// rows x cols from which the first trial is a DecisionTree (see SearchSpace::cols).
inline constexpr double kLargeCells = 100000.0;
// A learner whose first this many trials all failed gets no more trials (a learner-specific
// error, e.g. a solver that cannot take the data: no storm of identical failures).
inline constexpr size_t kMaxFailuresWithoutResult = 3;

struct Trial {
  size_t id = 0;
  PipelineSpec spec;
  std::string label;  // "Standardize SGD classifier"
  // Names of the integer hyperparameters in spec.params.num (n_estimators, max_depth, ...).
  std::vector<std::string> integer_params;
  double expected_seconds = 0;  // 0 while nothing has been measured
};

struct TrialResult {
  size_t id = 0;
  double score = 0;    // the primary metric; NaN when the trial failed
  double seconds = 0;  // wall time of the trial
  bool failed = false;
};

class SearchStrategy {
 public:
  // Throws InvalidInput when no learner is left or the metric does not fit the task.
  explicit SearchStrategy(SearchSpace space);

  // The next trial, or nothing when no learner's next trial is expected to fit in
  // `seconds_left` (its expected seconds come from the learner's measured seconds per unit of
  // its cost-related hyperparameters; an untried learner's from its relative cost and the
  // tried ones' seconds; before any measurement every trial fits).
  std::optional<Trial> Next(double seconds_left = std::numeric_limits<double>::infinity());
  // Results may arrive in any order. Throws InvalidInput for an id that is not pending.
  void Report(const TrialResult& result);

  double best_score() const { return best_; }
  bool has_best() const { return has_best_; }
  // Learners in the search, in first-round order.
  std::vector<std::string> learners() const;

 private:
  // A pipeline within one learner: scaler and hyperparameter values (rounded as proposed).
  using PipelineKey =
      std::tuple<Scaler::Kind, std::map<std::string, double>, std::map<std::string, std::string>>;
  static PipelineKey KeyOf(const PipelineSpec& spec);
  struct LearnerState {
    std::string name;
    std::vector<ParamSpec> dims;
    std::vector<double> best_point, init_point;
    size_t best_scaler = 0;
    std::vector<bool> scaler_tried;   // scale-sensitive learners: scalers_ tried so far
    std::vector<double> scaler_best;  // best score with each of scalers_ (NaN: none yet)
    std::set<PipelineKey> seen;       // every pipeline proposed
    Scaler::Kind fixed_scaler = Scaler::Kind::kMaxAbs;
    double best = 0;
    bool has_best = false;
    double step = 0.3;
    size_t fails = 0;             // proposals since the last improvement
    size_t trials = 0;            // proposed
    size_t reports = 0;           // reported
    double total_seconds = 0;     // cost spent on this learner (seconds, or trials)
    double seconds_per_size = 0;  // wall seconds per unit of Size(point), moving average
    double seconds_at_best = 0;
    double cost = 0;               // seconds of its recent trial (moving average)
    double delta = 0;              // expected improvement per trial (score units)
    std::vector<double> last_dir;  // direction of the last proposal (for the opposite move)
    bool tried_opposite = true;
    bool scale_sensitive = false;
    double relative_cost = 1;
  };
  struct Pending {
    size_t learner;
    std::vector<double> point;
    size_t scaler;
    bool probe = false;  // a scaler probe at the best point (no move in the space)
  };

  bool Better(double a, double b) const { return higher_ ? a > b : a < b; }
  // Product of the cost-related hyperparameters (n_estimators, max_iter) at `point`.
  double Size(const LearnerState& l, const std::vector<double>& point) const;
  // Expected wall seconds of a trial at `point`; 0 when nothing is measured yet.
  double ExpectedSeconds(const LearnerState& l, const std::vector<double>& point) const;
  std::optional<size_t> ChooseLearner(double seconds_left);
  std::vector<double> Propose(LearnerState& l);
  PipelineSpec ToSpec(const LearnerState& l, const std::vector<double>& point, size_t scaler) const;

  SearchSpace space_;
  bool higher_ = true;
  std::vector<LearnerState> learners_;
  std::vector<Scaler::Kind> scalers_;
  std::map<size_t, Pending> pending_;
  size_t next_id_ = 0;
  std::vector<size_t> initial_order_;  // the first round: by SearchProfile::first_round
  double best_ = 0;
  bool has_best_ = false;
  std::mt19937_64 rng_;
};

// Runs `iterations` trials one after another (or until `time_budget_s` > 0 runs out: no trial
// starts whose expected seconds exceed the time left), evaluating each with `evaluate`
// (returns the primary metric; throw to fail the trial). Returns every trial with its result.
// For `engine.search`, tests and benchmarks; the AutoML driver runs trials of the same
// strategy concurrently as child runs.
struct SearchRecord {
  Trial trial;
  TrialResult result;
};
// With a time budget and `cancel`, a watchdog sets *cancel when the budget is spent, so the
// running trial stops at its next check (`FitContext::cancel`; it counts as failed); evaluate
// should pass `cancel` to its fits.
std::vector<SearchRecord> RunSequentialSearch(
    SearchStrategy& strategy, size_t iterations, double time_budget_s,
    const std::function<double(const PipelineSpec&)>& evaluate,
    std::atomic<bool>* cancel = nullptr);

}  // namespace trainyard::automl
