#include "automl/search.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include "automl/metrics.h"
#include "automl/registry.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {

// Parameters whose value drives the trial's cost: they start at the low end.
bool CostRelated(const std::string& name) { return name == "n_estimators" || name == "max_iter"; }

// The value a normalized coordinate u in [0, 1] stands for.
double Denormalize(const ParamSpec& s, double u) {
  u = std::clamp(u, 0.0, 1.0);
  double v = s.log && s.low > 0
                 ? std::exp(std::log(s.low) + u * (std::log(s.high) - std::log(s.low)))
                 : s.low + u * (s.high - s.low);
  if (s.type == ParamSpec::Type::kInt) return std::round(v);
  if (v == 0) return v;
  // Five significant digits: readable in the live table and the pipeline spec.
  const double scale = std::pow(10.0, 4 - std::floor(std::log10(std::fabs(v))));
  return std::clamp(std::round(v * scale) / scale, s.low, s.high);
}

double Normalize(const ParamSpec& s, double v) {
  if (s.high <= s.low) return 0.0;
  if (s.log && s.low > 0) {
    v = std::max(v, s.low);
    return std::clamp((std::log(v) - std::log(s.low)) / (std::log(s.high) - std::log(s.low)), 0.0,
                      1.0);
  }
  return std::clamp((v - s.low) / (s.high - s.low), 0.0, 1.0);
}

// Diminishing returns: each trial without improvement multiplies a learner's expected
// improvement per trial by this (Report), so its remaining improvement is delta / (1 - r).
constexpr double kDecay = 0.9;
constexpr double kMaxTrials = 64;

// Trials a learner is expected to need to close `gap` to the best score when its next trial
// improves by `delta` and each later one by kDecay times the one before: n with
// delta (1 - r^n) / (1 - r) = gap. A gap beyond the learner's whole expected remaining gain
// (a weak learner far behind, however cheap) counts as kMaxTrials times how far beyond.
double TrialsToClose(double gap, double delta) {
  const double ratio = gap * (1 - kDecay) / std::max(delta, 1e-12);
  if (ratio >= 1) return kMaxTrials * ratio;
  return std::clamp(std::log(1 - ratio) / std::log(kDecay), 1.0, kMaxTrials);
}

// How far behind its best score a learner is taken to be with a scaler that no other learner
// has a result for, when choosing which scaler to probe next (score units).
constexpr double kUnknownScalerGap = 0.01;

}  // namespace

SearchStrategy::PipelineKey SearchStrategy::KeyOf(const PipelineSpec& spec) {
  return {spec.scaler, spec.params.num, spec.params.str};
}

SearchStrategy::SearchStrategy(SearchSpace space) : space_(std::move(space)), rng_(space_.seed) {
  if (!IsKnownMetric(space_.task, space_.metric)) {
    throw InvalidInput("primary_metric '" + space_.metric + "' is not a " + TaskName(space_.task) +
                       " metric");
  }
  higher_ = HigherIsBetter(space_.metric);
  std::vector<std::string> names =
      space_.allowed.empty() ? LearnerNames(space_.task) : space_.allowed;
  for (const auto& n : names) FindLearner(n, space_.task);  // validates allowed names
  for (const auto& n : space_.blocked) FindLearner(n, space_.task);
  scalers_ = space_.scalers;
  if (scalers_.empty()) {
    for (auto k : Scaler::All()) {
      if (k != Scaler::Kind::kNone) scalers_.push_back(k);
    }
  }
  std::vector<int> first_round;
  for (const auto& n : names) {
    if (std::find(space_.blocked.begin(), space_.blocked.end(), n) != space_.blocked.end()) {
      continue;
    }
    if (std::any_of(learners_.begin(), learners_.end(),
                    [&](const LearnerState& l) { return l.name == n; })) {
      continue;  // listed twice
    }
    const SearchProfile profile = SearchProfileOf(n, space_.task);
    LearnerState l;
    l.name = n;
    l.relative_cost = profile.relative_cost;
    if (profile.quadratic_in_rows && space_.rows > 2000) {
      l.relative_cost *= static_cast<double>(space_.rows) / 2000.0;
    }
    l.scale_sensitive = profile.scale_sensitive;
    l.fixed_scaler = profile.fixed_scaler;
    for (const ParamSpec& s : profile.space) {
      if (s.type == ParamSpec::Type::kChoice) {
        auto def = std::find(s.choices.begin(), s.choices.end(), s.default_str);
        l.init_point.push_back(def == s.choices.end()
                                   ? 0.0
                                   : (static_cast<double>(def - s.choices.begin()) + 0.5) /
                                         static_cast<double>(s.choices.size()));
      } else {
        l.init_point.push_back(Normalize(s, s.default_num));
      }
      l.dims.push_back(s);
    }
    l.best_point = l.init_point;
    l.scaler_tried.assign(scalers_.size(), false);
    l.scaler_best.assign(scalers_.size(), std::numeric_limits<double>::quiet_NaN());
    learners_.push_back(std::move(l));
    first_round.push_back(profile.first_round);
  }
  if (learners_.empty()) {
    throw InvalidInput("no model is left to try: every allowed model is blocked");
  }
  initial_order_.resize(learners_.size());
  std::iota(initial_order_.begin(), initial_order_.end(), 0);
  std::stable_sort(initial_order_.begin(), initial_order_.end(), [&](size_t a, size_t b) {
    if (first_round[a] != first_round[b]) return first_round[a] < first_round[b];
    return learners_[a].relative_cost < learners_[b].relative_cost;
  });
  const double cells =
      static_cast<double>(space_.rows) * static_cast<double>(std::max<size_t>(space_.cols, 1));
  if (space_.rows > 0 && cells > kLargeCells) {
    auto tree = std::find_if(initial_order_.begin(), initial_order_.end(),
                             [&](size_t i) { return learners_[i].name == "DecisionTree"; });
    if (tree != initial_order_.end()) std::rotate(initial_order_.begin(), tree, tree + 1);
  }
}

std::vector<std::string> SearchStrategy::learners() const {
  std::vector<std::string> out;
  for (size_t i : initial_order_) out.push_back(learners_[i].name);
  return out;
}

double SearchStrategy::Size(const LearnerState& l, const std::vector<double>& point) const {
  double size = 1;
  for (size_t d = 0; d < l.dims.size(); ++d) {
    if (CostRelated(l.dims[d].name)) size *= std::max(1.0, Denormalize(l.dims[d], point[d]));
  }
  return size;
}

double SearchStrategy::ExpectedSeconds(const LearnerState& l,
                                       const std::vector<double>& point) const {
  if (l.seconds_per_size > 0) return l.seconds_per_size * Size(l, point);
  // Untried: its relative cost times the measured learners' seconds per unit of relative cost.
  double unit = 0;
  size_t measured = 0;
  for (const LearnerState& m : learners_) {
    if (m.seconds_per_size <= 0) continue;
    unit += m.seconds_per_size * Size(m, m.init_point) / m.relative_cost;
    ++measured;
  }
  if (measured == 0) return 0;
  return unit / static_cast<double>(measured) * l.relative_cost * Size(l, point) /
         Size(l, l.init_point);
}

PipelineSpec SearchStrategy::ToSpec(const LearnerState& l, const std::vector<double>& point,
                                    size_t scaler) const {
  PipelineSpec spec;
  spec.learner = l.name;
  spec.featurization = space_.featurization;
  spec.scaler = l.scale_sensitive ? scalers_[scaler % scalers_.size()] : l.fixed_scaler;
  for (size_t d = 0; d < l.dims.size(); ++d) {
    const ParamSpec& s = l.dims[d];
    if (s.type == ParamSpec::Type::kChoice) {
      size_t k = std::min(s.choices.size() - 1,
                          static_cast<size_t>(std::clamp(point[d], 0.0, 1.0) *
                                              static_cast<double>(s.choices.size())));
      spec.params.str[s.name] = s.choices[k];
    } else {
      // The initial point exactly as the profile states it (no log/exp round trip).
      spec.params.num[s.name] =
          point[d] == l.init_point[d] ? s.default_num : Denormalize(s, point[d]);
    }
  }
  return spec;
}

std::optional<size_t> SearchStrategy::ChooseLearner(double seconds_left) {
  auto fits = [&](const LearnerState& l, const std::vector<double>& point) {
    return ExpectedSeconds(l, point) <= seconds_left;
  };
  // The first round: every learner once at its initial point, in first-round order (one that
  // is not expected to fit in the time left waits).
  for (size_t i : initial_order_) {
    if (learners_[i].trials == 0 && fits(learners_[i], learners_[i].init_point)) return i;
  }
  // Then with probability proportional to 1 / ECI, the estimated cost (seconds) for the
  // learner to improve on the best score so far, among learners with a result.
  std::vector<double> weight(learners_.size(), 0.0);
  std::vector<size_t> waiting;  // tried, but no result yet (concurrent trials)
  bool any = false;
  for (size_t i = 0; i < learners_.size(); ++i) {
    const LearnerState& l = learners_[i];
    if (l.trials == 0 || !fits(l, l.best_point)) continue;
    if (!l.has_best && l.reports >= kMaxFailuresWithoutResult) continue;
    if (l.reports == 0) {
      waiting.push_back(i);
      continue;
    }
    const double cost = std::max(l.cost, 1e-3);
    const double stale = l.total_seconds - l.seconds_at_best;
    double eci;
    if (!l.has_best) {
      // Every trial failed so far: back off exponentially.
      eci = cost * 4 * std::ldexp(1.0, static_cast<int>(std::min<size_t>(l.fails, 30)));
    } else if (!Better(best_, l.best)) {
      eci = std::max(stale, 2 * cost);  // the leader: time since its last improvement
    } else {
      eci = std::max({TrialsToClose(std::fabs(best_ - l.best), l.delta) * cost, stale, cost});
    }
    weight[i] = 1.0 / std::max(eci, 1e-6);
    any = true;
  }
  if (any) {
    std::discrete_distribution<size_t> pick(weight.begin(), weight.end());
    return pick(rng_);
  }
  if (waiting.empty()) return std::nullopt;
  std::uniform_int_distribution<size_t> pick(0, waiting.size() - 1);
  return waiting[pick(rng_)];
}

std::vector<double> SearchStrategy::Propose(LearnerState& l) {
  const size_t d = l.dims.size();
  if (d == 0) return l.best_point;
  std::vector<double> dir(d);
  if (!l.tried_opposite && !l.last_dir.empty()) {
    for (size_t k = 0; k < d; ++k) dir[k] = -l.last_dir[k];
    l.tried_opposite = true;
  } else {
    std::normal_distribution<double> g(0.0, 1.0);
    double norm = 0;
    for (auto& v : dir) {
      v = g(rng_);
      norm += v * v;
    }
    norm = std::sqrt(std::max(norm, 1e-12));
    for (auto& v : dir) v /= norm;
    l.last_dir = dir;
    l.tried_opposite = false;
  }
  // After 2^(d-1) failures around a point the step shrinks (CFO); a tiny step restarts
  // from a random point near the cheap initial configuration.
  if (l.fails > (size_t{1} << std::min<size_t>(d - 1, 6))) {
    l.step *= 0.5;
    l.fails = 0;
  }
  if (l.step < 0.02) {
    l.step = 0.3;
    std::uniform_real_distribution<double> u(0.0, 0.3);
    for (size_t k = 0; k < d; ++k)
      l.best_point[k] = std::clamp(l.init_point[k] + u(rng_), 0.0, 1.0);
  }
  std::vector<double> p(d);
  for (size_t k = 0; k < d; ++k) p[k] = std::clamp(l.best_point[k] + l.step * dir[k], 0.0, 1.0);
  return p;
}

std::optional<Trial> SearchStrategy::Next(double seconds_left) {
  std::optional<size_t> chosen = ChooseLearner(seconds_left);
  if (!chosen) return std::nullopt;
  const size_t i = *chosen;
  LearnerState& l = learners_[i];
  size_t scaler = l.best_scaler;
  bool probe = false;
  if (l.scale_sensitive && l.trials > 0) {
    // Scaler probes: half the time (while some scaler is untried; then a tenth of the time)
    // the best point with another scaler, so a scaler's effect is not confounded with a move.
    std::vector<size_t> untried;
    for (size_t k = 0; k < scalers_.size(); ++k) {
      if (!l.scaler_tried[k]) untried.push_back(k);
    }
    std::bernoulli_distribution probe_now(untried.empty() ? 0.1 : 0.5);
    if (scalers_.size() > 1 && probe_now(rng_)) {
      probe = true;
      if (!untried.empty()) {
        // The untried scaler that suits the other scale-sensitive learners best first (cheap
        // learners find out what suits the data; expensive ones follow): ranked by how far,
        // on average, the other learners' best score with it is from their best score; one
        // that no other learner has a result for ranks as kUnknownScalerGap behind.
        std::vector<double> gap_sum(scalers_.size(), 0.0);
        std::vector<size_t> count(scalers_.size(), 0);
        for (const LearnerState& o : learners_) {
          if (&o == &l || !o.scale_sensitive || !o.has_best) continue;
          for (size_t k = 0; k < scalers_.size(); ++k) {
            if (std::isnan(o.scaler_best[k])) continue;
            gap_sum[k] += std::fabs(o.best - o.scaler_best[k]);
            ++count[k];
          }
        }
        auto rank = [&](size_t k) {
          return count[k] == 0 ? kUnknownScalerGap : gap_sum[k] / static_cast<double>(count[k]);
        };
        scaler = *std::min_element(untried.begin(), untried.end(),
                                   [&](size_t a, size_t b) { return rank(a) < rank(b); });
      } else {
        std::uniform_int_distribution<size_t> other(1, scalers_.size() - 1);
        scaler = (l.best_scaler + other(rng_)) % scalers_.size();
      }
    }
  }
  std::vector<double> point = l.trials == 0 ? l.init_point : probe ? l.best_point : Propose(l);
  // The same pipeline twice says nothing new (a move clamped to a bound, a step rounded back
  // to the best point, a scaler probed there before): move instead, and count a repeated move
  // as a failure, so the step shrinks until Propose restarts the learner elsewhere (a small
  // space that is all seen repeats a pipeline at last).
  if (l.trials > 0 && l.seen.count(KeyOf(ToSpec(l, point, scaler))) != 0) {
    if (probe) {
      probe = false;
      scaler = l.best_scaler;
      point = Propose(l);
    }
    for (int attempt = 0; attempt < 100 && l.seen.count(KeyOf(ToSpec(l, point, scaler))) != 0;
         ++attempt) {
      ++l.fails;
      point = Propose(l);
    }
  }
  if (l.scale_sensitive) l.scaler_tried[scaler] = true;
  if (ExpectedSeconds(l, point) > seconds_left) {
    // Too big for the time left: keep the move, but at the best point's size.
    for (size_t d = 0; d < l.dims.size(); ++d) {
      if (CostRelated(l.dims[d].name)) point[d] = std::min(point[d], l.best_point[d]);
    }
  }
  ++l.trials;
  Trial t;
  t.id = next_id_++;
  t.spec = ToSpec(l, point, scaler);
  t.label = PipelineLabel(Scaler::DisplayName(t.spec.scaler), l.name, space_.task);
  for (const ParamSpec& s : l.dims) {
    if (s.type == ParamSpec::Type::kInt) t.integer_params.push_back(s.name);
  }
  t.expected_seconds = ExpectedSeconds(l, point);
  l.seen.insert(KeyOf(t.spec));
  pending_[t.id] = {i, std::move(point), scaler, probe};
  return t;
}

void SearchStrategy::Report(const TrialResult& r) {
  auto it = pending_.find(r.id);
  if (it == pending_.end()) throw InvalidInput("trial " + std::to_string(r.id) + " is not pending");
  Pending p = std::move(it->second);
  pending_.erase(it);
  LearnerState& l = learners_[p.learner];
  ++l.reports;
  if (r.seconds > 0) {
    const double sps = r.seconds / Size(l, p.point);
    l.seconds_per_size = l.seconds_per_size == 0 ? sps : 0.5 * l.seconds_per_size + 0.5 * sps;
  }
  const double cost = space_.budget_in_iterations ? 1.0 : r.seconds;
  l.total_seconds += cost;
  l.cost = l.cost == 0 ? cost : 0.5 * l.cost + 0.5 * cost;
  if (r.failed || std::isnan(r.score)) {
    ++l.fails;
    l.delta *= 0.5;
    return;
  }
  if (!l.has_best) {
    // Prior: a tenth of the distance to a perfect score (1 for scores, 0 for errors).
    const double ideal = higher_ ? 1.0 : 0.0;
    l.delta = 0.1 * std::fabs(ideal - r.score) + 1e-9;
  }
  if (std::isnan(l.scaler_best[p.scaler]) || Better(r.score, l.scaler_best[p.scaler])) {
    l.scaler_best[p.scaler] = r.score;
  }
  if (!l.has_best || Better(r.score, l.best)) {
    if (l.has_best) l.delta = std::max(std::fabs(r.score - l.best), 0.5 * l.delta);
    l.best = r.score;
    l.has_best = true;
    l.best_point = p.point;
    l.best_scaler = p.scaler;
    l.seconds_at_best = l.total_seconds;
    l.fails = 0;
    l.tried_opposite = true;  // move on from the new point
  } else {
    if (!p.probe) ++l.fails;  // a scaler probe says nothing about the step size
    l.delta *= kDecay;        // each failure lowers the expected gain
  }
  if (!has_best_ || Better(r.score, best_)) {
    best_ = r.score;
    has_best_ = true;
  }
}

std::vector<SearchRecord> RunSequentialSearch(
    SearchStrategy& strategy, size_t iterations, double time_budget_s,
    const std::function<double(const PipelineSpec&)>& evaluate, std::atomic<bool>* cancel) {
  std::vector<SearchRecord> out;
  auto start = std::chrono::steady_clock::now();
  // The watchdog: stops the running trial when the time budget is spent.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog;
  if (cancel && time_budget_s > 0) {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::duration<double>(time_budget_s), [&] { return done; })) {
        cancel->store(true);
      }
    });
  }
  struct StopWatchdog {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& done;
    std::thread& t;
    ~StopWatchdog() {
      {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
      }
      cv.notify_all();
      if (t.joinable()) t.join();
    }
  } stop{mu, cv, done, watchdog};
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (size_t i = 0; i < iterations; ++i) {
    const double left =
        time_budget_s > 0 ? time_budget_s - elapsed() : std::numeric_limits<double>::infinity();
    if (cancel && cancel->load()) break;
    if (left <= 0) break;
    std::optional<Trial> trial = strategy.Next(left);
    if (!trial) break;  // nothing is expected to fit in the time left
    SearchRecord rec;
    rec.trial = std::move(*trial);
    rec.result.id = rec.trial.id;
    auto t0 = std::chrono::steady_clock::now();
    try {
      rec.result.score = evaluate(rec.trial.spec);
    } catch (const std::exception&) {
      rec.result.failed = true;
      rec.result.score = NAN;
    }
    rec.result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    strategy.Report(rec.result);
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace trainyard::automl
