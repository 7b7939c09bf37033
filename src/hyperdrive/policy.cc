#include "hyperdrive/policy.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

std::string Key(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.size() > 6 && out.substr(out.size() - 6) == "policy") out.resize(out.size() - 6);
  return out;
}

std::string Num(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

// Reads the properties every policy shares and rejects unknown ones.
struct Common {
  int64_t evaluation_interval = 1;
  int64_t delay_evaluation = 0;

  Common(const Json& props, const std::string& policy, const std::vector<std::string>& extra) {
    if (!props.is_null() && !props.is_object()) {
      throw InvalidInput(policy + " properties must be a dictionary");
    }
    if (props.is_null()) return;
    for (auto& [k, v] : props.items()) {
      if (k == "evaluation_interval" || k == "delay_evaluation") {
        if (!v.is_number_integer() || v.get<int64_t>() < (k == "evaluation_interval" ? 1 : 0)) {
          throw InvalidInput(policy + ": " + k + " must be an integer " +
                             (k == "evaluation_interval" ? ">= 1" : ">= 0") + ", got " + v.dump());
        }
        (k == "evaluation_interval" ? evaluation_interval : delay_evaluation) = v.get<int64_t>();
      } else if (std::find(extra.begin(), extra.end(), k) == extra.end()) {
        throw InvalidInput(policy + " does not take the property '" + k + "'");
      }
    }
  }

  bool Applies(size_t n) const {
    return n >= 1 && static_cast<int64_t>(n) % evaluation_interval == 0 &&
           static_cast<int64_t>(n) >= delay_evaluation;
  }
};

bool Better(double a, double b, Goal g) { return g == Goal::kMaximize ? a > b : a < b; }

// Best value among the first n values (n <= size).
double BestOf(const std::vector<double>& v, size_t n, Goal g) {
  double best = v[0];
  for (size_t i = 1; i < n; ++i)
    if (Better(v[i], best, g)) best = v[i];
  return best;
}

class NoTermination : public EarlyTerminationPolicy {
 public:
  PolicyDecision Evaluate(const MetricSeries&, const std::vector<MetricSeries>&) const override {
    return {};
  }
};

class Bandit : public EarlyTerminationPolicy {
 public:
  explicit Bandit(const PolicyOptions& o)
      : common_(o.properties, "BanditPolicy", {"slack_factor", "slack_amount"}), goal_(o.goal) {
    bool has_factor =
        o.properties.contains("slack_factor") && !o.properties["slack_factor"].is_null();
    bool has_amount =
        o.properties.contains("slack_amount") && !o.properties["slack_amount"].is_null();
    if (has_factor == has_amount) {
      throw InvalidInput(
          "BanditPolicy needs exactly one of slack_factor and slack_amount (e.g. "
          "BanditPolicy(slack_factor=0.1, evaluation_interval=1))");
    }
    const Json& v = has_factor ? o.properties["slack_factor"] : o.properties["slack_amount"];
    if (!v.is_number() || v.get<double>() < 0) {
      throw InvalidInput(std::string("BanditPolicy: ") +
                         (has_factor ? "slack_factor" : "slack_amount") +
                         " must be a number >= 0, got " + v.dump());
    }
    factor_ = has_factor;
    slack_ = v.get<double>();
  }

  PolicyDecision Evaluate(const MetricSeries& c,
                          const std::vector<MetricSeries>& all) const override {
    size_t n = c.values.size();
    if (!common_.Applies(n)) return {};
    double mine = BestOf(c.values, n, goal_);
    double best = mine;
    for (auto& s : all) {
      if (s.values.empty()) continue;
      double b = BestOf(s.values, std::min(n, s.values.size()), goal_);
      if (Better(b, best, goal_)) best = b;
    }
    double limit;
    if (goal_ == Goal::kMaximize) {
      limit = factor_ ? best / (1 + slack_) : best - slack_;
    } else {
      limit = factor_ ? best * (1 + slack_) : best + slack_;
    }
    if (!Better(limit, mine, goal_)) return {};
    return {true, "BanditPolicy: best value " + Num(mine) + " at interval " + std::to_string(n) +
                      " is outside the slack of the best run's " + Num(best) + " (limit " +
                      Num(limit) + ")"};
  }

 private:
  Common common_;
  Goal goal_;
  bool factor_ = true;
  double slack_ = 0;
};

class MedianStopping : public EarlyTerminationPolicy {
 public:
  explicit MedianStopping(const PolicyOptions& o)
      : common_(o.properties, "MedianStoppingPolicy", {}), goal_(o.goal) {}

  PolicyDecision Evaluate(const MetricSeries& c,
                          const std::vector<MetricSeries>& all) const override {
    size_t n = c.values.size();
    if (!common_.Applies(n)) return {};
    std::vector<double> averages;
    for (auto& s : all) {
      if (s.values.size() < n) continue;
      double sum = 0;
      for (size_t i = 0; i < n; ++i) sum += s.values[i];
      averages.push_back(sum / n);
    }
    if (averages.size() < 2) return {};
    std::sort(averages.begin(), averages.end());
    size_t m = averages.size();
    double median = m % 2 ? averages[m / 2] : 0.5 * (averages[m / 2 - 1] + averages[m / 2]);
    double mine = BestOf(c.values, n, goal_);
    if (!Better(median, mine, goal_)) return {};
    return {true, "MedianStoppingPolicy: best value " + Num(mine) + " at interval " +
                      std::to_string(n) + " is worse than the median " + Num(median) +
                      " of the running averages of " + std::to_string(m) + " runs"};
  }

 private:
  Common common_;
  Goal goal_;
};

class TruncationSelection : public EarlyTerminationPolicy {
 public:
  explicit TruncationSelection(const PolicyOptions& o)
      : common_(o.properties, "TruncationSelectionPolicy",
                {"truncation_percentage", "exclude_finished_jobs"}),
        goal_(o.goal) {
    const Json& p = o.properties.is_object() && o.properties.contains("truncation_percentage")
                        ? o.properties["truncation_percentage"]
                        : Json();
    if (!p.is_number_integer() || p.get<int64_t>() < 1 || p.get<int64_t>() > 99) {
      throw InvalidInput(
          "TruncationSelectionPolicy: truncation_percentage must be an integer between 1 and "
          "99, got " +
          p.dump());
    }
    percentage_ = p.get<int64_t>();
    if (o.properties.contains("exclude_finished_jobs")) {
      const Json& e = o.properties["exclude_finished_jobs"];
      if (!e.is_boolean()) {
        throw InvalidInput("TruncationSelectionPolicy: exclude_finished_jobs must be a boolean");
      }
      exclude_finished_ = e.get<bool>();
    }
  }

  PolicyDecision Evaluate(const MetricSeries& c,
                          const std::vector<MetricSeries>& all) const override {
    size_t n = c.values.size();
    if (!common_.Applies(n)) return {};
    double mine = BestOf(c.values, n, goal_);
    std::vector<double> others;  // every run that reached n, the candidate excluded
    for (auto& s : all) {
      if (s.run_id == c.run_id || s.values.size() < n) continue;
      if (exclude_finished_ && s.finished) continue;
      others.push_back(BestOf(s.values, n, goal_));
    }
    size_t k = others.size() + 1;
    size_t cut = k * static_cast<size_t>(percentage_) / 100;
    // Rank from the worst: how many are not better than the candidate (a tie protects it).
    size_t not_better = 0;
    for (double v : others)
      if (!Better(v, mine, goal_)) ++not_better;
    if (not_better >= cut) return {};
    return {true, "TruncationSelectionPolicy: best value " + Num(mine) + " at interval " +
                      std::to_string(n) + " is in the lowest " + std::to_string(percentage_) +
                      "% of " + std::to_string(k) + " runs"};
  }

 private:
  Common common_;
  Goal goal_;
  int64_t percentage_ = 0;
  bool exclude_finished_ = false;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, PolicyFactory> factories;
  Registry() {
    factories["bandit"] = [](const PolicyOptions& o) { return std::make_unique<Bandit>(o); };
    factories["medianstopping"] = [](const PolicyOptions& o) {
      return std::make_unique<MedianStopping>(o);
    };
    factories["truncationselection"] = [](const PolicyOptions& o) {
      return std::make_unique<TruncationSelection>(o);
    };
    factories["default"] = [](const PolicyOptions& o) -> std::unique_ptr<EarlyTerminationPolicy> {
      Common(o.properties, "NoTerminationPolicy", {});
      return std::make_unique<NoTermination>();
    };
    factories["notermination"] = factories["default"];
  }
};

Registry& TheRegistry() {
  static Registry r;
  return r;
}

}  // namespace

void PolicyRegistry::Register(const std::string& name, PolicyFactory factory) {
  auto& r = TheRegistry();
  std::lock_guard lk(r.mu);
  r.factories[Key(name)] = std::move(factory);
}

std::unique_ptr<EarlyTerminationPolicy> PolicyRegistry::Create(const std::string& name,
                                                               const PolicyOptions& opts) {
  auto& r = TheRegistry();
  PolicyFactory f;
  {
    std::lock_guard lk(r.mu);
    auto it = r.factories.find(Key(name));
    if (it == r.factories.end()) {
      throw InvalidInput("unknown early termination policy '" + name +
                         "'; use Bandit, MedianStopping, TruncationSelection or Default");
    }
    f = it->second;
  }
  return f(opts);
}

std::vector<std::string> PolicyRegistry::Names() {
  auto& r = TheRegistry();
  std::lock_guard lk(r.mu);
  std::vector<std::string> out;
  for (auto& [n, _] : r.factories) out.push_back(n);
  return out;
}

}  // namespace trainyard::hyperdrive
