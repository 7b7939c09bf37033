#include "hyperdrive/sampler.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Registry {
  std::mutex mu;
  std::map<std::string, SamplerFactory> factories;
  Registry() {
    factories["random"] = MakeRandomSampler;
    factories["grid"] = MakeGridSampler;
    factories["bayesian"] = MakeBayesianSampler;
  }
};

Registry& TheRegistry() {
  static Registry r;
  return r;
}

void RejectUnknownProperties(const Json& props, const std::vector<std::string>& known,
                             const std::string& sampling) {
  if (props.is_null()) return;
  if (!props.is_object()) throw InvalidInput(sampling + " properties must be a dictionary");
  for (auto& [k, v] : props.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string names;
      for (auto& n : known) names += (names.empty() ? "" : ", ") + n;
      throw InvalidInput(
          sampling + " does not support the property '" + k + "'" +
          (known.empty() ? std::string(" (it takes none)") : "; supported: " + names));
    }
  }
}

class RandomSampler : public ParameterSampler {
 public:
  explicit RandomSampler(const SamplerOptions& o) : space_(o.space), seed_(o.seed) {}
  std::optional<Json> Next(uint64_t index, const std::vector<TrialResult>&) override {
    std::mt19937_64 rng(DrawSeed(seed_, index));
    Json out = Json::object();
    for (auto& p : space_.parameters) out[p.name] = p.Sample(rng);
    return out;
  }

 private:
  ParameterSpace space_;
  uint64_t seed_;
};

class GridSampler : public ParameterSampler {
 public:
  explicit GridSampler(const SamplerOptions& o) : space_(o.space) {
    size_ = 1;
    for (auto& p : space_.parameters) size_ *= p.options.size();
  }
  std::optional<Json> Next(uint64_t index, const std::vector<TrialResult>&) override {
    if (index >= size_) return std::nullopt;
    // Mixed radix, the last parameter varying fastest.
    Json out = Json::object();
    uint64_t rest = index;
    std::vector<size_t> pick(space_.parameters.size());
    for (size_t i = space_.parameters.size(); i-- > 0;) {
      size_t n = space_.parameters[i].options.size();
      pick[i] = rest % n;
      rest /= n;
    }
    for (size_t i = 0; i < pick.size(); ++i) {
      out[space_.parameters[i].name] = space_.parameters[i].options[pick[i]];
    }
    return out;
  }
  std::optional<uint64_t> SpaceSize() const override { return size_; }

 private:
  ParameterSpace space_;
  uint64_t size_;
};

}  // namespace

std::unique_ptr<ParameterSampler> MakeRandomSampler(const SamplerOptions& o) {
  RejectUnknownProperties(o.properties, {"rng_seed"}, "RandomParameterSampling");
  return std::make_unique<RandomSampler>(o);
}

std::unique_ptr<ParameterSampler> MakeGridSampler(const SamplerOptions& o) {
  RejectUnknownProperties(o.properties, {}, "GridParameterSampling");
  for (auto& p : o.space.parameters) {
    if (p.type != ExpressionType::kChoice) {
      throw InvalidInput("GridParameterSampling supports only choice() expressions: '" + p.name +
                         "' is " + p.TypeName() + "(); use RandomParameterSampling for it");
    }
  }
  return std::make_unique<GridSampler>(o);
}

void SamplerRegistry::Register(const std::string& name, SamplerFactory factory) {
  auto& r = TheRegistry();
  std::lock_guard lk(r.mu);
  r.factories[Lower(name)] = std::move(factory);
}

std::unique_ptr<ParameterSampler> SamplerRegistry::Create(const std::string& name,
                                                          const SamplerOptions& opts) {
  auto& r = TheRegistry();
  SamplerFactory f;
  {
    std::lock_guard lk(r.mu);
    auto it = r.factories.find(Lower(name));
    if (it == r.factories.end()) {
      std::string names;
      for (auto& [n, _] : r.factories) names += (names.empty() ? "" : ", ") + n;
      throw InvalidInput("unknown parameter sampling '" + name + "'; known: " + names);
    }
    f = it->second;
  }
  return f(opts);
}

std::vector<std::string> SamplerRegistry::Names() {
  auto& r = TheRegistry();
  std::lock_guard lk(r.mu);
  std::vector<std::string> out;
  for (auto& [n, _] : r.factories) out.push_back(n);
  return out;
}

}  // namespace trainyard::hyperdrive
