#include "env/env_spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trainyard {
namespace {
using json = nlohmann::json;

const char* kRestExample = R"({"name": "myenv", "version": null,
 "python": {"user_managed_dependencies": false, "interpreter_path": null,
            "conda_dependencies": {"name": "sklearn-training-env", "channels": ["conda-forge"],
                                   "dependencies": ["python=3.6.2", "scikit-learn", "numpy",
                                                    {"pip": ["azureml-defaults"]}]}},
 "pip_requirements": null,
 "environment_variables": {"K": "V"},
 "docker": {"enabled": false, "base_image": null}})";

// The InvalidInput message FromJson throws for `j`, or "" when it parses.
std::string ErrorOf(const json& j) {
  try {
    EnvSpec::FromJson(j);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

std::string YamlErrorOf(const std::string& yaml) {
  try {
    EnvSpec::FromCondaYaml(yaml, "env");
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

json WithDeps(json deps) {
  return json{{"python", {{"conda_dependencies", {{"dependencies", std::move(deps)}}}}}};
}

TEST(EnvSpecTest, ParsesRestExample) {
  EnvSpec spec = EnvSpec::FromJson(json::parse(kRestExample));
  EXPECT_EQ(spec.name, "myenv");
  EXPECT_FALSE(spec.version.has_value());
  EXPECT_FALSE(spec.user_managed_dependencies);
  ASSERT_TRUE(spec.conda_dependencies.has_value());
  EXPECT_EQ(spec.conda_dependencies->name, "sklearn-training-env");
  EXPECT_EQ(spec.conda_dependencies->channels, std::vector<std::string>{"conda-forge"});
  EXPECT_EQ(spec.conda_dependencies->conda_packages,
            (std::vector<std::string>{"python=3.6.2", "scikit-learn", "numpy"}));
  EXPECT_EQ(spec.conda_dependencies->pip_packages, std::vector<std::string>{"azureml-defaults"});
  EXPECT_EQ(spec.environment_variables.at("K"), "V");
  EXPECT_EQ(EnvSpec::FromJson(spec.ToJson()), spec);  // round trip
}

TEST(EnvSpecTest, NullIsTheDefaultEnvironment) {
  EnvSpec spec = EnvSpec::FromJson(nullptr);
  EXPECT_EQ(spec, EnvSpec{});
  EXPECT_FALSE(spec.conda_dependencies.has_value());
  EXPECT_EQ(EnvSpec::FromJson(json::object()), EnvSpec{});
}

TEST(EnvSpecTest, AcceptsCamelCaseAndScalarEnvValues) {
  json j = {{"name", "AzureML-Minimal"},
            {"version", 3},
            {"python",
             {{"userManagedDependencies", true},
              {"interpreterPath", "/usr/bin/python3"},
              {"condaDependencies", {{"dependencies", {"numpy"}}}}}},
            {"environmentVariables", {{"N", 4}, {"B", true}}},
            {"docker", {{"enabled", true}, {"baseImage", "mcr.microsoft.com/x"}}}};
  EnvSpec spec = EnvSpec::FromJson(j);
  EXPECT_EQ(spec.version, "3");
  EXPECT_TRUE(spec.user_managed_dependencies);
  EXPECT_EQ(spec.interpreter_path, "/usr/bin/python3");
  EXPECT_EQ(spec.environment_variables.at("N"), "4");
  EXPECT_EQ(spec.environment_variables.at("B"), "true");
  EXPECT_TRUE(spec.docker_enabled);
  EXPECT_EQ(spec.docker_base_image, "mcr.microsoft.com/x");
}

TEST(EnvSpecTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(json::array()), "environment: must be an object or null");
  EXPECT_EQ(ErrorOf({{"python", 1}}), "environment.python: must be an object or null");
  EXPECT_EQ(ErrorOf({{"python", {{"user_managed_dependencies", "yes"}}}}),
            "environment.python.user_managed_dependencies: must be true or false");
  EXPECT_NE(ErrorOf({{"name", "bad name!"}}).find("environment.name"), std::string::npos);
  EXPECT_EQ(ErrorOf(WithDeps({"numpy", 5})),
            "environment.python.conda_dependencies.dependencies[1]: must be a package spec "
            "string or {\"pip\": [...]}, got 5");
  EXPECT_NE(ErrorOf(WithDeps({{{"conda", {"x"}}}})).find("dependencies[0]: must be a package"),
            std::string::npos);
  EXPECT_EQ(
      ErrorOf(WithDeps({"numpy", {{"pip", {"requests", 3}}}})),
      "environment.python.conda_dependencies.dependencies[1].pip[1]: must be a string, got 3");
  EXPECT_EQ(ErrorOf(WithDeps({{{"pip", "requests"}}})),
            "environment.python.conda_dependencies.dependencies[0].pip: must be a list of strings");
  EXPECT_EQ(ErrorOf({{"python", {{"conda_dependencies", {{"dependencies", "numpy"}}}}}}),
            "environment.python.conda_dependencies.dependencies: must be a list");
  EXPECT_EQ(ErrorOf({{"python", {{"conda_dependencies", {{"channels", {1}}}}}}}),
            "environment.python.conda_dependencies.channels[0]: must be a string");
  EXPECT_EQ(ErrorOf({{"environment_variables", {{"1BAD", "x"}}}}),
            "environment.environment_variables: invalid environment variable name '1BAD': must "
            "start with a letter or '_' and contain only letters, digits and '_' (at most 255 "
            "characters)");
  EXPECT_NE(ErrorOf({{"environment_variables", {{"A-B", "x"}}}}).find("'A-B'"), std::string::npos);
  EXPECT_EQ(ErrorOf({{"environment_variables", {{"A", {1, 2}}}}}),
            "environment.environment_variables.A: must be a string");
  EXPECT_EQ(ErrorOf({{"environment_variables", "A=1"}}),
            "environment.environment_variables: must be an object of name: value");
}

TEST(EnvSpecTest, PackageSpecValidation) {
  const std::string pip0 = "environment.python.conda_dependencies.dependencies[0].pip[0]";
  auto pip_error = [](const std::string& entry) { return ErrorOf(WithDeps({{{"pip", {entry}}}})); };
  for (const char* ok :
       {"numpy", "numpy==1.19.2", "numpy>=1.1,<2", "scikit-learn~=1.3", "torch[cuda] >= 2.0",
        "requests[security,socks]==2.31", "pkg ; python_version < \"3.8\"",
        "pkg @ https://example.com/pkg-1.0.tar.gz", "git+https://github.com/org/repo.git@v1",
        "https://example.com/x.whl", "pkg==1.0 --hash=sha256:abcdef0123",
        "--extra-index-url https://download.pytorch.org/whl/cpu", "--pre", "-f=/opt/wheels",
        "numpy===1.0", "zope.interface", "Django<5", "a_b-c.d"}) {
    EXPECT_EQ(pip_error(ok), "") << ok;
  }
  EXPECT_EQ(pip_error("num$py"),
            pip0 + ": invalid 'num$py': contains '$', which is not allowed in a package spec");
  EXPECT_EQ(pip_error("numpy=1.19"),
            pip0 + ": invalid 'numpy=1.19': pip versions use '==' (a single '=' is conda syntax)");
  EXPECT_NE(pip_error("numpy 1.19").find("unexpected '1' after the package name"),
            std::string::npos);
  EXPECT_NE(pip_error("-r requirements.txt").find("-r, -c"), std::string::npos);
  EXPECT_NE(pip_error("-e ./mypkg").find("editable installs (-e) are not supported"),
            std::string::npos);
  EXPECT_NE(pip_error("--user").find("unsupported pip option"), std::string::npos);
  EXPECT_NE(pip_error("--index-url").find("--index-url needs a value"), std::string::npos);
  EXPECT_NE(pip_error("pkg ; os_name == 'x' && rm").find("environment marker contains '&'"),
            std::string::npos);
  EXPECT_NE(pip_error("pkg[ab").find("unclosed '['"), std::string::npos);
  EXPECT_NE(pip_error("_pkg").find("must start with a package name"), std::string::npos);
  EXPECT_NE(pip_error("pkg==1.0 --install-option=x").find("only --hash"), std::string::npos);
  EXPECT_NE(pip_error("").find("must not be empty"), std::string::npos);

  auto conda_error = [](const std::string& entry) { return ErrorOf(WithDeps({entry})); };
  for (const char* ok :
       {"python=3.6.2", "numpy", "numpy=1.19", "numpy>=1.1,<2", "conda-forge::py-xgboost=1.3",
        "numpy 1.19.*", "pytorch=1.7=py3.8_0", "_libgcc_mutex", "python>=3.8|<3.0"}) {
    EXPECT_EQ(conda_error(ok), "") << ok;
  }
  EXPECT_NE(conda_error("numpy[version='>=1.0']").find("bracket match specs"), std::string::npos);
  EXPECT_NE(conda_error("numpy;x").find("contains ';'"), std::string::npos);
  EXPECT_NE(conda_error("python=3.x").find("invalid Python version in 'python=3.x'"),
            std::string::npos);
  EXPECT_NE(conda_error("numpy=1.19|1.20").find("only supported for python"), std::string::npos);
  EXPECT_NE(conda_error("=1.0").find("must start with a package name"), std::string::npos);
}

TEST(EnvSpecTest, PipRequirementsText) {
  PipRequirements r = ParsePipRequirements(
      "# training deps\n\nnumpy==1.26.4  # pinned\nscikit-learn\\\n>=1.3\n"
      "--extra-index-url https://example.com/simple\r\npandas ; python_version >= \"3.8\"\n"
      "pkg==1.0 \\\n    --hash=sha256:0123abcd\n",
      "environment.pip_requirements");
  EXPECT_EQ(r.requirements, (std::vector<std::string>{"numpy==1.26.4", "scikit-learn>=1.3",
                                                      "pandas ; python_version >= \"3.8\"",
                                                      "pkg==1.0     --hash=sha256:0123abcd"}));
  EXPECT_EQ(r.options, std::vector<std::string>{"--extra-index-url https://example.com/simple"});

  std::string msg = ErrorOf({{"pip_requirements", "numpy\n\n-r other.txt\n"}});
  EXPECT_EQ(msg.rfind("environment.pip_requirements line 3: invalid '-r other.txt': requirement "
                      "and constraint files (-r, -c) are not supported",
                      0),
            0u)
      << msg;
  EXPECT_NE(ErrorOf({{"pip_requirements", "-e git+https://x/y.git#egg=y"}}).find("line 1"),
            std::string::npos);
  EXPECT_EQ(ErrorOf({{"pip_requirements", 3}}), "environment.pip_requirements: must be a string");
}

TEST(EnvSpecTest, CondaYaml) {
  EnvSpec spec = EnvSpec::FromCondaYaml(R"(name: project_environment
channels:
  - conda-forge
dependencies:
  - python=3.8
  - numpy>=1.19
  - pip
  - pip:
    - azureml-defaults
    - torch==2.1.0
variables:
  OMP_NUM_THREADS: 1
)",
                                        "");
  EXPECT_EQ(spec.name, "project_environment");
  ASSERT_TRUE(spec.conda_dependencies.has_value());
  EXPECT_EQ(spec.conda_dependencies->conda_packages,
            (std::vector<std::string>{"python=3.8", "numpy>=1.19", "pip"}));
  EXPECT_EQ(spec.conda_dependencies->pip_packages,
            (std::vector<std::string>{"azureml-defaults", "torch==2.1.0"}));
  EXPECT_EQ(spec.environment_variables.at("OMP_NUM_THREADS"), "1");
  EXPECT_EQ(EnvSpec::FromCondaYaml("dependencies: [numpy]\n", "given").name, "given");
  EXPECT_EQ(EnvSpec::FromJson(spec.ToJson()), spec);
}

TEST(EnvSpecTest, CondaYamlErrorsNameTheLine) {
  EXPECT_EQ(YamlErrorOf("name: x\ndependencies:\n  - numpy\n  - [unclosed\n")
                .rfind("conda environment file, line ", 0),
            0u);
  std::string msg = YamlErrorOf("name: x\ndependencies:\n  - numpy\n    bad: indent\n");
  EXPECT_NE(msg.find("line "), std::string::npos) << msg;
  EXPECT_EQ(YamlErrorOf("name: x\ndependencies:\n  - numpy\n  - conda:\n    - x\n"),
            "conda environment file, line 4: a dependency must be a package spec or a 'pip:' "
            "list of packages");
  EXPECT_EQ(YamlErrorOf("dependencies:\n  - numpy\n  - pip:\n    - ok\n    - num$py\n"),
            "conda environment file, line 5: invalid 'num$py': contains '$', which is not "
            "allowed in a package spec");
  EXPECT_EQ(YamlErrorOf("dependencies: numpy\n"),
            "conda environment file, line 1: 'dependencies' must be a list");
  EXPECT_EQ(YamlErrorOf("- a\n- b\n"),
            "conda environment file: expected a mapping with 'name', 'channels' and "
            "'dependencies'");
  EXPECT_EQ(YamlErrorOf("variables:\n  9X: 1\n").rfind("conda environment file, line 2:", 0), 0u);
  // yaml-cpp turns the escapes \N and \_ into bytes that are not UTF-8 (fuzz/corpus/env_spec/
  // regress-yaml-escape-n): a clear 400, not an exception from the JSON dump.
  for (const char* yml :
       {"variables:\n  A: \"x\\Ny\"\n", "name: \"a\\_b\"\n", "dependencies:\n  - \"numpy\\N\"\n"}) {
    std::string m = YamlErrorOf(yml);
    EXPECT_NE(m.find("is not valid UTF-8 after YAML unescaping"), std::string::npos) << m;
    EXPECT_EQ(m.rfind("conda environment file, line ", 0), 0u) << m;
  }
}

}  // namespace
}  // namespace trainyard
