// Samplers: each expression's draws against its exact distribution (Kolmogorov-Smirnov for the
// continuous ones, chi-square for the discrete and quantized ones), reproducibility, grid
// exhaustion, and the Bayesian sampler beating random search on a smooth function.
#include "hyperdrive/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/error.h"
#include "hyperdrive/sweep_config.h"

namespace trainyard::hyperdrive {
namespace {

constexpr int kDraws = 20000;

std::vector<double> Draw(const Json& expr, uint64_t seed = 42, int n = kDraws) {
  SamplerOptions o;
  o.space = ParameterSpace::Parse(Json::array({{{"name", "p"}, {"expression", expr}}}));
  o.seed = seed;
  auto s = SamplerRegistry::Create("random", o);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back((*s->Next(i, {}))["p"].get<double>());
  return out;
}

// KS statistic against the expression's exact CDF; critical value at alpha = 0.001.
void ExpectKs(const Json& expr) {
  auto xs = Draw(expr);
  auto p =
      ParameterSpace::Parse(Json::array({{{"name", "p"}, {"expression", expr}}})).parameters[0];
  std::sort(xs.begin(), xs.end());
  double d = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    double f = p.Cdf(xs[i]);
    d = std::max({d, std::abs(f - double(i) / xs.size()), std::abs(f - double(i + 1) / xs.size())});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(double(xs.size()))) << expr.dump();
}

// Chi-square of the draws of a quantized expression against P(value = k q) computed from the
// CDF of the value before rounding; cells with expected count < 20 are pooled.
void ExpectQuantized(const Json& expr) {
  auto xs = Draw(expr);
  auto p =
      ParameterSpace::Parse(Json::array({{{"name", "p"}, {"expression", expr}}})).parameters[0];
  std::map<int64_t, int> counts;
  for (double x : xs) {
    double k = x / p.q;
    ASSERT_NEAR(k, std::round(k), 1e-9) << "not a multiple of q: " << x;
    counts[static_cast<int64_t>(std::llround(k))]++;
  }
  double chi2 = 0, pooled_obs = 0, pooled_exp = 0;
  int cells = 0;
  for (auto& [k, c] : counts) {
    double lo = (k - 0.5) * p.q, hi = (k + 0.5) * p.q;
    double e = (p.Cdf(hi) - p.Cdf(lo)) * xs.size();
    if (e < 20) {
      pooled_obs += c;
      pooled_exp += e;
      continue;
    }
    chi2 += (c - e) * (c - e) / e;
    ++cells;
  }
  if (pooled_exp >= 5) {
    chi2 += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++cells;
  }
  ASSERT_GE(cells, 3) << expr.dump();
  // Wilson-Hilferty upper 0.001 quantile of chi-square with cells - 1 degrees of freedom.
  double df = cells - 1;
  double crit = df * std::pow(1 - 2 / (9 * df) + 3.09 * std::sqrt(2 / (9 * df)), 3);
  EXPECT_LT(chi2, crit) << expr.dump() << " df " << df;
}

TEST(HyperDriveSampler, ContinuousExpressionsMatchTheirExactCdf) {
  ExpectKs({"uniform", {-2, 5}});
  ExpectKs({"loguniform", {-6, -1}});  // exp(uniform(-6, -1)), as Azure's
  ExpectKs({"normal", {3, 2}});
  ExpectKs({"lognormal", {0, 0.5}});
}

TEST(HyperDriveSampler, LoguniformTakesLogBounds) {
  auto xs = Draw({"loguniform", {-6, -1}}, 1, 2000);
  for (double x : xs) {
    EXPECT_GE(x, std::exp(-6.0));
    EXPECT_LE(x, std::exp(-1.0));
  }
}

TEST(HyperDriveSampler, QuantizedExpressionsMatchRoundedDistributions) {
  ExpectQuantized({"quniform", {0, 10, 2}});
  ExpectQuantized({"qloguniform", {0, 4, 5}});
  ExpectQuantized({"qnormal", {10, 3, 1}});
  ExpectQuantized({"qlognormal", {2, 0.5, 1}});
}

TEST(HyperDriveSampler, ChoiceAndRandintAreUniform) {
  for (const Json& expr : {Json{"choice", {{1, 2, 3, 4, 5}}}, Json{"randint", {7}}}) {
    auto xs = Draw(expr);
    std::map<double, int> c;
    for (double x : xs) c[x]++;
    size_t k = expr[0] == "choice" ? 5 : 7;
    ASSERT_EQ(c.size(), k);
    double e = double(xs.size()) / k, chi2 = 0;
    for (auto& [v, n] : c) chi2 += (n - e) * (n - e) / e;
    EXPECT_LT(chi2, 22.46) << expr.dump();  // chi-square(6) upper 0.001
  }
  auto xs = Draw({"randint", {7}}, 3, 500);
  for (double x : xs) EXPECT_TRUE(x >= 0 && x < 7 && x == std::floor(x));
}

TEST(HyperDriveSampler, RandomIsReproducibleAndIndexAddressed) {
  SamplerOptions o;
  o.space = ParameterSpace::Parse(
      Json::object({{"--lr", {"loguniform", {-6, -1}}}, {"--b", {"choice", {{25, 50, 100}}}}}));
  o.seed = 123;
  auto a = SamplerRegistry::Create("random", o);
  auto b = SamplerRegistry::Create("RANDOM", o);
  std::vector<Json> first;
  for (int i = 0; i < 20; ++i) first.push_back(*a->Next(i, {}));
  for (int i = 19; i >= 0; --i) EXPECT_EQ(*b->Next(i, {}), first[i]);  // any order
  o.seed = 124;
  auto c = SamplerRegistry::Create("random", o);
  EXPECT_NE(*c->Next(0, {}), first[0]);
}

TEST(HyperDriveSampler, GridExhaustsEveryCombinationOnce) {
  SamplerOptions o;
  o.space = ParameterSpace::Parse(Json::array(
      {{{"name", "--a"}, {"expression", {"choice", {{1, 2, 3}}}}},
       {{"name", "--k"},
        {"expression", Json::array({"choice", Json::array({Json::array({"linear", "rbf"})})})}}}));
  auto g = SamplerRegistry::Create("grid", o);
  EXPECT_EQ(g->SpaceSize(), 6u);
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.insert(g->Next(i, {})->dump());
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_FALSE(g->Next(6, {}).has_value());
  EXPECT_EQ((*g->Next(1, {}))["--k"], "rbf");  // the last parameter varies fastest
  o.space = ParameterSpace::Parse(Json::object({{"--x", {"uniform", {0, 1}}}}));
  EXPECT_THROW(SamplerRegistry::Create("grid", o), InvalidInput);
}

TEST(HyperDriveSampler, BayesianBeatsRandomOnASmoothFunction) {
  // Maximize f(x, y) = -(x - 0.73)^2 - (y - 0.21)^2 on [0, 1]^2 with 25 evaluations.
  auto f = [](const Json& p) {
    double x = p["x"], y = p["y"];
    return -(x - 0.73) * (x - 0.73) - (y - 0.21) * (y - 0.21);
  };
  SamplerOptions o;
  o.space =
      ParameterSpace::Parse(Json::object({{"x", {"uniform", {0, 1}}}, {"y", {"uniform", {0, 1}}}}));
  int bayes_wins = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    o.seed = seed;
    auto bayes = SamplerRegistry::Create("bayesian", o);
    auto rnd = SamplerRegistry::Create("random", o);
    std::vector<TrialResult> hist;
    double best_b = -1e9, best_r = -1e9;
    for (int i = 0; i < 25; ++i) {
      Json p = *bayes->Next(i, hist);
      double v = f(p);
      hist.push_back({p, v, true});
      best_b = std::max(best_b, v);
      best_r = std::max(best_r, f(*rnd->Next(i, {})));
    }
    bayes_wins += best_b > best_r;
    EXPECT_GT(best_b, -0.003) << "seed " << seed;
  }
  EXPECT_GE(bayes_wins, 4);
}

TEST(HyperDriveSampler, BayesianRejectsOtherExpressions) {
  SamplerOptions o;
  o.space = ParameterSpace::Parse(Json::object({{"--lr", {"loguniform", {-6, -1}}}}));
  EXPECT_THROW(SamplerRegistry::Create("bayesian", o), InvalidInput);
}

TEST(HyperDriveSpace, InvalidExpressionsAreRefusedWithTheRule) {
  auto msg = [](const Json& space) {
    try {
      ParameterSpace::Parse(space);
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg(Json::object({{"--b", {"quniform", {0, 10, 0}}}})).find("q must be > 0"),
            std::string::npos);
  EXPECT_NE(msg(Json::object({{"--b", {"uniform", {3, 1}}}})).find("min_value < max_value"),
            std::string::npos);
  EXPECT_NE(msg(Json::object({{"--b", {"normal", {0, -1}}}})).find("sigma must be > 0"),
            std::string::npos);
  EXPECT_NE(msg(Json::object({{"--b", {"gamma", {1}}}})).find("unknown parameter expression"),
            std::string::npos);
  EXPECT_NE(msg(Json::object()).find("empty"), std::string::npos);
}

TEST(HyperDriveSpace, ArgumentsAreFormattedLikePythonStr) {
  EXPECT_EQ(FormatArgument(1.0), "1.0");
  EXPECT_EQ(FormatArgument(0.001), "0.001");
  EXPECT_EQ(FormatArgument(1e-5), "1e-05");
  EXPECT_EQ(FormatArgument(0.0001), "0.0001");
  EXPECT_EQ(FormatArgument(123456.5), "123456.5");
  EXPECT_EQ(FormatArgument(1e16), "1e+16");
  EXPECT_EQ(FormatArgument(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(FormatArgument(Json(50)), "50");
  EXPECT_EQ(FormatArgument(Json("rbf")), "rbf");
  EXPECT_EQ(FormatArgument(Json(true)), "True");
}

TEST(HyperDriveConfigTest, ValidatesLimitsAndBayesianWithoutPolicy) {
  Json w = {{"sampling",
             {{"name", "RANDOM"},
              {"parameter_space", Json::object({{"--x", {"uniform", {0, 1}}}})},
              {"properties", {{"rng_seed", 5}}}}},
            {"primary_metric_name", "acc"},
            {"primary_metric_goal", "MAXIMIZE"},
            {"max_total_runs", 10}};
  SweepConfig c = SweepConfig::Parse(w);
  EXPECT_EQ(c.seed, 5u);
  EXPECT_EQ(c.max_concurrent_runs, 10);
  EXPECT_EQ(SweepConfig::Parse(c.ToJson()).ToJson(), c.ToJson());
  Json bad = w;
  bad["max_total_runs"] = 0;
  EXPECT_THROW(SweepConfig::Parse(bad), InvalidInput);
  bad = w;
  bad["max_concurrent_runs"] = 101;
  EXPECT_THROW(SweepConfig::Parse(bad), InvalidInput);
  bad = w;
  bad["sampling"]["name"] = "BayesianOptimization";
  bad["sampling"]["properties"] = Json::object();
  bad["policy"] = {{"name", "Bandit"}, {"properties", {{"slack_factor", 0.1}}}};
  EXPECT_THROW(SweepConfig::Parse(bad), InvalidInput);
  bad["policy"] = nullptr;
  EXPECT_NO_THROW(SweepConfig::Parse(bad));
}

}  // namespace
}  // namespace trainyard::hyperdrive

namespace trainyard::hyperdrive {
namespace {

TEST(HyperDriveSampler, BayesianWarmStartSkipsTheRandomPhase) {
  SamplerOptions o;
  o.space = ParameterSpace::Parse(Json::object({{"x", {"uniform", {0, 1}}}}));
  o.seed = 9;
  auto bayes = SamplerRegistry::Create("bayesian", o);
  auto rnd = SamplerRegistry::Create("random", o);
  EXPECT_EQ(*bayes->Next(0, {}), *rnd->Next(0, {}));  // no history: a random draw
  std::vector<TrialResult> warm;  // results of an earlier sweep (resume_from), peak at 0.8
  for (double x : {0.05, 0.3, 0.5, 0.7, 0.95, 0.15}) {
    warm.push_back({{{"x", x}}, -(x - 0.8) * (x - 0.8), true});
  }
  double x = (*bayes->Next(0, warm))["x"];
  EXPECT_NE(x, (*rnd->Next(0, {}))["x"].get<double>());
  EXPECT_NEAR(x, 0.8, 0.15);
}

}  // namespace
}  // namespace trainyard::hyperdrive
