// Curated environments: a small set of environment specs defined by the project, listed by
// Environment.list / `trainyard env list --registered` and usable by name
// (Environment.get(ws, "Trainyard-Sklearn")). Their names say what they hold; they cannot be
// overwritten by env.register (the names are reserved).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace trainyard {

struct CuratedEnvironment {
  std::string name;
  std::string description;
  nlohmann::json spec;  // the REST "Environment spec", version "1"
};

const std::vector<CuratedEnvironment>& CuratedEnvironments();
std::optional<CuratedEnvironment> FindCuratedEnvironment(const std::string& name);

}  // namespace trainyard
