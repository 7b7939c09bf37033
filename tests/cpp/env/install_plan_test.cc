#include "env/install_plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trainyard {
namespace {
using json = nlohmann::json;

struct Mapping {
  const char* conda;
  const char* pip;  // nullptr: skipped
};

class CondaToPipTest : public ::testing::TestWithParam<Mapping> {};

TEST_P(CondaToPipTest, Maps) {
  const Mapping& m = GetParam();
  std::string note;
  std::optional<std::string> pip = CondaToPip(m.conda, &note);
  if (m.pip == nullptr) {
    EXPECT_FALSE(pip.has_value()) << m.conda << " -> " << *pip;
    EXPECT_NE(note.find("skipped"), std::string::npos) << note;
  } else {
    ASSERT_TRUE(pip.has_value()) << m.conda;
    EXPECT_EQ(*pip, m.pip) << m.conda;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CondaToPipTest,
    ::testing::Values(
        Mapping{"numpy", "numpy"}, Mapping{"scikit-learn", "scikit-learn"},
        Mapping{"numpy=1.19", "numpy==1.19.*"}, Mapping{"numpy=1.19.2", "numpy==1.19.2"},
        Mapping{"numpy>=1.1", "numpy>=1.1"}, Mapping{"numpy>=1.1,<2", "numpy>=1.1,<2"},
        Mapping{"numpy >=1.1", "numpy>=1.1"}, Mapping{"numpy==1.19.2", "numpy==1.19.2"},
        Mapping{"numpy=1.19.*", "numpy==1.19.*"}, Mapping{"numpy=1.19*", "numpy==1.19.*"},
        Mapping{"numpy=1.19.2=py38h6163131_0", "numpy==1.19.2"},
        Mapping{"numpy 1.19.2", "numpy==1.19.2"}, Mapping{"numpy 1.19.* py38_0", "numpy==1.19.*"},
        Mapping{"numpy=1", "numpy==1.*"}, Mapping{"pytorch", "torch"},
        Mapping{"pytorch=1.7", "torch==1.7.*"}, Mapping{"pytorch::pytorch>=2.0", "torch>=2.0"},
        Mapping{"py-xgboost", "xgboost"}, Mapping{"conda-forge::py-xgboost=1.3", "xgboost==1.3.*"},
        Mapping{"matplotlib-base", "matplotlib"}, Mapping{"opencv", "opencv-python"},
        Mapping{"py-opencv=4.5", "opencv-python==4.5.*"}, Mapping{"pytables", "tables"},
        Mapping{"tensorflow-gpu=2.4", "tensorflow==2.4.*"}, Mapping{"python-graphviz", "graphviz"},
        Mapping{"msgpack-python", "msgpack"}, Mapping{"pip", nullptr},
        Mapping{"pip=20.2.4", nullptr}, Mapping{"setuptools", nullptr}, Mapping{"wheel", nullptr},
        Mapping{"cudatoolkit=11.3", nullptr}, Mapping{"cudnn", nullptr}, Mapping{"mkl", nullptr},
        Mapping{"_libgcc_mutex", nullptr}, Mapping{"cpuonly", nullptr},
        Mapping{"python_abi=3.8=2_cp38", nullptr}));

TEST(InstallPlanTest, RestExample) {
  EnvSpec spec = EnvSpec::FromJson(json::parse(R"({"name": "myenv",
    "python": {"conda_dependencies": {"channels": ["conda-forge"],
      "dependencies": ["python=3.6.2", "scikit-learn", "numpy", {"pip": ["azureml-defaults"]}]}}})"));
  InstallPlan plan = MakeInstallPlan(spec);
  EXPECT_EQ(plan.python.text(), "python=3.6.2");
  EXPECT_EQ(plan.packages, (std::vector<std::string>{"scikit-learn", "numpy"}));
  EXPECT_EQ(plan.satisfied_by_trainyard, std::vector<std::string>{"azureml-defaults"});
  EXPECT_TRUE(plan.pip_options.empty());
  EXPECT_EQ(plan.RequirementsText(), "scikit-learn\nnumpy\n");
  bool noted = false;
  for (const std::string& n : plan.notes) noted |= n.find("azureml-defaults") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(InstallPlanTest, OrderOptionsAndRequirementsText) {
  EnvSpec spec;
  spec.conda_dependencies =
      CondaDependencies{"e",
                        {},
                        {"python>=3.8", "pip", "pytorch=2.1", "azureml-core", "pandas"},
                        {"--extra-index-url https://download.pytorch.org/whl/cpu",
                         "azureml-sdk[automl]==1.0", "requests==2.31.0"}};
  spec.pip_requirements = "# comment\nAzureML_Core>=1\nrich\n--pre\n";
  spec.docker_enabled = true;
  InstallPlan plan = MakeInstallPlan(spec);
  EXPECT_EQ(plan.python.text(), "python>=3.8");
  EXPECT_EQ(plan.packages,
            (std::vector<std::string>{"torch==2.1.*", "pandas", "requests==2.31.0", "rich"}));
  EXPECT_EQ(plan.pip_options,
            (std::vector<std::string>{"--extra-index-url https://download.pytorch.org/whl/cpu",
                                      "--pre"}));
  EXPECT_EQ(
      plan.satisfied_by_trainyard,
      (std::vector<std::string>{"azureml-core", "azureml-sdk[automl]==1.0", "AzureML_Core>=1"}));
  EXPECT_EQ(plan.RequirementsText(),
            "--extra-index-url https://download.pytorch.org/whl/cpu\n--pre\ntorch==2.1.*\n"
            "pandas\nrequests==2.31.0\nrich\n");
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("docker.enabled is ignored"), std::string::npos);
}

TEST(InstallPlanTest, AzureMlPackages) {
  for (const char* yes : {"azureml", "azureml-defaults", "azureml-sdk[automl,notebooks]",
                          "azureml-core==1.0.83", "azureml_core", "AzureML-Train-Core>=1",
                          "azureml.core", "azureml-dataprep ; python_version >= '3.6'"}) {
    EXPECT_TRUE(IsAzureMlPackage(yes)) << yes;
  }
  for (const char* no : {"azure-storage-blob", "azuremlx", "mlflow", "azure-ai-ml",
                         "git+https://github.com/azureml/x.git"}) {
    EXPECT_FALSE(IsAzureMlPackage(no)) << no;
  }
}

TEST(InstallPlanTest, UnsupportedCondaVersionThrows) {
  EnvSpec spec;
  spec.conda_dependencies = CondaDependencies{"", {}, {"numpy=1.19|1.20"}, {}};
  EXPECT_THROW(MakeInstallPlan(spec), InvalidInput);
}

TEST(EnvironmentHashTest, StableAndSensitiveToWhatMatters) {
  PythonInterpreter py{"/usr/bin/python3.11", {3, 11, 7}};
  auto hash = [&](const std::string& text) {
    return EnvironmentHash(MakeInstallPlan(EnvSpec::FromJson(json::parse(text))), py);
  };
  std::string base = hash(R"({"name": "a", "environment_variables": {"X": "1"},
      "python": {"user_managed_dependencies": false,
                 "conda_dependencies": {"dependencies": ["numpy", {"pip": ["six"]}]}}})");
  // Same content, keys in another order, other name and variables: same hash.
  EXPECT_EQ(base, hash(R"({"python": {"conda_dependencies": {"dependencies": ["numpy",
      {"pip": ["six"]}]}, "user_managed_dependencies": false}, "name": "b",
      "environment_variables": {"Y": "2"}})"));
  EXPECT_EQ(base.size(), 64u);
  // The same packages written as pip_requirements: same plan, same hash.
  EXPECT_EQ(base, hash(R"({"python": {"conda_dependencies": {"dependencies": ["numpy"]}},
      "pip_requirements": "six\n"})"));
  // A different package, another order, another interpreter: different hashes.
  EXPECT_NE(base, hash(R"({"python": {"conda_dependencies": {"dependencies": ["numpy",
      {"pip": ["seven"]}]}}})"));
  EXPECT_NE(hash(R"({"pip_requirements": "six\nseven\n"})"),
            hash(R"({"pip_requirements": "seven\nsix\n"})"));
  InstallPlan plan = MakeInstallPlan(EnvSpec{});
  EXPECT_NE(EnvironmentHash(plan, py),
            EnvironmentHash(plan, PythonInterpreter{"/usr/bin/python3.11", {3, 11, 8}}));
  EXPECT_NE(EnvironmentHash(plan, py), UserManagedEnvironmentHash("python3"));
  EXPECT_EQ(UserManagedEnvironmentHash(""), UserManagedEnvironmentHash("python3"));
  EXPECT_NE(UserManagedEnvironmentHash("python3"),
            UserManagedEnvironmentHash("/opt/py/bin/python"));
}

}  // namespace
}  // namespace trainyard
