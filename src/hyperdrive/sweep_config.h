// A HyperDrive sweep's settings (what HyperDriveConfig sends, docs/REST.md "HyperDrive"),
// validated as a whole before anything is created. Stored in the parent run's definition
// under "hyperdrive", so a restarted server resumes the sweep from the metadata store alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hyperdrive/parameter_space.h"
#include "hyperdrive/policy.h"
#include "hyperdrive/sampler.h"

namespace trainyard::hyperdrive {

struct SweepConfig {
  std::string sampling = "random";  // SamplerRegistry name
  ParameterSpace space;
  Json sampling_properties = Json::object();
  std::string policy = "Default";  // PolicyRegistry name
  Json policy_properties = Json::object();
  std::string primary_metric_name;
  Goal goal = Goal::kMaximize;
  int64_t max_total_runs = 0;
  int64_t max_concurrent_runs = 0;
  double max_duration_minutes = 10080;
  uint64_t seed = 0;
  Json resume_from = Json::array();  // earlier HyperDrive parent run ids (warm start)
  // Children of earlier sweeps to run again first, with their hyperparameters, each from its
  // checkpoint (the earlier child's outputs/, given to the script as --resume-from).
  Json resume_child_runs = Json::array();

  // Parses and validates (InvalidInput naming the field). A missing seed is drawn at random
  // (sampling property rng_seed wins) so that the stored config reproduces the sweep.
  static SweepConfig Parse(const Json& wire);
  Json ToJson() const;

  std::unique_ptr<ParameterSampler> MakeSampler() const;
  std::unique_ptr<EarlyTerminationPolicy> MakePolicy() const;
};

}  // namespace trainyard::hyperdrive
