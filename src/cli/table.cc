#include "cli/table.h"

#include <algorithm>
#include <iomanip>
#include <iostream>

namespace trainyard::cli {

std::string Str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::cout << std::left << std::setw(static_cast<int>(i + 1 < r.size() ? w[i] + 2 : 0))
                << r[i];
    }
    std::cout << "\n";
  };
  line(header);
  for (auto& r : rows) line(r);
}

}  // namespace trainyard::cli
