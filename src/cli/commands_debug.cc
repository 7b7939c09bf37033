#include "cli/commands_debug.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/args.h"
#include "common/error.h"
#include "store/metadata_store.h"

namespace trainyard::cli {

int CmdDebugSeedRuns(const std::vector<std::string>& a) {
  Args args(a, {"data", "experiment", "runs", "first", "series-points", "series"}, {});
  if (!args.Has("data") || !args.Has("experiment")) {
    throw InvalidInput("usage: trainyard debug-seed-runs --data DIR --experiment E --runs N");
  }
  std::filesystem::path data = args.Get("data");
  std::filesystem::create_directories(data);
  auto store = OpenSqliteMetadataStore((data / "meta.db").string());
  const std::string exp = args.Get("experiment");
  const int64_t n = args.GetInt("runs", 0);
  const int64_t first = args.GetInt("first", 0);
  const int64_t series_points = args.GetInt("series-points", 0);
  const int64_t series = args.GetInt("series", 1);
  auto t0 = std::chrono::steady_clock::now();
  const int64_t base = 1'700'000'000'000;
  const char* algos[] = {"svm", "tree", "linear"};
  for (int64_t at = first; at < first + n; at += 5000) {
    std::vector<RunRecord> runs;
    std::vector<MetricPoint> points;
    for (int64_t i = at; i < std::min(first + n, at + 5000); ++i) {
      RunRecord r;
      r.id = exp + "_seed_" + std::to_string(i);
      r.experiment = exp;
      r.kind = "interactive";
      r.status = i % 10 == 0 ? "Failed" : "Completed";
      r.created = base + i;
      r.started = r.created;
      r.ended = r.created + 1;
      r.compute_target = "local";
      r.properties = {{"lr", std::to_string(0.001 * static_cast<double>(i % 10 + 1)).substr(0, 5)},
                      {"depth", std::to_string(i % 7)},
                      {"algo", algos[i % 3]}};
      r.tags = {{"team", i % 2 ? "blue" : "red"}, {"split", std::to_string(i % 5)}};
      runs.push_back(std::move(r));
      // acc: a permutation of i spread over [0, 1): distinct values, no order with i.
      double acc = static_cast<double>((i * 7919) % 100003) / 100003.0;
      MetricPoint m;
      m.run_id = exp + "_seed_" + std::to_string(i);
      m.name = "acc";
      m.kind = "scalar";
      m.value = acc;
      m.time = base + i;
      points.push_back(m);
      m.name = "loss";
      m.value = 1.0 - acc;
      points.push_back(m);
    }
    store->CreateRuns(runs);
    store->InsertMetrics(points);
  }
  if (series_points > 0) {
    RunRecord r;
    r.id = exp + "_series";
    r.experiment = exp;
    r.kind = "interactive";
    r.status = "Completed";
    r.created = base + first + n;
    std::vector<RunRecord> one{r};
    store->CreateRuns(one);
    for (int64_t k = 0; k < series; ++k) {
      std::vector<MetricPoint> pts;
      pts.reserve(100000);
      for (int64_t i = 0; i < series_points; ++i) {
        MetricPoint p;
        p.run_id = r.id;
        p.name = "s" + std::to_string(k);
        p.kind = "scalar";
        double v = std::sin(static_cast<double>(i) / 1000.0) + static_cast<double>(k);
        if (k == 0 && i == series_points / 3) v = 1000.0;
        if (k == 0 && i == 2 * series_points / 3) v = -1000.0;
        p.value = v;
        p.step = i;
        p.time = base + i;
        pts.push_back(std::move(p));
        if (pts.size() == 100000) {
          store->InsertMetrics(pts);
          pts.clear();
        }
      }
      store->InsertMetrics(pts);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << nlohmann::json{{"experiment", exp}, {"runs", n}, {"seconds", secs}}.dump() << "\n";
  return 0;
}

}  // namespace trainyard::cli
