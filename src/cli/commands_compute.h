// `trainyard compute list|show|attach|detach`: clients of /api/v1/compute-targets.
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

int CmdCompute(const std::vector<std::string>& args);

}  // namespace trainyard::cli
