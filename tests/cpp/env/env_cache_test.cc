#include "env/env_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "common/util.h"
#include "env/env_builder.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

// Sets or unsets an environment variable for the scope, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(EnvironmentCacheDir, OnePerMachineAndUserUnlessAsked) {
  const fs::path root = fs::temp_directory_path() / ("ty-envcache-" + RandomHex(6));
  fs::create_directories(root / "home");
  const fs::path data = root / "data";
  {
    ScopedEnv cache("TRAINYARD_ENV_CACHE", nullptr), xdg("XDG_CACHE_HOME", nullptr),
        home("HOME", (root / "home").c_str());
    EXPECT_EQ(EnvironmentCacheDir(data), root / "home" / ".cache" / "trainyard" / "envs");
    // Every workspace (data dir) gets the same cache.
    EXPECT_EQ(EnvironmentCacheDir(root / "other"), EnvironmentCacheDir(data));
  }
  {
    ScopedEnv cache("TRAINYARD_ENV_CACHE", nullptr), xdg("XDG_CACHE_HOME", (root / "x").c_str()),
        home("HOME", (root / "home").c_str());
    fs::create_directories(root / "x");
    EXPECT_EQ(EnvironmentCacheDir(data), root / "x" / "trainyard" / "envs");
  }
  {
    ScopedEnv cache("TRAINYARD_ENV_CACHE", ""), home("HOME", (root / "home").c_str());
    EXPECT_EQ(EnvironmentCacheDir(data), data / "envs");  // a private cache, as asked
  }
  {
    ScopedEnv cache("TRAINYARD_ENV_CACHE", "/somewhere/envs");
    EXPECT_EQ(EnvironmentCacheDir(data), fs::path("/somewhere/envs"));
  }
  {
    ScopedEnv cache("TRAINYARD_ENV_CACHE", nullptr), xdg("XDG_CACHE_HOME", nullptr),
        home("HOME", nullptr);
    EXPECT_EQ(EnvironmentCacheDir(data), data / "envs");  // no home: the data dir's
  }
  fs::remove_all(root);
}

TEST(EnvBuilderRemove, TakesTheBuildLockAndSkipsAnEnvironmentBeingBuilt) {
  const fs::path cache = fs::temp_directory_path() / ("ty-envs-" + RandomHex(6));
  const std::string hash(64, 'a');
  fs::create_directories(cache / hash / "bin");
  std::ofstream(cache / hash / ".trainyard-env.json") << R"({"name": "x", "created_millis": 1})";
  EnvBuilder builder(cache);
  auto listed = builder.List();
  ASSERT_EQ(listed.size(), 1u);
  // A build of the same hash holds its lock: nothing is removed.
  const int fd = ::open((cache / (hash + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  EXPECT_FALSE(builder.Remove(listed[0]));
  EXPECT_TRUE(fs::exists(cache / hash / "bin"));
  ::close(fd);
  EXPECT_TRUE(builder.Remove(listed[0]));
  EXPECT_FALSE(fs::exists(cache / hash));
  EXPECT_TRUE(builder.List().empty());
  fs::remove_all(cache);
}

}  // namespace
}  // namespace trainyard
