#include "common/confined_fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

// Runs every case twice: with openat2 and with the segment-walk fallback.
class ConfinedFsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    SetOpenat2ForTesting(GetParam());
    if (GetParam() && !Openat2Available()) GTEST_SKIP() << "openat2 unavailable here";
    dir_ = fs::temp_directory_path() / ("confined-" + RandomHex(6));
    root_ = dir_ / "root";
    fs::create_directories(root_ / "run" / "sub");
    std::ofstream(root_ / "run" / "a.txt") << "inside";
    std::ofstream(dir_ / "secret.txt") << "outside";
    fs::create_directories(dir_ / "venv" / "bin");
    // A venv-style link to an interpreter outside the tree, a link to a file outside, and a
    // directory link: none may be followed.
    fs::create_symlink("/usr/bin/env", root_ / "run" / "python");
    fs::create_symlink(dir_ / "secret.txt", root_ / "run" / "link.txt");
    fs::create_symlink(dir_, root_ / "run" / "up");
  }
  void TearDown() override {
    SetOpenat2ForTesting(true);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Read(int fd) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  fs::path dir_, root_;
};

TEST_P(ConfinedFsTest, OpensRegularFilesBeneathRoot) {
  UniqueFd fd = OpenBeneath(root_, "run/a.txt", O_RDONLY, "a.txt");
  EXPECT_EQ(Read(fd.get()), "inside");
  EXPECT_TRUE(IsRegularFileBeneath(root_, "run/a.txt"));
  EXPECT_THROW(OpenBeneath(root_, "run/missing", O_RDONLY, "missing"), NotFound);
}

TEST_P(ConfinedFsTest, RefusesSymlinksAnywhereOnThePath) {
  for (const char* rel : {"run/python", "run/link.txt", "run/up/secret.txt"}) {
    try {
      OpenBeneath(root_, rel, O_RDONLY, rel);
      FAIL() << rel << " was opened";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.code(), "PathNotConfined") << rel;
    }
    EXPECT_FALSE(IsRegularFileBeneath(root_, rel)) << rel;
  }
  // O_PATH (a stat-only open) does not open the link itself either.
  EXPECT_LT(OpenBeneathRaw(root_, "run/link.txt", O_PATH), 0);
  // '..' is refused even if it would stay inside.
  EXPECT_LT(OpenBeneathRaw(root_, "run/../run/a.txt", O_RDONLY), 0);
  EXPECT_LT(OpenBeneathRaw(root_, "../secret.txt", O_RDONLY), 0);
}

TEST_P(ConfinedFsTest, CreatesParentsWithoutFollowingLinks) {
  {
    UniqueFd fd = OpenBeneath(root_, "run/new/deeper/log.txt", O_WRONLY | O_CREAT | O_APPEND, "log",
                              0644, true);
    WriteAllFd(fd.get(), "hello", "log");
  }
  EXPECT_EQ(ReadFile(root_ / "run/new/deeper/log.txt"), "hello");
  // Appending "through" the directory link must not create anything outside.
  EXPECT_THROW(OpenBeneath(root_, "run/up/created.txt", O_WRONLY | O_CREAT, "x", 0644, true),
               InvalidInput);
  EXPECT_FALSE(fs::exists(dir_ / "created.txt"));
  // Appending to a link to a file outside must not change it.
  EXPECT_THROW(OpenBeneath(root_, "run/link.txt", O_WRONLY | O_APPEND, "x", 0644, true),
               InvalidInput);
  EXPECT_EQ(ReadFile(dir_ / "secret.txt"), "outside");
}

TEST_P(ConfinedFsTest, ListingSkipsLinksAndIsBounded) {
  std::ofstream(root_ / "run" / "sub" / "b.txt") << "bb";
  auto files = ListFilesBeneath(root_, "run");
  std::vector<std::string> rels;
  for (auto& f : files) rels.push_back(f.rel);
  std::sort(rels.begin(), rels.end());
  EXPECT_EQ(rels, (std::vector<std::string>{"a.txt", "sub/b.txt"}));
  EXPECT_TRUE(ListFilesBeneath(root_, "run/up").empty());
  EXPECT_TRUE(ListFilesBeneath(root_, "nope").empty());
  EXPECT_EQ(ListFilesBeneath(root_, "run", 1).size(), 1u);  // depth bound: top level only
}

INSTANTIATE_TEST_SUITE_P(Openat2AndWalk, ConfinedFsTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "openat2" : "walk"; });

}  // namespace
}  // namespace trainyard
