// `trainyard ui`: prints (and, with a display, opens) a one-time login link to the workspace's
// studio (server/studio.h), optionally straight to a run's page.
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

int CmdUi(const std::vector<std::string>& args);

}  // namespace trainyard::cli
