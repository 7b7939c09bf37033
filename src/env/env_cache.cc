#include "env/env_cache.h"

#include <cstdlib>

namespace trainyard {

std::filesystem::path EnvironmentCacheDir(const std::filesystem::path& data_dir) {
  if (const char* e = std::getenv("TRAINYARD_ENV_CACHE"); e && *e) return e;
  return data_dir / "envs";
}

}  // namespace trainyard
