// Dataset inputs of a run, resolved by the agent before the script starts
// (docs/ARCHITECTURE.md "Datasets"): each input of the run definition
// ({"name", "mode", "path_on_compute", "dataset", "definition"}) is pinned by the server (every
// file's content in the blob store: URLs downloaded once into the shared cache) and written
// under runs/<id>/inputs/<name>:
//   mount     hard links to the blobs, bind-mounted read-only for the script in a private
//             mount namespace (at path_on_compute when given); where namespaces are not
//             available, read-only copies and a warning in the driver log
//   download  writable copies (at path_on_compute when given)
//   direct    nothing is written; the script gets the dataset object (run.input_datasets)
// Arguments {"dataset_input": NAME} become the input's path; the script also gets
// AZUREML_DATAREFERENCE_<NAME>=<path> and TRAINYARD_INPUT_DATASETS (a JSON file describing all
// inputs, read by Run.input_datasets).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "store/blob_store.h"

namespace trainyard {

struct DatasetInputs {
  std::map<std::string, std::string> paths;      // input name -> path the script sees
  std::map<std::string, std::string> variables;  // for the script's environment
  std::vector<std::pair<std::string, std::string>> read_only_binds;  // (source, target)
  std::filesystem::path inputs_dir;  // runs/<id>/inputs ("" when none)

  // Arguments with {"dataset_input": NAME} placeholders replaced by paths (direct inputs: the
  // dataset's id or name).
  nlohmann::json Substitute(const nlohmann::json& arguments) const;
  // Removes what was materialized.
  void Cleanup() const;
};

// `pin` asks the server for a definition's [{path, sha256, size}] (POST /dataset-files).
// `log` gets progress lines for the driver log. Throws Error on failure.
DatasetInputs PrepareDatasetInputs(const nlohmann::json& definition, const BlobStore& blobs,
                                   const std::filesystem::path& run_dir,
                                   const std::filesystem::path& workdir,
                                   const std::function<nlohmann::json(const nlohmann::json&)>& pin,
                                   const std::function<void(const std::string&)>& log);

}  // namespace trainyard
