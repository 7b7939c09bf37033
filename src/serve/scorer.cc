#include "serve/scorer.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "serve/python_pool.h"
#include "serve/xgboost_scorer.h"

namespace trainyard::serve {

std::unique_ptr<Scorer> MakeScorer(const nlohmann::json& config) {
  std::string kind = config.value("kind", "");
  if (kind == "python") return std::make_unique<PythonWorkerPool>(config);
  if (kind == "xgboost") return std::make_unique<XGBoostScorer>(config);
  throw InvalidInput("unknown scorer kind '" + kind + "'; use python or xgboost");
}

std::string ErrorBody(const std::string& message) {
  return nlohmann::json({{"message", message}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace trainyard::serve
