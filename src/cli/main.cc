// The `trainyard` command: git-style subcommands. Errors are trainyard::Error, reported as
// "trainyard: <message>" with the exit code of Error::exit_code().
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return trainyard::cli::Dispatch(args);
  } catch (const trainyard::Error& e) {
    std::cerr << "trainyard: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "trainyard: " << e.what() << std::endl;
    return 1;
  }
}
