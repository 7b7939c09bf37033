#include "serve/serve_metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace trainyard::serve {
namespace {

TEST(ServeMetricsTest, CountsByRouteAndCode) {
  ServeMetrics m;
  m.Record(Route::kScore, 200, 0.002);
  m.Record(Route::kScore, 200, 0.004);
  m.Record(Route::kScore, 415, 0.0001);
  m.Record(Route::kHealth, 200, 0.0001);
  m.Record(Route::kScore, 418, 0.0001);
  EXPECT_EQ(m.Count(Route::kScore, 200), 2u);
  EXPECT_EQ(m.Count(Route::kScore, 415), 1u);
  EXPECT_EQ(m.Count(Route::kHealth, 200), 1u);
  std::string text = m.Render();
  EXPECT_NE(text.find("trainyard_serve_requests_total{route=\"score\",code=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trainyard_serve_requests_total{route=\"score\",code=\"other\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(text.find("code=\"404\""), std::string::npos);  // zero counters are left out
}

TEST(ServeMetricsTest, HistogramBucketsAreCumulative) {
  ServeMetrics m;
  m.Record(Route::kScore, 200, 0.0002);  // <= 0.00025
  m.Record(Route::kScore, 200, 0.003);   // <= 0.005
  m.Record(Route::kScore, 200, 20.0);    // +Inf only
  std::string text = m.Render("extra_gauge 7\n");
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(
      has("trainyard_serve_request_duration_seconds_bucket{route=\"score\",le=\"0.00025\"} 1"))
      << text;
  EXPECT_TRUE(
      has("trainyard_serve_request_duration_seconds_bucket{route=\"score\",le=\"0.0025\"} 1"));
  EXPECT_TRUE(
      has("trainyard_serve_request_duration_seconds_bucket{route=\"score\",le=\"0.005\"} 2"));
  EXPECT_TRUE(has("trainyard_serve_request_duration_seconds_bucket{route=\"score\",le=\"10\"} 2"));
  EXPECT_TRUE(
      has("trainyard_serve_request_duration_seconds_bucket{route=\"score\",le=\"+Inf\"} 3"));
  EXPECT_TRUE(has("trainyard_serve_request_duration_seconds_count{route=\"score\"} 3"));
  EXPECT_TRUE(has("extra_gauge 7"));
}

TEST(ServeMetricsTest, ConcurrentRecordsAreAllCounted) {
  ServeMetrics m;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) m.Record(Route::kScore, 200, 0.001);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(m.Count(Route::kScore, 200), 40000u);
}

}  // namespace
}  // namespace trainyard::serve
