// libFuzzer target: environment specs (src/env/env_spec): conda environment YAML through the
// bounded YAML check and yaml-cpp, the JSON spec through the bounded JSON parser, and pip
// requirements text. The first byte chooses which.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/json_limits.h"
#include "env/env_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        trainyard::EnvSpec s = trainyard::EnvSpec::FromCondaYaml(text, "");
        (void)s.ToJson().dump();
        break;
      }
      case 1: {
        nlohmann::json j = trainyard::ParseJsonBounded(text, "spec");
        trainyard::EnvSpec s = trainyard::EnvSpec::FromJson(j);
        (void)trainyard::EnvSpec::FromJson(s.ToJson());
        break;
      }
      default:
        (void)trainyard::ParsePipRequirements(text, "requirements");
    }
  } catch (const trainyard::Error& e) {
    (void)nlohmann::json(std::string(e.what())).dump();  // messages must serialize
  }
  return 0;
}
