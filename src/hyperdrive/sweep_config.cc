#include "hyperdrive/sweep_config.h"

#include <cmath>
#include <random>
#include <set>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

int64_t PositiveInt(const Json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw InvalidInput(name + " must be an integer between " + std::to_string(lo) + " and " +
                       std::to_string(hi) + ", got " + v.dump());
  }
  return v.get<int64_t>();
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

SweepConfig SweepConfig::Parse(const Json& w) {
  if (!w.is_object()) throw InvalidInput("'hyperdrive' must be an object (see docs/REST.md)");
  SweepConfig c;
  const Json& s = w.value("sampling", Json());
  if (!s.is_object()) {
    throw InvalidInput(
        "hyperparameter_sampling is required (RandomParameterSampling, "
        "GridParameterSampling or BayesianParameterSampling)");
  }
  c.sampling = Lower(s.value("name", "random"));
  if (c.sampling == "bayesianoptimization") c.sampling = "bayesian";
  c.space = ParameterSpace::Parse(s.value("parameter_space", Json()));
  c.sampling_properties = s.value("properties", Json::object());
  if (c.sampling_properties.is_null()) c.sampling_properties = Json::object();

  const Json& p = w.value("policy", Json());
  if (p.is_object()) {
    c.policy = p.value("name", "Default");
    c.policy_properties = p.value("properties", Json::object());
    if (c.policy_properties.is_null()) c.policy_properties = Json::object();
  } else if (!p.is_null()) {
    throw InvalidInput("policy must be an early termination policy object or null");
  }

  const Json& name = w.value("primary_metric_name", Json());
  if (!name.is_string() || name.get<std::string>().empty()) {
    throw InvalidInput(
        "primary_metric_name is required: the name of the metric the training "
        "script logs, e.g. 'Accuracy'");
  }
  c.primary_metric_name = name;
  std::string goal = Lower(w.value("primary_metric_goal", Json("")).is_string()
                               ? w.value("primary_metric_goal", "")
                               : "");
  if (goal == "maximize") {
    c.goal = Goal::kMaximize;
  } else if (goal == "minimize") {
    c.goal = Goal::kMinimize;
  } else {
    throw InvalidInput(
        "primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or "
        "PrimaryMetricGoal.MINIMIZE");
  }
  c.max_total_runs = PositiveInt(w.value("max_total_runs", Json()), "max_total_runs", 1, 1000);
  const Json& mc = w.value("max_concurrent_runs", Json());
  c.max_concurrent_runs = mc.is_null() ? std::min<int64_t>(c.max_total_runs, 100)
                                       : PositiveInt(mc, "max_concurrent_runs", 1, 100);
  const Json& md = w.value("max_duration_minutes", Json());
  if (!md.is_null()) {
    if (!md.is_number() || !(md.get<double>() > 0) || md.get<double>() > 43200) {
      throw InvalidInput("max_duration_minutes must be a number > 0 and <= 43200, got " +
                         md.dump());
    }
    c.max_duration_minutes = md.get<double>();
  }
  const Json& rf = w.value("resume_from", Json());
  if (rf.is_array()) {
    for (auto& id : rf) {
      if (!id.is_string()) throw InvalidInput("resume_from must list HyperDrive run ids");
    }
    c.resume_from = rf;
  } else if (!rf.is_null()) {
    throw InvalidInput("resume_from must list HyperDrive run ids");
  }
  const Json& rc = w.value("resume_child_runs", Json());
  if (rc.is_array()) {
    std::set<std::string> seen;
    for (auto& id : rc) {
      if (!id.is_string()) throw InvalidInput("resume_child_runs must list child run ids");
      if (!seen.insert(id.get<std::string>()).second) {
        throw InvalidInput("resume_child_runs lists '" + id.get<std::string>() + "' twice");
      }
    }
    c.resume_child_runs = rc;
  } else if (!rc.is_null()) {
    throw InvalidInput("resume_child_runs must list child run ids");
  }
  if (static_cast<int64_t>(c.resume_child_runs.size()) > c.max_total_runs) {
    throw InvalidInput("resume_child_runs has " + std::to_string(c.resume_child_runs.size()) +
                       " runs but max_total_runs is " + std::to_string(c.max_total_runs) +
                       ": each resumed child counts as one of the sweep's runs");
  }

  if (c.sampling_properties.contains("rng_seed")) {
    const Json& seed = c.sampling_properties["rng_seed"];
    if (!seed.is_number_integer() || seed.get<int64_t>() < 0) {
      throw InvalidInput("rng_seed must be a non-negative integer, got " + seed.dump());
    }
    c.seed = seed.get<uint64_t>();
  } else if (w.contains("seed") && w["seed"].is_number_unsigned()) {
    c.seed = w["seed"].get<uint64_t>();
  } else {
    c.seed = std::random_device{}() & 0x7fffffff;
  }

  bool no_policy = c.policy_properties.empty() &&
                   (Lower(c.policy) == "default" || Lower(c.policy) == "noterminationpolicy" ||
                    Lower(c.policy) == "notermination");
  if (c.sampling == "bayesian" && !no_policy) {
    throw InvalidInput(
        "Bayesian sampling does not support early termination policies: remove the policy "
        "(policy=None) or use RandomParameterSampling");
  }
  c.MakeSampler();  // validates the space for the sampler (grid: choice only, ...)
  c.MakePolicy();
  return c;
}

Json SweepConfig::ToJson() const {
  return {{"sampling",
           {{"name", sampling},
            {"parameter_space", space.ToWire()},
            {"properties", sampling_properties}}},
          {"policy", {{"name", policy}, {"properties", policy_properties}}},
          {"primary_metric_name", primary_metric_name},
          {"primary_metric_goal", goal == Goal::kMaximize ? "maximize" : "minimize"},
          {"max_total_runs", max_total_runs},
          {"max_concurrent_runs", max_concurrent_runs},
          {"max_duration_minutes", max_duration_minutes},
          {"seed", seed},
          {"resume_from", resume_from},
          {"resume_child_runs", resume_child_runs}};
}

std::unique_ptr<ParameterSampler> SweepConfig::MakeSampler() const {
  SamplerOptions o;
  o.space = space;
  o.properties = sampling_properties;
  o.seed = seed;
  o.goal = goal;
  return SamplerRegistry::Create(sampling, o);
}

std::unique_ptr<EarlyTerminationPolicy> SweepConfig::MakePolicy() const {
  PolicyOptions o;
  o.properties = policy_properties;
  o.goal = goal;
  return PolicyRegistry::Create(policy, o);
}

}  // namespace trainyard::hyperdrive
