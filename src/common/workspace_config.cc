#include "common/workspace_config.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace fs = std::filesystem;

WorkspaceConfig WorkspaceConfig::Load(const fs::path& file) {
  std::string text = ReadFile(file);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw InvalidInput("workspace config " + file.string() + " is not a valid JSON object");
  }
  WorkspaceConfig c;
  c.name = j.value("name", "");
  c.server_url = j.value("server_url", "");
  c.token = j.value("token", "");
  c.data_dir = j.value("data_dir", file.parent_path().string());
  if (c.token.empty()) throw InvalidInput("workspace config " + file.string() + " has no token");
  return c;
}

void WorkspaceConfig::Save(const fs::path& file) const {
  nlohmann::json j = {
      {"name", name}, {"server_url", server_url}, {"token", token}, {"data_dir", data_dir}};
  fs::create_directories(file.parent_path());
  WriteFileAtomic(file, j.dump(2) + "\n", 0600);
}

std::optional<fs::path> FindWorkspaceConfig(const fs::path& start) {
  if (const char* e = std::getenv("TRAINYARD_CONFIG"); e && *e) return fs::path(e);
  std::error_code ec;
  for (fs::path p = fs::absolute(start, ec); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / ".trainyard" / "config.json", ec)) return p / ".trainyard" / "config.json";
    if (p == p.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace trainyard
