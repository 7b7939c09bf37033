#include "env/install_check.h"

#include <gtest/gtest.h>

#include <map>

#include "env/curated_environments.h"
#include "env/env_spec.h"

namespace trainyard {
namespace {

PythonInterpreter Py(int minor, int micro) {
  return {"/p/3." + std::to_string(minor), PythonVersion{3, minor, micro}};
}

// A fake index: name -> versions offered for Python 3.13 (nullopt: cannot be asked).
VersionLister Index(std::map<std::string, std::optional<std::vector<std::string>>> offered,
                    std::vector<std::string>* asked = nullptr) {
  return [offered, asked](std::string_view name, const PythonVersion& v) {
    EXPECT_EQ(v.minor, 13);
    if (asked) asked->push_back(std::string(name));
    auto it = offered.find(std::string(name));
    return it == offered.end() ? std::optional<std::vector<std::string>>(std::vector<std::string>{})
                               : it->second;
  };
}

InstallPlan Plan(const std::string& python, std::vector<std::string> packages) {
  InstallPlan p;
  if (!python.empty()) p.python = PythonPin::Parse(python);
  p.packages = std::move(packages);
  return p;
}

TEST(InstallCheck, AnUnavailablePinnedPackageIsAClearError) {
  // The spec: python=3.6.2 and tensorflow-gpu==2.0.0 on a machine with 3.13 and 3.11.
  std::vector<std::string> asked;
  InstallCheck c = CheckInstallPlan(Plan("python=3.6.2", {"tensorflow-gpu==2.0.0", "six"}),
                                    {Py(13, 1), Py(11, 7)},
                                    Index({{"tensorflow-gpu", std::vector<std::string>{"2.12.0"}},
                                           {"six", std::vector<std::string>{"1.17.0"}}},
                                          &asked));
  ASSERT_TRUE(c.python.has_value());
  EXPECT_EQ(c.python->version.minor, 13);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("python=3.6.2 is not available on this machine (it has Python "
                               "3.13.1, 3.11.7)"),
            std::string::npos)
      << c.warnings[0];
  ASSERT_EQ(c.errors.size(), 1u);
  const std::string& e = c.errors[0];
  EXPECT_NE(e.find("package tensorflow-gpu==2.0.0 cannot be installed with Python 3.13"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("python=3.6.2 was asked; this machine has Python 3.13.1, 3.11.7"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("offers tensorflow-gpu 2.12.0"), std::string::npos) << e;
  EXPECT_NE(e.find("nearest: tensorflow-gpu==2.12.0"), std::string::npos) << e;
  EXPECT_NE(e.find("use tensorflow"), std::string::npos) << e;
  EXPECT_EQ(asked.size(), 2u);
}

TEST(InstallCheck, WhatCannotBeDecidedIsLeftToTheBuild) {
  InstallCheck c = CheckInstallPlan(
      Plan("", {"numpy==1.26.4", "pandas>=2", "git+https://example.com/x.git", "--pre", "six"}),
      {Py(13, 1)}, Index({{"numpy", std::nullopt}, {"six", std::vector<std::string>{"1.17.0"}}}));
  EXPECT_TRUE(c.errors.empty());
  EXPECT_TRUE(c.warnings.empty());
  InstallCheck missing =
      CheckInstallPlan(Plan("", {"trainyard-no-such-package-4242"}), {Py(13, 1)}, Index({}));
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_NE(missing.errors[0].find("has no version of 'trainyard-no-such-package-4242'"),
            std::string::npos);
}

TEST(InstallCheck, NearestVersion) {
  EXPECT_EQ(NearestVersion({"2.12.0", "2.1.0", "1.15.0"}, "2.0.0"), "2.1.0");
  EXPECT_EQ(NearestVersion({"1.26.4", "2.1.0", "1.19.5"}, "1.19.2"), "1.19.5");
  EXPECT_EQ(NearestVersion({"0.24.2", "1.5.0"}, "0.20.3"), "0.24.2");
  EXPECT_EQ(NearestVersion({}, "1.0"), "");
}

TEST(CuratedAliases, AzureNamesResolveToTrainyardEnvironments) {
  EXPECT_EQ(FindCuratedEnvironment("AzureML-Tutorial")->name, "Trainyard-Sklearn");
  EXPECT_EQ(FindCuratedEnvironment("AzureML-Minimal")->name, "Trainyard-Minimal");
  EXPECT_EQ(FindCuratedEnvironment("AzureML-sklearn-0.24-ubuntu18.04-py37-cpu")->name,
            "Trainyard-Sklearn");
  EXPECT_EQ(FindCuratedEnvironment("AzureML-TensorFlow-2.0-GPU")->name,
            "Trainyard-TensorFlow-Keras");
  EXPECT_EQ(FindCuratedEnvironment("azureml-pytorch-1.7-ubuntu18.04-py37-cuda11-gpu")->name,
            "Trainyard-PyTorch");
  EXPECT_EQ(FindCuratedEnvironment("Trainyard-Sklearn")->name, "Trainyard-Sklearn");
  EXPECT_FALSE(FindCuratedEnvironment("AzureML-TensorFlow-1.13-CPU").has_value());
  EXPECT_FALSE(FindCuratedEnvironment("AzureML-PyTorch-").has_value());
  EXPECT_FALSE(FindCuratedEnvironment("my-env").has_value());
}

}  // namespace
}  // namespace trainyard
