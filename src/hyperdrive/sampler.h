// Parameter samplers: where a sweep's next child's hyperparameters come from. An interface with
// named implementations chosen from a registry (as Azure's sampling names them):
//   "random"   RandomParameterSampling: independent draws; draw i depends only on (seed, i)
//   "grid"     GridParameterSampling: every combination of choice() values once, in order
//   "bayesian" BayesianParameterSampling: a Gaussian process on the finished children's
//              results, next point by expected improvement (the first kBayesianWarmup random)
//
// A sampler is used from one thread at a time (the sweep controller's).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hyperdrive/parameter_space.h"

namespace trainyard::hyperdrive {

// What a sampler may learn from earlier children.
struct TrialResult {
  Json parameters;              // name -> value (the wire names of the space)
  std::optional<double> value;  // the child's primary metric (best reported); none while running
  bool finished = false;        // terminal (Completed, Failed, Canceled)
};

enum class Goal { kMaximize, kMinimize };

class ParameterSampler {
 public:
  virtual ~ParameterSampler() = default;
  // The hyperparameters (name -> value) of child number `index` (0-based), or nullopt when the
  // space is exhausted (grid). `history` holds children 0 .. index-1 as known now.
  virtual std::optional<Json> Next(uint64_t index, const std::vector<TrialResult>& history) = 0;
  // How many distinct points the space has, when finite (grid); nullopt otherwise.
  virtual std::optional<uint64_t> SpaceSize() const { return std::nullopt; }
};

struct SamplerOptions {
  ParameterSpace space;
  Json properties = Json::object();  // Azure's sampling properties
  uint64_t seed = 0;
  Goal goal = Goal::kMaximize;
};

using SamplerFactory = std::function<std::unique_ptr<ParameterSampler>(const SamplerOptions&)>;

// Names -> factories. The built-in samplers are registered on first use. Thread-safe.
class SamplerRegistry {
 public:
  static void Register(const std::string& name, SamplerFactory factory);
  // Creates the sampler `name` (case-insensitive); InvalidInput for an unknown name or a space
  // the sampler does not support (e.g. grid with uniform()).
  static std::unique_ptr<ParameterSampler> Create(const std::string& name,
                                                  const SamplerOptions& opts);
  static std::vector<std::string> Names();
};

// Built-in factories (registered by SamplerRegistry).
std::unique_ptr<ParameterSampler> MakeRandomSampler(const SamplerOptions& opts);
std::unique_ptr<ParameterSampler> MakeGridSampler(const SamplerOptions& opts);
std::unique_ptr<ParameterSampler> MakeBayesianSampler(const SamplerOptions& opts);

}  // namespace trainyard::hyperdrive
