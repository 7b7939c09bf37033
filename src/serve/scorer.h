// Scorers: what answers `POST /score` behind a web service front. Two kinds implement one
// interface:
//   - PythonWorkerPool (python_pool.h): a pool of Python processes running an entry script's
//     init()/run(raw_data), or the built-in no-code scikit-learn scorer;
//   - XGBoostScorer (xgboost_scorer.h): an XGBoost model scored in-process through the C API.
// Created by name from the "scorer" object of the service's serve config (MakeScorer).
//
// Thread-safety: Score() may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>

namespace trainyard::serve {

using Clock = std::chrono::steady_clock;

// The answer to one scoring request: an HTTP status and a JSON body (for errors,
// {"message": ...}).
struct ScoreResult {
  int status = 200;
  std::string body;
};

using ScoreCallback = std::function<void(ScoreResult)>;

// The model or entry script could not be loaded; `traceback` holds Python's when there is one.
class ScorerInitError : public std::runtime_error {
 public:
  ScorerInitError(const std::string& message, std::string traceback)
      : std::runtime_error(message), traceback_(std::move(traceback)) {}
  const std::string& traceback() const { return traceback_; }

 private:
  std::string traceback_;
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  // Loads the model / starts the workers; blocks until ready. Throws ScorerInitError.
  virtual void Start() = 0;
  // Scores `body` (JSON text, already checked to parse). `done` is called exactly once, on any
  // thread, possibly before Score returns; a request still unanswered at `deadline` gets 504.
  virtual void Score(std::string body, Clock::time_point deadline, ScoreCallback done) = 0;
  // Stops taking requests, answers the queued and running ones, then releases the workers.
  // Blocks until done. Score() after Drain() answers 503.
  virtual void Drain() = 0;
  // Extra Prometheus lines (gauges) for GET /metrics.
  virtual std::string MetricsText() const { return {}; }
};

// Builds the scorer described by `config` ({"kind": "python" | "xgboost", ...}; see
// python_pool.h and xgboost_scorer.h). Throws InvalidInput for an unknown kind.
std::unique_ptr<Scorer> MakeScorer(const nlohmann::json& config);

// {"message": message} as JSON text.
std::string ErrorBody(const std::string& message);

}  // namespace trainyard::serve
