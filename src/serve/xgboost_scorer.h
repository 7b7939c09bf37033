// Native in-process scoring of XGBoost models (JSON or UBJSON model files, or the legacy
// binary format) through XGBoost's C API (libxgboost). No Python, no copies beyond parsing:
// the request's rows are parsed into one float buffer and predicted with
// XGBoosterPredictFromDense on the calling thread (prediction is thread-safe in XGBoost).
//
// Config ({"kind": "xgboost", ...}): model_file (absolute path), nthread (per request,
// default 1). Request body: {"data": [[f, ...], ...]} (or one row [f, ...]); missing values as
// null. Answer: a JSON list with one prediction per row (a list per row for multi-output
// models).
#pragma once

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

 private:
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
