// Early termination policies on scripted metric curves: exactly which run stops, when.
#include "hyperdrive/policy.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

std::unique_ptr<EarlyTerminationPolicy> Make(const std::string& name, Json props,
                                             Goal goal = Goal::kMaximize) {
  PolicyOptions o;
  o.properties = std::move(props);
  o.goal = goal;
  return PolicyRegistry::Create(name, o);
}

// The first interval at which `policy` stops `cand` given the others' full curves (0: never).
size_t StopsAt(const EarlyTerminationPolicy& policy, const std::vector<double>& cand,
               const std::vector<std::vector<double>>& others) {
  std::vector<MetricSeries> all;
  for (size_t i = 0; i < others.size(); ++i) all.push_back({"r" + std::to_string(i), others[i]});
  for (size_t n = 1; n <= cand.size(); ++n) {
    MetricSeries c{"cand", {cand.begin(), cand.begin() + n}};
    auto with = all;
    with.push_back(c);
    if (policy.Evaluate(c, with).terminate) return n;
  }
  return 0;
}

const std::vector<double> kBest = {0.5, 0.6, 0.7, 0.8, 0.9, 0.9};

TEST(HyperDrivePolicy, BanditSlackFactorAndAmount) {
  auto p = Make("Bandit", {{"slack_factor", 0.1}, {"evaluation_interval", 1}});
  EXPECT_EQ(StopsAt(*p, {0.3, 0.3, 0.3}, {kBest}), 1u);       // 0.3 < 0.5 / 1.1
  EXPECT_EQ(StopsAt(*p, {0.5, 0.6, 0.5, 0.5}, {kBest}), 3u);  // 0.6 < 0.7 / 1.1
  EXPECT_EQ(StopsAt(*p, {0.5, 0.6, 0.7, 0.8, 0.85}, {kBest}), 0u);
  auto a = Make("BanditPolicy", {{"slack_amount", 0.15}});
  EXPECT_EQ(StopsAt(*a, {0.5, 0.5, 0.5, 0.6}, {kBest}), 3u);  // 0.5 < 0.7 - 0.15
  auto m = Make("bandit", {{"slack_factor", 0.1}}, Goal::kMinimize);
  EXPECT_EQ(StopsAt(*m, {1.0, 0.5}, {{0.8, 0.4}}), 1u);  // 1.0 > 0.8 * 1.1
  EXPECT_EQ(StopsAt(*m, {0.85, 0.41}, {{0.8, 0.4}}), 0u);
}

TEST(HyperDrivePolicy, IntervalAndDelay) {
  auto p =
      Make("Bandit", {{"slack_factor", 0.1}, {"evaluation_interval", 2}, {"delay_evaluation", 3}});
  // Evaluated at n = 4, 6, ...: a run behind from the start stops at 4.
  EXPECT_EQ(StopsAt(*p, {0.1, 0.1, 0.1, 0.1, 0.1}, {kBest}), 4u);
}

TEST(HyperDrivePolicy, MedianStopping) {
  auto p = Make("MedianStopping", {{"evaluation_interval", 1}});
  std::vector<double> c1 = {0.5, 0.6, 0.7, 0.8, 0.85, 0.88};
  EXPECT_EQ(StopsAt(*p, {0.3, 0.3}, {kBest, c1}), 1u);
  EXPECT_EQ(StopsAt(*p, {0.5, 0.6, 0.5, 0.5, 0.5}, {kBest, c1}), 4u);
  EXPECT_EQ(StopsAt(*p, {0.3, 0.3}, {}), 0u);  // no one to compare with
}

TEST(HyperDrivePolicy, TruncationSelection) {
  auto p = Make("TruncationSelection", {{"truncation_percentage", 50}});
  EXPECT_EQ(StopsAt(*p, {0.5, 0.6, 0.7, 0.8, 0.85}, {kBest}), 5u);
  EXPECT_EQ(StopsAt(*p, {0.5, 0.6, 0.7, 0.8, 0.9}, {kBest}), 0u);  // ties protect
  auto q = Make("TruncationSelection", {{"truncation_percentage", 20}});
  EXPECT_EQ(StopsAt(*q, {0.1}, {kBest}), 0u);  // floor(2 * 20%) = 0 runs are cut
  EXPECT_EQ(StopsAt(*q, {0.1}, {kBest, kBest, kBest, kBest}), 1u);
  auto ex =
      Make("TruncationSelection", {{"truncation_percentage", 50}, {"exclude_finished_jobs", true}});
  std::vector<MetricSeries> all = {{"done", kBest, true}, {"cand", {0.1}}};
  EXPECT_FALSE(ex->Evaluate(all[1], all).terminate);
}

TEST(HyperDrivePolicy, DefaultNeverStopsAndBadPropertiesAreRefused) {
  auto p = Make("Default", Json::object());
  EXPECT_EQ(StopsAt(*p, {0.0, 0.0}, {kBest}), 0u);
  EXPECT_THROW(Make("Bandit", Json::object()), InvalidInput);
  EXPECT_THROW(Make("Bandit", {{"slack_factor", 0.1}, {"slack_amount", 0.1}}), InvalidInput);
  EXPECT_THROW(Make("Bandit", {{"slack_factor", 0.1}, {"evaluation_interval", 0}}), InvalidInput);
  EXPECT_THROW(Make("TruncationSelection", {{"truncation_percentage", 100}}), InvalidInput);
  EXPECT_THROW(Make("MedianStopping", {{"slack_factor", 0.1}}), InvalidInput);
  EXPECT_THROW(Make("Hyperband", Json::object()), InvalidInput);
}

}  // namespace
}  // namespace trainyard::hyperdrive
