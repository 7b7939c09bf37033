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
// A curated environment by its name, or by an Azure ML curated name (AzureML-*) that maps to
// one (CuratedAliases); nullopt otherwise.
std::optional<CuratedEnvironment> FindCuratedEnvironment(const std::string& name);

// Azure ML's curated environment names (SDK v1 era, as migrating code writes them) and the
// Trainyard environment each resolves to. `pattern` is an exact name or a prefix ending in
// '*'; matching ignores case. Documented in docs/ENVIRONMENTS_AZURE.md.
struct CuratedAlias {
  std::string pattern;
  std::string trainyard_name;
};
const std::vector<CuratedAlias>& CuratedAliases();
// The Trainyard curated name an Azure name resolves to; nullopt when it is not one.
std::optional<std::string> ResolveCuratedAlias(const std::string& name);

}  // namespace trainyard
