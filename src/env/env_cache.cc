#include "env/env_cache.h"

#include <unistd.h>

#include <cstdlib>
#include <system_error>

namespace trainyard {

namespace {

// `dir` can be used: its nearest existing ancestor (itself when it exists) is writable.
bool Usable(std::filesystem::path dir) {
  std::error_code ec;
  while (!std::filesystem::exists(dir, ec) && dir.has_relative_path()) dir = dir.parent_path();
  return ::access(dir.c_str(), W_OK) == 0;
}

}  // namespace

std::filesystem::path EnvironmentCacheDir(const std::filesystem::path& data_dir) {
  if (const char* e = std::getenv("TRAINYARD_ENV_CACHE")) {
    return *e ? std::filesystem::path(e) : data_dir / "envs";
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/') {
    std::filesystem::path dir = std::filesystem::path(x) / "trainyard" / "envs";
    if (Usable(dir)) return dir;
  }
  if (const char* h = std::getenv("HOME"); h && *h == '/') {
    std::filesystem::path dir = std::filesystem::path(h) / ".cache" / "trainyard" / "envs";
    if (Usable(dir)) return dir;
  }
  // No writable per-user cache (a service account without a home): this data dir's.
  return data_dir / "envs";
}

}  // namespace trainyard
