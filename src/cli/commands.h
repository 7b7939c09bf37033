// Subcommands of the `trainyard` CLI.
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

// Runs the subcommand named by args[0]; returns the exit code.
int Dispatch(const std::vector<std::string>& args);

}  // namespace trainyard::cli
