// The read side of run history (docs/REST.md "Run queries", "Metric series"): paged run
// listings with a filter / order_by grammar and an opaque cursor, a run's metrics in Azure's
// shape, raw points, and ranged / downsampled / streamed series reads. Api (api.cc) hands it
// GET requests before its own routes.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "store/metadata_store.h"

namespace trainyard {

class RunQueryApi {
 public:
  // `run_json` renders one run as the run object of docs/REST.md.
  // `runs_json` (optional) renders a page of runs at once (batched lookups).
  RunQueryApi(MetadataStore& store, std::function<nlohmann::json(const RunRecord&)> run_json,
              std::function<std::vector<nlohmann::json>(const std::vector<RunRecord>&)> runs_json =
                  nullptr);
  ~RunQueryApi();

  // True when `segs` (decoded path segments) is one of these routes; the answer is in `res`.
  // A streamed answer is collected into res.body unless req.can_stream.
  bool Handle(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard
