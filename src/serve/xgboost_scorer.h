// Native in-process scoring of XGBoost models (JSON or UBJSON model files, or the legacy
// binary format), no Python. libxgboost loads the model (XGBoost C API). Requests are parsed
// into one float buffer and predicted on the calling thread:
//   - by a compiled copy of the model's trees (CompiledForest: flat node arrays walked per row)
//     for gbtree models with numeric splits and the common objectives. libxgboost's own
//     prediction call costs ~30-80 us per request even for one row (it re-reads the cgroup CPU
//     quota from /sys on every call), which would cap a service far below the HTTP front; the
//     compiled forest takes ~1 us. At Start() its predictions are checked against
//     XGBoosterPredictFromDense on generated rows (NaNs included); any difference, or an
//     unsupported model (dart, categorical splits, other objectives), falls back to
//   - XGBoosterPredictFromDense (thread-safe in XGBoost).
//
// Config ({"kind": "xgboost", ...}): model_file (absolute path), nthread (per request,
// default 1). Request body: {"data": [[f, ...], ...]} (or one row [f, ...]); missing values as
// null. Answer: a JSON list with one prediction per row (a list per row for multi-output
// models).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "serve/scorer.h"

namespace trainyard::serve {

class XGBoostScorer : public Scorer {
 public:
  explicit XGBoostScorer(const nlohmann::json& config);
  ~XGBoostScorer() override;

  void Start() override;
  void Score(std::string body, Clock::time_point deadline, ScoreCallback done) override;
  void Drain() override {}

  // Scores synchronously (what Score does); public for tests.
  ScoreResult ScoreNow(std::string_view body) const;
  uint64_t num_features() const { return num_features_; }
  // True when requests are scored by the compiled forest (see above).
  bool compiled() const { return forest_ != nullptr; }

  struct CompiledForest;

 private:
  // libxgboost's predictions for `rows` x num_features_ values; false on an XGBoost error.
  bool PredictWithLibrary(const float* values, size_t rows, size_t cols, std::vector<float>* out,
                          size_t* per_row, std::string* error) const;
  std::shared_ptr<const CompiledForest> forest_;
  std::string model_file_;
  int nthread_ = 1;
  void* booster_ = nullptr;
  uint64_t num_features_ = 0;
  std::string predict_config_;
};

// Parses {"data": [[...], ...]} or [[...], ...] or a single row [...] into row-major floats
// (null → NaN). Returns false with *error set when the body has another shape.
bool ParseDenseRows(std::string_view body, std::vector<float>* values, size_t* rows, size_t* cols,
                    std::string* error);

}  // namespace trainyard::serve
