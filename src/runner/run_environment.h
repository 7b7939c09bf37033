// The environment a run's process gets: which interpreter, and which extra variables.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "store/blob_store.h"

namespace trainyard {

struct MaterializedRunEnv {
  std::string python;                            // interpreter that runs the script
  std::map<std::string, std::string> variables;  // environment_variables + PYTHONPATH if needed
};

// Builds (or reuses from cache_root) the environment described by `spec` (docs/REST.md,
// "Environment spec"; null = default). Makes the Trainyard SDK in `sdk_python_dir` importable
// (a .pth file in the venv, after site-packages so that a real azureml package wins; PYTHONPATH
// for user-managed interpreters). Build output goes to `log` line by line.
MaterializedRunEnv MaterializeRunEnvironment(const nlohmann::json& spec,
                                             const std::filesystem::path& cache_root,
                                             const std::string& sdk_python_dir,
                                             const std::function<void(std::string_view)>& log);

// Materializes snapshot `snapshot_id` (a manifest blob) into `dest`.
void RestoreSnapshotInto(const BlobStore& blobs, const std::string& snapshot_id,
                         const std::filesystem::path& dest);

}  // namespace trainyard

namespace trainyard {
// Validates an environment spec (null allowed) and returns it normalized. Throws InvalidInput
// naming the bad field or entry.
nlohmann::json ValidateEnvironmentSpec(const nlohmann::json& spec);
}  // namespace trainyard
