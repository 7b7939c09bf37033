// BayesianParameterSampling: a Gaussian process (Matern 5/2 kernel, length scale and noise by
// marginal likelihood over a small grid) on the finished children's primary metric, the next
// point chosen by expected improvement among random and local candidates. Children still
// running are "fantasized" at the GP mean (kriging believer), so concurrent children spread out.
// The first max(5, d + 1) points (warm-start results from resume_from included) are random draws.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "common/error.h"
#include "hyperdrive/sampler.h"

namespace trainyard::hyperdrive {
namespace {

constexpr size_t kMaxObservations = 300;  // the GP's O(n^3) stays cheap
constexpr int kRandomCandidates = 2000;
constexpr int kLocalCandidates = 100;  // per incumbent
constexpr double kXi = 0.01;

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

double U01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Lower-triangular L with L L^T = A; false when A is not positive definite.
bool Cholesky(const Mat& a, Mat& l) {
  size_t n = a.size();
  l.assign(n, Vec(n, 0.0));
  for (size_t j = 0; j < n; ++j) {
    double s = a[j][j];
    for (size_t k = 0; k < j; ++k) s -= l[j][k] * l[j][k];
    if (s <= 0) return false;
    l[j][j] = std::sqrt(s);
    for (size_t i = j + 1; i < n; ++i) {
      double t = a[i][j];
      for (size_t k = 0; k < j; ++k) t -= l[i][k] * l[j][k];
      l[i][j] = t / l[j][j];
    }
  }
  return true;
}

Vec SolveLower(const Mat& l, const Vec& b) {
  Vec x(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i][k] * x[k];
    x[i] = s / l[i][i];
  }
  return x;
}

Vec SolveUpper(const Mat& l, const Vec& b) {  // solves L^T x = b
  size_t n = b.size();
  Vec x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= l[k][i] * x[k];
    x[i] = s / l[i][i];
  }
  return x;
}

double Matern52(const Vec& a, const Vec& b, double ls) {
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += (a[i] - b[i]) * (a[i] - b[i]);
  double r = std::sqrt(d2) / ls;
  double s5 = std::sqrt(5.0) * r;
  return (1 + s5 + 5.0 * r * r / 3.0) * std::exp(-s5);
}

class GaussianProcess {
 public:
  // Fits on standardized targets; picks (length scale, noise) by log marginal likelihood.
  void Fit(const Mat& x, const Vec& y) {
    x_ = x;
    double best = -INFINITY;
    for (double ls : {0.08, 0.15, 0.25, 0.4, 0.7, 1.2}) {
      for (double noise : {1e-6, 1e-3, 1e-2, 0.1}) {
        Mat l;
        if (!Build(ls, noise, l)) continue;
        Vec alpha = SolveUpper(l, SolveLower(l, y));
        double lml = 0;
        for (size_t i = 0; i < y.size(); ++i) lml -= 0.5 * y[i] * alpha[i] + std::log(l[i][i]);
        if (lml > best) {
          best = lml;
          ls_ = ls;
          noise_ = noise;
          l_ = std::move(l);
          alpha_ = std::move(alpha);
        }
      }
    }
    if (best == -INFINITY) throw InternalError("Bayesian sampling: the GP could not be fitted");
  }

  // Refits with the chosen hyperparameters (after fantasized points were added).
  void Refit(const Mat& x, const Vec& y) {
    x_ = x;
    if (!Build(ls_, noise_, l_)) Build(ls_, noise_ + 1e-3, l_);
    alpha_ = SolveUpper(l_, SolveLower(l_, y));
  }

  void Predict(const Vec& p, double* mean, double* sd) const {
    Vec k(x_.size());
    for (size_t i = 0; i < x_.size(); ++i) k[i] = Matern52(x_[i], p, ls_);
    double m = 0;
    for (size_t i = 0; i < k.size(); ++i) m += k[i] * alpha_[i];
    Vec v = SolveLower(l_, k);
    double var = 1.0;
    for (double t : v) var -= t * t;
    *mean = m;
    *sd = std::sqrt(std::max(var, 1e-12));
  }

 private:
  bool Build(double ls, double noise, Mat& l) {
    size_t n = x_.size();
    Mat k(n, Vec(n));
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j <= i; ++j) k[i][j] = k[j][i] = Matern52(x_[i], x_[j], ls);
      k[i][i] += noise;
    }
    return Cholesky(k, l);
  }

  Mat x_, l_;
  Vec alpha_;
  double ls_ = 0.25, noise_ = 1e-3;
};

double ExpectedImprovement(double mean, double sd, double best) {
  double z = (mean - best - kXi) / sd;
  double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
  double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  return (mean - best - kXi) * cdf + sd * pdf;
}

class BayesianSampler : public ParameterSampler {
 public:
  explicit BayesianSampler(const SamplerOptions& o)
      : space_(o.space), seed_(o.seed), goal_(o.goal) {}

  std::optional<Json> Next(uint64_t index, const std::vector<TrialResult>& history) override {
    std::mt19937_64 rng(DrawSeed(seed_, index));
    Mat x;
    Vec y;
    Mat pending;
    std::set<std::string> seen;
    for (auto& t : history) {
      seen.insert(Decode(Encode(t.parameters)).dump());
      if (t.value && std::isfinite(*t.value)) {
        x.push_back(Encode(t.parameters));
        y.push_back(goal_ == Goal::kMaximize ? *t.value : -*t.value);
      } else if (!t.finished) {
        pending.push_back(Encode(t.parameters));
      }
    }
    size_t warmup = std::max<size_t>(5, space_.parameters.size() + 1);
    if (history.size() < warmup || x.size() < 2) return Decode(RandomPoint(rng));
    if (x.size() > kMaxObservations) {
      x.erase(x.begin(), x.end() - kMaxObservations);
      y.erase(y.begin(), y.end() - kMaxObservations);
    }
    // Standardize.
    double mu = 0, var = 0;
    for (double v : y) mu += v;
    mu /= y.size();
    for (double v : y) var += (v - mu) * (v - mu);
    double sd = std::sqrt(var / y.size());
    if (sd < 1e-12) sd = 1;
    for (double& v : y) v = (v - mu) / sd;
    GaussianProcess gp;
    gp.Fit(x, y);
    for (auto& p : pending) {  // kriging believer
      double m, s;
      gp.Predict(p, &m, &s);
      x.push_back(p);
      y.push_back(m);
    }
    if (!pending.empty()) gp.Refit(x, y);
    double best = *std::max_element(y.begin(), y.end());

    std::vector<Vec> cands;
    for (int i = 0; i < kRandomCandidates; ++i) cands.push_back(RandomPoint(rng));
    std::vector<size_t> order(x.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return y[a] > y[b]; });
    for (size_t t = 0; t < std::min<size_t>(5, order.size()); ++t) {
      for (int i = 0; i < kLocalCandidates; ++i) {
        Vec c = x[order[t]];
        for (double& v : c) {
          double z = std::sqrt(-2 * std::log(std::max(U01(rng), 1e-300))) *
                     std::cos(2 * std::numbers::pi * U01(rng));
          v = std::clamp(v + 0.05 * z, 0.0, 1.0 - 1e-12);
        }
        cands.push_back(std::move(c));
      }
    }
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < cands.size(); ++i) {
      double m, s;
      gp.Predict(cands[i], &m, &s);
      scored.emplace_back(ExpectedImprovement(m, s, best), i);
    }
    std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (auto& [ei, i] : scored) {
      Json p = Decode(cands[i]);
      if (!seen.count(p.dump())) return p;
    }
    return Decode(cands[scored.front().second]);  // every candidate was tried already
  }

 private:
  Vec RandomPoint(std::mt19937_64& rng) const {
    Vec v(space_.parameters.size());
    for (double& d : v) d = U01(rng);
    return v;
  }

  Vec Encode(const Json& params) const {
    Vec v;
    for (auto& p : space_.parameters) {
      const Json& val = params.contains(p.name) ? params[p.name] : Json();
      if (p.type == ExpressionType::kChoice) {
        size_t k = 0;
        for (size_t i = 0; i < p.options.size(); ++i)
          if (p.options[i] == val) k = i;
        v.push_back((k + 0.5) / p.options.size());
      } else {
        double d = val.is_number() ? val.get<double>() : p.a;
        v.push_back(std::clamp((d - p.a) / (p.b - p.a), 0.0, 1.0 - 1e-12));
      }
    }
    return v;
  }

  Json Decode(const Vec& v) const {
    Json out = Json::object();
    for (size_t i = 0; i < space_.parameters.size(); ++i) {
      out[space_.parameters[i].name] = space_.parameters[i].FromDraws(v[i], 0);
    }
    return out;
  }

  ParameterSpace space_;
  uint64_t seed_;
  Goal goal_;
};

}  // namespace

std::unique_ptr<ParameterSampler> MakeBayesianSampler(const SamplerOptions& o) {
  if (o.properties.is_object()) {
    for (auto& [k, v] : o.properties.items()) {
      throw InvalidInput("BayesianParameterSampling does not support the property '" + k + "'");
    }
  }
  for (auto& p : o.space.parameters) {
    if (p.type != ExpressionType::kChoice && p.type != ExpressionType::kUniform &&
        p.type != ExpressionType::kQUniform) {
      throw InvalidInput("BayesianParameterSampling supports only choice, uniform and quniform: '" +
                         p.name + "' is " + p.TypeName() + "()");
    }
  }
  return std::make_unique<BayesianSampler>(o);
}

}  // namespace trainyard::hyperdrive
