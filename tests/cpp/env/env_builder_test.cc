#include "env/env_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

class EnvBuilderTest : public ::testing::Test {
 protected:
  EnvBuilderTest() : cache_(fs::temp_directory_path() / ("ty-envs-" + RandomHex(6))) {}
  ~EnvBuilderTest() override {
    std::error_code ec;
    fs::remove_all(cache_, ec);
  }

  // Entries of the cache root whose names contain ".tmp-" (builds in progress or left over).
  size_t TempDirs() const {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache_, ec)) {
      n += e.path().filename().string().find(".tmp-") != std::string::npos;
    }
    return n;
  }

  static std::string RunPython(const fs::path& python, const std::string& code) {
    ProcessOptions o;
    o.argv = {python.string(), "-c", code};
    o.capture = true;
    ProcessResult r = RunProcess(o);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  static EnvSpec PipSpec(const std::vector<std::string>& pip) {
    EnvSpec spec;
    spec.name = "pip-test";
    spec.conda_dependencies = CondaDependencies{"", {}, {}, pip};
    return spec;
  }

  fs::path cache_;
};

TEST_F(EnvBuilderTest, UserManagedBuildsNothing) {
  EnvSpec spec;
  spec.user_managed_dependencies = true;
  std::vector<std::string> log;
  MaterializedEnv env =
      EnvBuilder(cache_).Materialize(spec, [&](std::string_view l) { log.emplace_back(l); });
  EXPECT_TRUE(env.user_managed);
  EXPECT_FALSE(env.built_now);
  EXPECT_TRUE(env.python_path.is_absolute());
  EXPECT_EQ(env.python_path.filename(), "python3");
  EXPECT_TRUE(env.env_dir.empty());
  EXPECT_EQ(env.spec_hash, UserManagedEnvironmentHash("python3"));
  EXPECT_FALSE(fs::exists(cache_));
  ASSERT_FALSE(log.empty());

  spec.interpreter_path = "/nonexistent/python3";
  try {
    EnvBuilder(cache_).Materialize(spec);
    FAIL() << "expected EnvironmentBuildFailed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "EnvironmentBuildFailed");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/python3"), std::string::npos);
  }
}

TEST_F(EnvBuilderTest, BuildsAVenvWithoutPackagesThenReusesIt) {
  EnvSpec spec = EnvSpec::FromJson(
      json{{"name", "empty"},
           {"python", {{"conda_dependencies", {{"dependencies", {"python=3.99", "pip"}}}}}}});
  std::vector<std::string> log;
  EnvBuilder builder(cache_);
  MaterializedEnv env = builder.Materialize(spec, [&](std::string_view l) { log.emplace_back(l); });
  EXPECT_TRUE(env.built_now);
  EXPECT_EQ(env.env_dir, cache_ / env.spec_hash);
  EXPECT_TRUE(fs::exists(env.env_dir / ".trainyard-env.json"));
  EXPECT_TRUE(fs::exists(env.site_packages)) << env.site_packages;
  EXPECT_EQ(TempDirs(), 0u);
  // The impossible pin is reported, in the result and in the log.
  ASSERT_EQ(env.warnings.size(), 1u);
  EXPECT_EQ(env.warnings[0].rfind("python=3.99 is not available here; using Python 3.", 0), 0u);
  EXPECT_NE(std::find_if(log.begin(), log.end(),
                         [](const std::string& l) {
                           return l.find("python=3.99 is not available here") != std::string::npos;
                         }),
            log.end());
  // The venv works after being renamed into place.
  EXPECT_EQ(RunPython(env.python_path, "import sys; print(sys.prefix)"), env.env_dir.string());

  // Second use: cached, nothing rebuilt.
  std::vector<double> micros;
  for (int i = 0; i < 21; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    MaterializedEnv again = builder.Materialize(spec);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_FALSE(again.built_now);
    EXPECT_EQ(again.spec_hash, env.spec_hash);
  }
  std::sort(micros.begin(), micros.end());
  // Printed, not asserted: timings are benchmarks (bench/), not tests.
  std::printf("cached Materialize: median %.1f us\n", micros[10]);

  std::vector<CachedEnv> listed = builder.List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].spec_hash, env.spec_hash);
  EXPECT_EQ(listed[0].name, "empty");
  EXPECT_EQ(listed[0].python_version, env.python_version.ToString());
  EXPECT_GT(listed[0].last_used_millis, 0);
}

TEST_F(EnvBuilderTest, ConcurrentMaterializeBuildsOnce) {
  EnvSpec spec;  // the default environment
  std::mutex mu;
  std::vector<MaterializedEnv> results;
  auto work = [&] {
    MaterializedEnv env = EnvBuilder(cache_).Materialize(spec);
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(env);
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].spec_hash, results[1].spec_hash);
  EXPECT_EQ(results[0].built_now + results[1].built_now, 1);
  EXPECT_EQ(TempDirs(), 0u);
}

TEST_F(EnvBuilderTest, NonexistentPackageFailsWithPipsMessageAndLeavesNothing) {
  EnvSpec spec = PipSpec({"nonexistent-pkg-xyz"});
  std::vector<std::string> log;
  MaterializedEnv probe;
  try {
    EnvBuilder(cache_).Materialize(spec, [&](std::string_view l) { log.emplace_back(l); });
    FAIL() << "expected EnvironmentBuildFailed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "EnvironmentBuildFailed");
    EXPECT_NE(std::string(e.what()).find("No matching distribution found for nonexistent-pkg-xyz"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(TempDirs(), 0u);
  for (const auto& e : fs::directory_iterator(cache_)) {
    EXPECT_EQ(e.path().extension(), ".lock") << e.path();  // no environment directory
  }
  EXPECT_TRUE(EnvBuilder(cache_).List().empty());
}

// The one test that downloads from PyPI: a tiny pure-Python package.
TEST_F(EnvBuilderTest, PipInstallsAPackage) {
  EnvSpec spec = PipSpec({"six==1.16.0", "azureml-defaults"});
  std::vector<std::string> log;
  MaterializedEnv env =
      EnvBuilder(cache_).Materialize(spec, [&](std::string_view l) { log.emplace_back(l); });
  EXPECT_TRUE(env.built_now);
  EXPECT_EQ(env.plan.packages, std::vector<std::string>{"six==1.16.0"});
  EXPECT_EQ(env.plan.satisfied_by_trainyard, std::vector<std::string>{"azureml-defaults"});
  EXPECT_EQ(RunPython(env.python_path, "import six; print(six.__version__)"), "1.16.0");
  EXPECT_TRUE(fs::exists(env.site_packages / "six.py"));
  EXPECT_EQ(ReadFile(env.env_dir / "trainyard-requirements.txt"), "six==1.16.0\n");
  bool installed = false;
  for (const std::string& l : log) installed |= l.find("Successfully installed six") == 0;
  EXPECT_TRUE(installed);
  // Console scripts point at the final location, not the temporary build directory.
  std::string pip_script = ReadFile(env.env_dir / "bin" / "pip");
  EXPECT_EQ(pip_script.find(".tmp-"), std::string::npos) << pip_script.substr(0, 200);
  EXPECT_EQ(pip_script.rfind("#!" + env.env_dir.string() + "/bin/python", 0), 0u);
}

}  // namespace
}  // namespace trainyard
