#include "env/env_cache.h"

#include <cstdlib>

namespace trainyard {

std::filesystem::path EnvironmentCacheDir(const std::filesystem::path& data_dir) {
  if (const char* e = std::getenv("TRAINYARD_ENV_CACHE")) {
    return *e ? std::filesystem::path(e) : data_dir / "envs";
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') {
    return std::filesystem::path(x) / "trainyard" / "envs";
  }
  if (const char* h = std::getenv("HOME"); h && *h == '/') {
    return std::filesystem::path(h) / ".cache" / "trainyard" / "envs";
  }
  return data_dir / "envs";
}

}  // namespace trainyard
