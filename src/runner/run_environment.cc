#include "runner/run_environment.h"

#include <cstdlib>

#include "common/error.h"
#include "common/util.h"
#include "env/env_builder.h"
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
  return EnvSpec::FromJson(spec).ToJson();
}

MaterializedRunEnv MaterializeRunEnvironment(const Json& spec, const fs::path& cache_root,
                                             const std::string& sdk_python_dir,
                                             const std::function<void(std::string_view)>& log) {
  EnvSpec env_spec = spec.is_null() ? EnvSpec{} : EnvSpec::FromJson(spec);
  MaterializedEnv env = EnvBuilder(cache_root).Materialize(env_spec, log);
  MaterializedRunEnv out;
  out.python = env.python_path.string();
  out.variables = env_spec.environment_variables;
  if (!env.site_packages.empty()) {
    // A .pth file is processed after site-packages, so a real azureml package installed in the
    // environment wins over Trainyard's alias.
    fs::path pth = env.site_packages / "trainyard-sdk.pth";
    std::string want = sdk_python_dir + "\n";
    std::string have;
    try {
      have = ReadFile(pth);
    } catch (const Error&) {
    }
    if (have != want) WriteFileAtomic(pth, want);
  } else {
    const char* existing = std::getenv("PYTHONPATH");
    out.variables["PYTHONPATH"] =
        existing && *existing ? sdk_python_dir + ":" + existing : sdk_python_dir;
  }
  return out;
}

}  // namespace trainyard
