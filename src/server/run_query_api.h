// The read side of run history (docs/REST.md "Run queries", "Metric series"): paged run
// listings with a filter / order_by grammar and an opaque cursor, a run's metrics in Azure's
// shape, raw points, and ranged / downsampled / streamed series reads. Api (api.cc) hands it
// GET requests before its own routes.
#pragma once

#include <functional>
#include <map>
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
  // `runs_text` (optional) writes a page of run objects as JSON text at once (batched
  // lookups, no JSON tree), each with "metrics" from `latest` when that is given.
  using RunsText = std::function<std::vector<std::string>(
      const std::vector<RunRecord>& runs, const std::map<std::string, nlohmann::json>* latest)>;
  RunQueryApi(MetadataStore& store, std::function<nlohmann::json(const RunRecord&)> run_json,
              RunsText runs_text = nullptr);
  ~RunQueryApi();

  // True when `segs` (decoded path segments) is one of these routes; the answer is in `res`.
  // A streamed answer is collected into res.body unless req.can_stream.
  bool Handle(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard
