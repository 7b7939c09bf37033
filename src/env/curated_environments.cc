#include "env/curated_environments.h"

#include <algorithm>
#include <cctype>

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

const std::vector<CuratedAlias>& CuratedAliases() {
  // TensorFlow 1.x and other environments without a counterpart here are left out on purpose:
  // asking for them is an error that lists what exists.
  static const std::vector<CuratedAlias> kAll = {
      {"AzureML-Minimal", "Trainyard-Minimal"},
      {"AzureML-Tutorial", "Trainyard-Sklearn"},
      {"AzureML-AutoML", "Trainyard-Sklearn"},
      {"AzureML-Scikit-learn*", "Trainyard-Sklearn"},
      {"AzureML-sklearn-*", "Trainyard-Sklearn"},
      {"AzureML-TensorFlow-2*", "Trainyard-TensorFlow-Keras"},
      {"AzureML-tensorflow-2*", "Trainyard-TensorFlow-Keras"},
      {"AzureML-PyTorch-*", "Trainyard-PyTorch"},
      {"AzureML-ACPT-pytorch-*", "Trainyard-PyTorch"},
  };
  return kAll;
}

std::optional<std::string> ResolveCuratedAlias(const std::string& name) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const std::string n = lower(name);
  for (const CuratedAlias& a : CuratedAliases()) {
    std::string p = lower(a.pattern);
    if (!p.empty() && p.back() == '*') {
      p.pop_back();
      if (n.size() > p.size() && n.compare(0, p.size(), p) == 0) return a.trainyard_name;
    } else if (n == p) {
      return a.trainyard_name;
    }
  }
  return std::nullopt;
}

std::optional<CuratedEnvironment> FindCuratedEnvironment(const std::string& name) {
  const std::string wanted = ResolveCuratedAlias(name).value_or(name);
  for (const CuratedEnvironment& e : CuratedEnvironments()) {
    if (e.name == wanted) return e;
  }
  return std::nullopt;
}

}  // namespace trainyard
