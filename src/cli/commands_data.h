// `trainyard dataset|datastore|env ...`: CLI clients of the data and environment routes
// (docs/REST.md "Datastores", "Datasets", "Environments").
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

// Usage lines for the main help.
extern const char* const kDataUsage;

// cmd is "dataset", "datastore" or "env"; args follow it. Returns the exit code.
int DispatchData(const std::string& cmd, const std::vector<std::string>& args);

}  // namespace trainyard::cli
