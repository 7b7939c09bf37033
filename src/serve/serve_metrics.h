// Prometheus metrics of one web service front (`GET /metrics`, text exposition format 0.0.4):
//   trainyard_serve_requests_total{route, code}     counter
//   trainyard_serve_request_duration_seconds{route} histogram (fixed buckets, 0.25 ms .. 10 s)
// plus whatever gauges the scorer adds (queue length, live workers).
//
// Thread-safe and lock-free: Record() is a few relaxed atomic increments.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace trainyard::serve {

enum class Route { kScore = 0, kHealth, kSwagger, kMetrics, kOther, kCount };

class ServeMetrics {
 public:
  static constexpr std::array<double, 15> kBuckets = {0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,    0.025,  0.05,  0.1,    0.25,
                                                      0.5,     1.0,    2.5,   5.0,    10.0};
  // The status codes counted by name; others are counted as "other".
  static constexpr std::array<int, 12> kCodes = {200, 400, 401, 404, 405, 413,
                                                 415, 429, 500, 502, 503, 504};

  void Record(Route route, int status, double seconds);
  // The exposition text; `extra` (already formatted lines) is appended.
  std::string Render(std::string_view extra = {}) const;
  uint64_t Count(Route route, int status) const;

 private:
  static constexpr size_t kRoutes = static_cast<size_t>(Route::kCount);
  static size_t CodeIndex(int status);
  std::array<std::array<std::atomic<uint64_t>, kCodes.size() + 1>, kRoutes> counts_{};
  std::array<std::array<std::atomic<uint64_t>, kBuckets.size() + 1>, kRoutes> buckets_{};
  std::array<std::atomic<uint64_t>, kRoutes> sum_micros_{};
};

}  // namespace trainyard::serve
