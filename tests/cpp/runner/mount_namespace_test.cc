// Read-only bind mounts for dataset inputs, exercised for real in forked children: as root
// (a private mount namespace) and as an unprivileged user (a user namespace first).
#include "runner/mount_namespace.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

// In a child: optionally drop to `uid`, apply the binds, try to write. Exit codes:
// 0 the write failed with EROFS, 1 the write succeeded, 2 ApplyInChild failed (namespaces
// unavailable), 3 another error.
int WriteInChild(const fs::path& dir, int uid) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (uid >= 0 && (::setgid(uid) != 0 || ::setuid(uid) != 0)) _exit(3);
    ReadOnlyBinds binds({{dir.string(), dir.string()}});
    const char* step = "";
    if (binds.ApplyInChild(&step) != 0) _exit(2);
    int fd = ::open((dir / "new.txt").c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) _exit(1);
    _exit(errno == EROFS ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

class MountNamespaceTest : public ::testing::Test {
 protected:
  MountNamespaceTest() : dir_(fs::temp_directory_path() / ("ty-ro-" + RandomHex(4))) {
    fs::create_directories(dir_);
    ::chmod(dir_.c_str(), 0777);  // writable by anyone: only the mount may refuse
    std::ofstream(dir_ / "data.txt") << "x";
  }
  ~MountNamespaceTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(MountNamespaceTest, ReadOnlyForTheChildOnly) {
  int r = WriteInChild(dir_, -1);
  if (r == 2) GTEST_SKIP() << "mount namespaces are not available here";
  EXPECT_EQ(r, 0) << "the write inside the read-only bind mount was not refused";
  // Outside the child's namespace the directory is as writable as before.
  std::ofstream(dir_ / "after.txt") << "y";
  EXPECT_TRUE(fs::exists(dir_ / "after.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "new.txt"));
}

TEST_F(MountNamespaceTest, UnprivilegedUserGetsAUserNamespaceFirst) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged uid";
  int r = WriteInChild(dir_, 65534);  // nobody
  if (r == 2) GTEST_SKIP() << "unprivileged user namespaces are disabled here";
  EXPECT_EQ(r, 0);
  EXPECT_FALSE(fs::exists(dir_ / "new.txt"));
}

TEST_F(MountNamespaceTest, ProbeAnswersAndCachesItsAnswer) {
  std::string why1, why2;
  bool a = ReadOnlyBindMountsAvailable(dir_.string(), &why1);
  bool b = ReadOnlyBindMountsAvailable(dir_.string(), &why2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(why1, why2);
  if (!a) {
    EXPECT_FALSE(why1.empty());
  }
}

}  // namespace
}  // namespace trainyard
