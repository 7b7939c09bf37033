// `trainyard serve` (a web service front, started by the workspace server) and
// `trainyard service deploy|list|show|logs|keys|delete|score` (clients of /api/v1/services).
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

int CmdServe(const std::vector<std::string>& args);
int CmdService(const std::vector<std::string>& args);

}  // namespace trainyard::cli
