#include "data/glob.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

TEST(GlobTest, StarStaysInsideOneSegment) {
  EXPECT_TRUE(GlobMatch("*.csv", "a.csv"));
  EXPECT_FALSE(GlobMatch("*.csv", "dir/a.csv"));
  EXPECT_TRUE(GlobMatch("data/*.csv", "data/a.csv"));
  EXPECT_FALSE(GlobMatch("data/*.csv", "data/a.tsv"));
}

TEST(GlobTest, DoubleStarMatchesAnyDepthIncludingNone) {
  EXPECT_TRUE(GlobMatch("a/**/*.csv", "a/x.csv"));
  EXPECT_TRUE(GlobMatch("a/**/*.csv", "a/b/c/x.csv"));
  EXPECT_FALSE(GlobMatch("a/**/*.csv", "b/x.csv"));
  EXPECT_TRUE(GlobMatch("data/**", "data/x"));
  EXPECT_TRUE(GlobMatch("data/**", "data/deep/er/x"));
  EXPECT_FALSE(GlobMatch("data/**", "other/x"));
  EXPECT_TRUE(GlobMatch("**", "anything/at/all"));
  EXPECT_TRUE(GlobMatch("**/t10k-*", "mnist/raw/t10k-images"));
}

TEST(GlobTest, QuestionMarkAndClasses) {
  EXPECT_TRUE(GlobMatch("train-??.gz", "train-01.gz"));
  EXPECT_FALSE(GlobMatch("train-??.gz", "train-1.gz"));
  EXPECT_TRUE(GlobMatch("part-[0-9].csv", "part-7.csv"));
  EXPECT_FALSE(GlobMatch("part-[0-9].csv", "part-x.csv"));
  EXPECT_TRUE(GlobMatch("part-[!0-9].csv", "part-x.csv"));
  EXPECT_TRUE(GlobMatch("a[.csv", "a[.csv"));  // an unclosed class is a literal '['
}

TEST(GlobTest, SplitGlobSeparatesTheLiteralBase) {
  GlobParts p = SplitGlob("data/2020/*/x.csv");
  EXPECT_EQ(p.base, "data/2020");
  EXPECT_EQ(p.rest, "*/x.csv");
  p = SplitGlob("plain/file.txt");
  EXPECT_EQ(p.base, "plain/file.txt");
  EXPECT_EQ(p.rest, "");
  EXPECT_TRUE(HasGlobChars("a/**"));
  EXPECT_FALSE(HasGlobChars("a/b"));
}

TEST(GlobTest, ExpandGlobWalksADirectorySorted) {
  fs::path root = fs::temp_directory_path() / ("ty-glob-" + RandomHex(4));
  for (const char* rel : {"a/x.csv", "a/b/y.csv", "a/b/z.txt", "top.csv"}) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << "1";
  }
  EXPECT_EQ(ExpandGlob(root, "**/*.csv"),
            (std::vector<std::string>{"a/b/y.csv", "a/x.csv", "top.csv"}));
  EXPECT_EQ(ExpandGlob(root, "a/**"),
            (std::vector<std::string>{"a/b/y.csv", "a/b/z.txt", "a/x.csv"}));
  EXPECT_TRUE(ExpandGlob(root / "missing", "**").empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace trainyard
