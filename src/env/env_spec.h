// Environment specs: the JSON a run's config carries as "environment" (docs/REST.md,
// "Environment spec"), and conda environment YAML files (`trainyard env create -f env.yml`).
//
// Parsing validates everything an environment build will rely on and throws InvalidInput with a
// message naming the bad field or entry, e.g.
//   environment.python.conda_dependencies.dependencies[3]: must be a package spec string or
//   {"pip": [...]}
// Unknown keys are ignored (Azure ML's environment JSON has many that do not apply here);
// camelCase spellings of the keys (Azure's azureml_environment.json) are accepted as well.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

// The conda_dependencies part: a conda environment file's structure.
struct CondaDependencies {
  std::string name;
  std::vector<std::string> channels;
  // Conda match specs in order, e.g. "python=3.6.2", "scikit-learn", "numpy>=1.19".
  std::vector<std::string> conda_packages;
  // Entries of the {"pip": [...]} lists in order: requirements ("torch==2.1") and pip options
  // ("--extra-index-url https://...").
  std::vector<std::string> pip_packages;

  bool operator==(const CondaDependencies&) const = default;
};

struct EnvSpec {
  std::string name;                    // "" when not given
  std::optional<std::string> version;  // Azure's registered-environment version
  bool user_managed_dependencies = false;
  std::string interpreter_path;  // user-managed interpreter; "" means python3
  std::optional<CondaDependencies> conda_dependencies;
  std::optional<std::string> pip_requirements;  // the text of a requirements file
  std::map<std::string, std::string> environment_variables;
  bool docker_enabled = false;  // run in a container (env/container_runtime.h)
  std::string docker_base_image;
  // docker.base_image_registry.address: the registry of a base_image that names none. Its
  // username/password are refused here (they would be stored with every run): registry
  // credentials belong in the server's containers config.
  std::string docker_base_image_registry;

  // `j` may be null (the default environment). `field` prefixes error messages.
  static EnvSpec FromJson(const nlohmann::json& j, std::string_view field = "environment");
  // A conda environment YAML (name, channels, dependencies with an optional "pip:" list,
  // variables). `name` names the environment ("" keeps the file's name). Errors name the line:
  // "conda environment file, line 7: ...".
  static EnvSpec FromCondaYaml(std::string_view yaml_text, std::string_view name = "");
  // The REST shape (all keys present, snake_case).
  nlohmann::json ToJson() const;

  bool operator==(const EnvSpec&) const = default;
};

// A requirements text split into what pip installs and the global options it takes.
struct PipRequirements {
  // One requirement per entry, e.g. "numpy>=1.19", "pkg==1.0 --hash=sha256:...".
  std::vector<std::string> requirements;
  // Global options, one per entry, e.g. "--extra-index-url https://download.pytorch.org/whl".
  std::vector<std::string> options;
};

// Parses requirements-file text: comments and blank lines skipped, '\' continuations joined.
// Supported options: -i/--index-url, --extra-index-url, -f/--find-links, --trusted-host,
// --pre, --prefer-binary, --only-binary, --no-binary, and --hash after a requirement.
// -r/-c (other files) and -e (editable checkouts) are rejected: the spec must list its packages.
// `where` prefixes error messages ("environment.pip_requirements line 3: ...").
PipRequirements ParsePipRequirements(std::string_view text, std::string_view where);

// Entry validators shared by the JSON and YAML parsers; each throws InvalidInput naming `where`.
// A pip requirement (PEP 508: name, [extras], version specifiers, ; markers, @ url) or a
// VCS/URL requirement; an entry starting with '-' must be a supported global option.
void ValidatePipEntry(std::string_view where, std::string_view entry);
// A conda match spec: [channel::]name[ version][=build], e.g. "numpy=1.19", "pytorch>=1.7".
void ValidateCondaSpec(std::string_view where, std::string_view spec);
// Environment variable names: a letter or '_' then letters, digits, '_' (at most 255).
void ValidateEnvVarName(std::string_view where, std::string_view name);

}  // namespace trainyard
