// The REST routes of datastores, datasets and the environment registry (docs/REST.md
// "Datastores", "Datasets", "Environments"), and the dataset side of run submission:
// resolving dataset inputs in a run config and recording which runs consumed which dataset
// version (lineage). Api (api.cc) hands it requests no other route matched.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

class DataApi {
 public:
  DataApi(std::filesystem::path data_dir, MetadataStore& store, BlobStore& blobs);
  ~DataApi();

  // True when `segs` (the decoded path segments) is one of this API's routes; the answer is
  // written to `res`. Throws trainyard::Error like every handler.
  bool Handle(HttpRequest& req, HttpResponse& res, const std::vector<std::string>& segs);

  // Before PrepareSubmission: replaces dataset-input arguments ({"dataset_input": {...}}) of a
  // run config by {"dataset_input": "<input name>"} placeholders and puts the resolved inputs
  // (registered dataset looked up, definition embedded) in config["inputs"]; checks a
  // docker-enabled environment's image. Throws InvalidInput / NotFound before anything is
  // written.
  void ResolveRunConfig(nlohmann::json& config);
  // After the run is stored: lineage rows for its inputs.
  void RecordRunInputs(const std::string& run_id, const nlohmann::json& definition);
  // The run's inputs for the run object: [{"input_name", "mode", "name", "version", "id"}].
  nlohmann::json RunInputsJson(const std::string& run_id);
  // The same from records already read (ListRunInputsOf for a page of runs).
  static nlohmann::json RunInputsJson(const std::vector<RunInputRecord>& inputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Validates one dataset input object (the value of "dataset_input"): name, mode
// (mount|download|direct), path_on_compute, and a dataset reference {"id"} / {"name",
// "version"} or an inline {"definition"}. Returns it normalized. Throws InvalidInput.
nlohmann::json ValidateDatasetInputShape(const nlohmann::json& input);

}  // namespace trainyard
