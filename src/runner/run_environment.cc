#include "runner/run_environment.h"

#include "common/error.h"
#include "runner/snapshot_builder.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

void RestoreSnapshotInto(const BlobStore& blobs, const std::string& snapshot_id,
                         const fs::path& dest) {
  RestoreSnapshot(blobs, LoadManifest(blobs, snapshot_id), dest);
}

Json ValidateEnvironmentSpec(const Json& spec) {
  if (spec.is_null()) return spec;
  if (!spec.is_object()) throw InvalidInput("environment must be an object (see docs/REST.md)");
  return spec;
}

MaterializedRunEnv MaterializeRunEnvironment(const Json& spec, const fs::path& cache_root,
                                             const std::string& sdk_python_dir,
                                             const std::function<void(std::string_view)>& log) {
  (void)cache_root;
  (void)log;
  MaterializedRunEnv env;
  env.python = "python3";
  if (spec.is_object() && spec.contains("python") && spec["python"].is_object()) {
    const Json& py = spec["python"];
    if (py.value("user_managed_dependencies", false) && py.contains("interpreter_path") &&
        py["interpreter_path"].is_string()) {
      env.python = py["interpreter_path"];
    }
  }
  env.variables["PYTHONPATH"] = sdk_python_dir;
  return env;
}

}  // namespace trainyard
