// `trainyard automl submit|predict`: the AutoML CLI. The work is the Python SDK's
// (python/trainyard/train/automl/_cli.py); this command runs it with the SDK on PYTHONPATH.
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

int CmdAutoml(const std::vector<std::string>& args);

}  // namespace trainyard::cli
