#include "serve/serve_metrics.h"

#include <cstdio>

namespace trainyard::serve {
namespace {
const char* const kRouteNames[] = {"score", "health", "swagger", "metrics", "other"};
}

size_t ServeMetrics::CodeIndex(int status) {
  for (size_t i = 0; i < kCodes.size(); ++i)
    if (kCodes[i] == status) return i;
  return kCodes.size();
}

void ServeMetrics::Record(Route route, int status, double seconds) {
  auto r = static_cast<size_t>(route);
  counts_[r][CodeIndex(status)].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  buckets_[r][b].fetch_add(1, std::memory_order_relaxed);
  sum_micros_[r].fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

uint64_t ServeMetrics::Count(Route route, int status) const {
  return counts_[static_cast<size_t>(route)][CodeIndex(status)].load(std::memory_order_relaxed);
}

std::string ServeMetrics::Render(std::string_view extra) const {
  std::string out;
  char line[256];
  out +=
      "# HELP trainyard_serve_requests_total Requests answered, by route and status code.\n"
      "# TYPE trainyard_serve_requests_total counter\n";
  for (size_t r = 0; r < kRoutes; ++r) {
    for (size_t c = 0; c <= kCodes.size(); ++c) {
      uint64_t n = counts_[r][c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::string code = c < kCodes.size() ? std::to_string(kCodes[c]) : "other";
      std::snprintf(line, sizeof line,
                    "trainyard_serve_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                    kRouteNames[r], code.c_str(), static_cast<unsigned long long>(n));
      out += line;
    }
  }
  out +=
      "# HELP trainyard_serve_request_duration_seconds Time from request read to response "
      "queued, by route.\n"
      "# TYPE trainyard_serve_request_duration_seconds histogram\n";
  for (size_t r = 0; r < kRoutes; ++r) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += buckets_[r][b].load(std::memory_order_relaxed);
      if (b < kBuckets.size()) {
        std::snprintf(line, sizeof line,
                      "trainyard_serve_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                      "%llu\n",
                      kRouteNames[r], kBuckets[b], static_cast<unsigned long long>(cumulative));
      } else {
        std::snprintf(line, sizeof line,
                      "trainyard_serve_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                      "%llu\n",
                      kRouteNames[r], static_cast<unsigned long long>(cumulative));
      }
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "trainyard_serve_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "trainyard_serve_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  kRouteNames[r], sum_micros_[r].load(std::memory_order_relaxed) / 1e6,
                  kRouteNames[r], static_cast<unsigned long long>(cumulative));
    out += line;
  }
  out.append(extra);
  return out;
}

}  // namespace trainyard::serve
