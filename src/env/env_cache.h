// Where built environments live. One cache per machine and user, shared by every workspace
// (the builder's per-spec-hash flock makes sharing safe; environments are content-addressed
// by the hash of their install plan and interpreter):
//   $TRAINYARD_ENV_CACHE when set to a path;
//   <data_dir>/envs when TRAINYARD_ENV_CACHE is set but empty (a private cache per workspace);
//   else $XDG_CACHE_HOME/trainyard/envs, or ~/.cache/trainyard/envs (each when it is writable,
//   or its nearest existing parent is);
//   <data_dir>/envs when there is no such per-user cache (an account without a home).
#pragma once

#include <filesystem>

namespace trainyard {

std::filesystem::path EnvironmentCacheDir(const std::filesystem::path& data_dir);

}  // namespace trainyard
