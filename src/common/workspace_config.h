// The workspace config file, `.trainyard/config.json` (mode 0600):
// {"name", "server_url", "token", "data_dir"}.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace trainyard {

struct WorkspaceConfig {
  std::string name;
  std::string server_url;
  std::string token;
  std::string data_dir;

  // Throws NotFound / InvalidInput (malformed JSON, missing fields) naming the file.
  static WorkspaceConfig Load(const std::filesystem::path& file);
  // Writes atomically with mode 0600.
  void Save(const std::filesystem::path& file) const;
};

// Walks up from `start` looking for `.trainyard/config.json`; $TRAINYARD_CONFIG wins.
std::optional<std::filesystem::path> FindWorkspaceConfig(const std::filesystem::path& start);

}  // namespace trainyard
