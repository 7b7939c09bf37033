// Plain-text output shared by the CLI commands: aligned tables and JSON fields as text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainyard::cli {

// The field as text: strings as they are, other values as JSON, "" when absent or null.
std::string Str(const nlohmann::json& j, const char* key);

// Prints the header and the rows as left-aligned columns (two spaces apart) on stdout.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace trainyard::cli
