// The `trainyard` command: git-style subcommands. Errors are trainyard::Error, reported as
// "trainyard: <message>" with the exit code of Error::exit_code().
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "runner/launcher.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    // The per-node rank supervisor of distributed runs (runner/launcher.h); not for users.
    if (!args.empty() && args[0] == "_ranks") return trainyard::RunRankSupervisor();
    return trainyard::cli::Dispatch(args);
  } catch (const trainyard::Error& e) {
    std::cerr << "trainyard: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "trainyard: " << e.what() << std::endl;
    return 1;
  }
}
