// Early termination policies: decide, when a child reports its primary metric, whether it is
// so far behind that it should be canceled. An interface with named implementations chosen
// from a registry (Azure's policy names; case and '_' ignored):
//   "Bandit"              BanditPolicy(slack_factor | slack_amount, evaluation_interval,
//                         delay_evaluation): stop when the child's best value so far is not
//                         within the slack of the best value any child had reached by the same
//                         interval (maximize: v < best / (1 + slack_factor), v < best -
//                         slack_amount; minimize: v > best * (1 + slack_factor), v > best +
//                         slack_amount)
//   "MedianStopping"      MedianStoppingPolicy(evaluation_interval, delay_evaluation): stop when
//                         the child's best value so far is worse than the median of the running
//                         averages (over the same intervals) of the children that reached it
//   "TruncationSelection" TruncationSelectionPolicy(truncation_percentage, evaluation_interval,
//                         delay_evaluation, exclude_finished_jobs): of the k children that
//                         reached the interval (ranked by best value so far), the lowest
//                         floor(k * truncation_percentage / 100) are stopped; a tie with a
//                         child that is not cut protects the candidate
//   "Default"             NoTerminationPolicy: never stops a child
// An interval is one report of the primary metric; a policy applies at report n when
// n % evaluation_interval == 0 and n >= delay_evaluation.
//
// Policies are stateless between calls; Evaluate is const and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hyperdrive/sampler.h"

namespace trainyard::hyperdrive {

// A child's primary metric as reported so far (numbers only, in log order).
struct MetricSeries {
  std::string run_id;
  std::vector<double> values;
  bool finished = false;  // terminal
};

struct PolicyDecision {
  bool terminate = false;
  std::string reason;  // why, for the child's record (set when terminate)
};

struct PolicyOptions {
  Json properties = Json::object();  // Azure's policy properties
  Goal goal = Goal::kMaximize;
};

class EarlyTerminationPolicy {
 public:
  virtual ~EarlyTerminationPolicy() = default;
  // `candidate` has just reported its values.size()-th value; `all` holds every child of the
  // sweep that reported the metric (the candidate included).
  virtual PolicyDecision Evaluate(const MetricSeries& candidate,
                                  const std::vector<MetricSeries>& all) const = 0;
};

using PolicyFactory = std::function<std::unique_ptr<EarlyTerminationPolicy>(const PolicyOptions&)>;

class PolicyRegistry {
 public:
  static void Register(const std::string& name, PolicyFactory factory);
  // InvalidInput for an unknown name or invalid properties (naming the property and rule).
  static std::unique_ptr<EarlyTerminationPolicy> Create(const std::string& name,
                                                        const PolicyOptions& opts);
  static std::vector<std::string> Names();
};

}  // namespace trainyard::hyperdrive
