#include "cli/commands_automl.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "common/error.h"
#include "runner/agent.h"

namespace trainyard::cli {

namespace {
const char* kAutomlUsage = R"(usage: trainyard automl <command> [options]

  submit CONFIG.yml|CONFIG.json [--experiment NAME] [--no-wait]
      an AutoMLConfig's keyword arguments as a YAML/JSON object (plus `experiment`)
  submit --csv DATA.csv --label-column COL --task classification|regression
         [--primary-metric M] [--iterations N] [--experiment-timeout-minutes M]
         [--iteration-timeout-minutes M] [--n-cross-validations K] [--validation-size F]
         [--max-concurrent-iterations N] [--blocked-models A,B] [--allowed-models A,B]
         [--experiment NAME] [--register-model NAME] [--no-wait]
      runs the search as a run of kind automl and prints the live table
  predict MODEL DATA.csv [--label-column COL] [--proba] [--output OUT.csv]
      MODEL: a model file (.tyam) or a registered model NAME[:VERSION]
)";
}  // namespace

int CmdAutoml(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kAutomlUsage;
    return args.empty() ? 2 : 0;
  }
  RequireSubcommand("automl", args[0], {"submit", "predict"});
  std::string sdk = FindSdkPythonDir();
  const char* existing = std::getenv("PYTHONPATH");
  std::string path = existing && *existing ? sdk + ":" + existing : sdk;
  ::setenv("PYTHONPATH", path.c_str(), 1);
  const char* py_env = std::getenv("TRAINYARD_PYTHON");
  std::string python = py_env && *py_env ? py_env : "python3";
  std::vector<std::string> argv = {python, "-m", "trainyard.train.automl._cli"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  std::cout.flush();
  ::execvp(av[0], av.data());
  throw Error("Internal",
              "cannot run " + python + " for `trainyard automl`: " + std::strerror(errno) +
                  " (set TRAINYARD_PYTHON to a Python 3.11+ interpreter)",
              500);
}

}  // namespace trainyard::cli
