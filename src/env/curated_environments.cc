#include "env/curated_environments.h"

namespace trainyard {
using Json = nlohmann::json;

namespace {

CuratedEnvironment Make(std::string name, std::string description, std::vector<std::string> pip) {
  Json deps = Json::array();
  if (!pip.empty()) deps.push_back({{"pip", pip}});
  Json spec = {
      {"name", name},
      {"version", "1"},
      {"python",
       {{"user_managed_dependencies", false},
        {"interpreter_path", nullptr},
        {"conda_dependencies",
         pip.empty() ? Json(nullptr)
                     : Json{{"name", name}, {"channels", Json::array()}, {"dependencies", deps}}}}},
      {"pip_requirements", nullptr},
      {"environment_variables", Json::object()},
      {"docker", {{"enabled", false}, {"base_image", nullptr}}}};
  return {std::move(name), std::move(description), std::move(spec)};
}

}  // namespace

const std::vector<CuratedEnvironment>& CuratedEnvironments() {
  static const std::vector<CuratedEnvironment> kAll = {
      Make("Trainyard-Minimal", "The newest local Python 3 in a venv with nothing extra", {}),
      Make("Trainyard-Sklearn", "scikit-learn, pandas, numpy, joblib and matplotlib",
           {"scikit-learn", "pandas", "numpy", "joblib", "matplotlib"}),
      Make("Trainyard-TensorFlow-Keras", "TensorFlow (CPU) with Keras 3, numpy and matplotlib",
           {"tensorflow-cpu>=2.18", "keras>=3", "numpy", "matplotlib"}),
      Make("Trainyard-PyTorch", "PyTorch and torchvision with numpy and matplotlib",
           {"torch", "torchvision", "numpy", "matplotlib"}),
  };
  return kAll;
}

std::optional<CuratedEnvironment> FindCuratedEnvironment(const std::string& name) {
  for (const CuratedEnvironment& e : CuratedEnvironments()) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

}  // namespace trainyard
