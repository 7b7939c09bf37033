// Where a workspace's built environments live: <data_dir>/envs, or $TRAINYARD_ENV_CACHE when
// set (one cache shared by several workspaces on a machine, e.g. test servers; the builder's
// flock makes sharing safe).
#pragma once

#include <filesystem>

namespace trainyard {

std::filesystem::path EnvironmentCacheDir(const std::filesystem::path& data_dir);

}  // namespace trainyard
