#include "runner/ignore_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/util.h"
#include "env/process.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("ty-ignore-" + RandomHex(6))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void Write(const std::string& rel, const std::string& content = "x") const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }

 private:
  fs::path path_;
};

TEST(GlobMatchPathTest, Basics) {
  EXPECT_TRUE(GlobMatchPath("*.py", "a.py"));
  EXPECT_FALSE(GlobMatchPath("*.py", "a/b.py"));  // '*' stops at '/'
  EXPECT_TRUE(GlobMatchPath("a?c", "abc"));
  EXPECT_FALSE(GlobMatchPath("a?c", "a/c"));
  EXPECT_TRUE(GlobMatchPath("[abc]x", "bx"));
  EXPECT_FALSE(GlobMatchPath("[abc]x", "dx"));
  EXPECT_TRUE(GlobMatchPath("[a-c]x", "cx"));
  EXPECT_FALSE(GlobMatchPath("[a-c]x", "dx"));
  EXPECT_TRUE(GlobMatchPath("[!a]x", "bx"));
  EXPECT_FALSE(GlobMatchPath("[!a]x", "ax"));
  EXPECT_TRUE(GlobMatchPath("[^a]x", "bx"));
  EXPECT_FALSE(GlobMatchPath("[^a]x", "ax"));
  EXPECT_TRUE(GlobMatchPath("[]]", "]"));
  EXPECT_TRUE(GlobMatchPath("[a-]", "-"));
  EXPECT_TRUE(GlobMatchPath("[[:digit:]]x", "7x"));
  EXPECT_FALSE(GlobMatchPath("[[:digit:]]x", "ax"));
  EXPECT_FALSE(GlobMatchPath("[a/]", "/"));
  EXPECT_FALSE(GlobMatchPath("a[", "a["));  // unterminated class never matches (git)
  EXPECT_TRUE(GlobMatchPath("\\*", "*"));
  EXPECT_FALSE(GlobMatchPath("\\*", "a"));
  EXPECT_TRUE(GlobMatchPath("**/foo", "foo"));
  EXPECT_TRUE(GlobMatchPath("**/foo", "a/b/foo"));
  EXPECT_FALSE(GlobMatchPath("**/foo", "a/b/xfoo"));
  EXPECT_TRUE(GlobMatchPath("foo/**", "foo/a"));
  EXPECT_TRUE(GlobMatchPath("foo/**", "foo/a/b"));
  EXPECT_FALSE(GlobMatchPath("foo/**", "foo"));
  EXPECT_TRUE(GlobMatchPath("a/**/b", "a/b"));
  EXPECT_TRUE(GlobMatchPath("a/**/b", "a/x/b"));
  EXPECT_TRUE(GlobMatchPath("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(GlobMatchPath("a/**/b", "a/xb"));
  EXPECT_TRUE(GlobMatchPath("a/*/b", "a/x/b"));
  EXPECT_FALSE(GlobMatchPath("a/*/b", "a/x/y/b"));
  EXPECT_TRUE(GlobMatchPath("a**b", "axxb"));  // not a whole segment: like '*'
  EXPECT_FALSE(GlobMatchPath("a**b", "ax/xb"));
  EXPECT_TRUE(GlobMatchPath("**", "any/thing/at/all"));
  EXPECT_TRUE(GlobMatchPath("*", ""));
  EXPECT_TRUE(GlobMatchPath("*.tar.*", "x.tar.gz"));
  EXPECT_TRUE(GlobMatchPath("*a*b*c*", "xxaxxbxxcxx"));
  EXPECT_FALSE(GlobMatchPath("*a*b*c*d", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbc"));
}

struct Case {
  const char* rules;
  const char* path;
  bool is_dir;
  bool ignored;
};

class IgnoreCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(IgnoreCaseTest, Matches) {
  const Case& c = GetParam();
  IgnoreRules rules = IgnoreRules::FromText(c.rules);
  EXPECT_EQ(rules.IsIgnored(c.path, c.is_dir), c.ignored)
      << "rules:\n"
      << c.rules << "\npath: " << c.path << (c.is_dir ? " (dir)" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Gitignore, IgnoreCaseTest,
    ::testing::Values(
        Case{"*.log", "a.log", false, true}, Case{"*.log", "dir/sub/a.log", false, true},
        Case{"*.log", "a.logx", false, false}, Case{"*.log", "a.log/x.txt", false, true},
        // comments, blank lines, escapes, trailing spaces
        Case{"# comment\n\n*.tmp\n", "x.tmp", false, true},
        Case{"# comment\n", "# comment", false, false}, Case{"\\#file", "#file", false, true},
        Case{"\\!imp", "!imp", false, true}, Case{"foo   ", "foo", false, true},
        Case{"foo   ", "foo   ", false, false}, Case{"foo\\ ", "foo ", false, true},
        Case{"foo\\ ", "foo", false, false}, Case{"*.log\r\n", "a.log", false, true},
        Case{"\xEF\xBB\xBF*.log", "a.log", false, true},
        // directory-only
        Case{"build/", "build", true, true}, Case{"build/", "build", false, false},
        Case{"build/", "src/build", true, true}, Case{"build/", "build/x.o", false, true},
        Case{"build/", "src/build/deep/x.o", false, true},
        // anchoring
        Case{"/root.txt", "root.txt", false, true}, Case{"/root.txt", "sub/root.txt", false, false},
        Case{"doc/frotz", "doc/frotz", false, true}, Case{"doc/frotz", "a/doc/frotz", false, false},
        Case{"doc/frotz/", "doc/frotz", true, true}, Case{"/*.csv", "x.csv", false, true},
        Case{"/*.csv", "d/x.csv", false, false}, Case{"data", "data", true, true},
        Case{"data", "data", false, true}, Case{"data", "x/data", true, true},
        Case{"data", "x/data/y", false, true},
        // negation and last-match-wins
        Case{"*.txt\n!keep.txt", "a.txt", false, true},
        Case{"*.txt\n!keep.txt", "keep.txt", false, false},
        Case{"*.txt\n!keep.txt", "d/keep.txt", false, false},
        Case{"!a.txt\n*.txt", "a.txt", false, true},
        Case{"logs/\n!logs/important.log", "logs/important.log", false, true},
        Case{"logs/*\n!logs/important.log", "logs/important.log", false, false},
        Case{"logs/*\n!logs/important.log", "logs/other.log", false, true},
        Case{"*\n!*/\n!*.py", "a.py", false, false}, Case{"*\n!*/\n!*.py", "d/a.py", false, false},
        Case{"*\n!*/\n!*.py", "d/a.txt", false, true},
        // ** forms
        Case{"**/foo", "foo", false, true}, Case{"**/foo", "a/b/foo", false, true},
        Case{"**/foo", "foo", true, true}, Case{"**/foo/bar", "foo/bar", false, true},
        Case{"**/foo/bar", "x/foo/bar", false, true}, Case{"**/foo/bar", "x/foo/baz", false, false},
        Case{"abc/**", "abc/x", false, true}, Case{"abc/**", "abc/x/y", false, true},
        Case{"abc/**", "abc", true, false}, Case{"a/**/b", "a/b", false, true},
        Case{"a/**/b", "a/x/y/b", false, true}, Case{"a/**/b", "a/xb", false, false},
        Case{"a/*/b", "a/x/b", false, true}, Case{"a/*/b", "a/x/y/b", false, false},
        // wildcards and classes
        Case{"*.py[co]", "x.pyc", false, true}, Case{"*.py[co]", "x.py", false, false},
        Case{"[a-c]*.dat", "b1.dat", false, true}, Case{"[a-c]*.dat", "d1.dat", false, false},
        Case{"[!a]*.dat", "b.dat", false, true}, Case{"[!a]*.dat", "a.dat", false, false},
        Case{"file?.txt", "file1.txt", false, true}, Case{"file?.txt", "file10.txt", false, false},
        // built-ins: .git and .trainyard always; __pycache__ only by rule
        Case{"", ".git", true, true}, Case{"", ".git/config", false, true},
        Case{"", "sub/.git", false, true}, Case{"!.git\n!.git/", ".git/HEAD", false, true},
        Case{"", ".trainyard/meta.db", false, true},
        Case{"", "__pycache__/x.cpython-311.pyc", false, false},
        Case{"__pycache__/", "pkg/__pycache__/x.pyc", false, true},
        Case{"", "src/main.py", false, false}));

TEST(IgnoreRulesTest, NestedFilesApplyBelowTheirDirectory) {
  IgnoreRules rules;
  rules.AddRules("*.tmp\nlocal.txt\n", "");
  rules.AddRules("!keep.tmp\n/only-here.txt\n", "sub");
  EXPECT_TRUE(rules.IsIgnored("keep.tmp", false));
  EXPECT_FALSE(rules.IsIgnored("sub/keep.tmp", false));
  EXPECT_FALSE(rules.IsIgnored("sub/deeper/keep.tmp", false));
  EXPECT_TRUE(rules.IsIgnored("sub/other.tmp", false));
  EXPECT_TRUE(rules.IsIgnored("sub/only-here.txt", false));
  EXPECT_FALSE(rules.IsIgnored("only-here.txt", false));
  EXPECT_FALSE(rules.IsIgnored("sub/x/only-here.txt", false));
  EXPECT_FALSE(rules.IsIgnored("subway/only-here.txt", false));
  EXPECT_TRUE(rules.IsIgnored("sub/local.txt", false));
}

TEST(IgnoreRulesTest, LoadPrefersAmlignoreAndReadsNestedFiles) {
  TempDir dir;
  dir.Write(".gitignore", "*.a\n");
  IgnoreRules git_only = IgnoreRules::Load(dir.path());
  EXPECT_TRUE(git_only.IsIgnored("x.a", false));
  EXPECT_EQ(git_only.sources(), std::vector<std::string>{".gitignore"});

  dir.Write(".amlignore", "*.b\nignored-dir/\n");
  dir.Write("sub/.gitignore", "*.c\n");
  dir.Write("ignored-dir/.gitignore", "!*.b\n");
  IgnoreRules rules = IgnoreRules::Load(dir.path());
  EXPECT_FALSE(rules.IsIgnored("x.a", false));  // .gitignore is not read when .amlignore exists
  EXPECT_TRUE(rules.IsIgnored("x.b", false));
  EXPECT_TRUE(rules.IsIgnored("sub/y.c", false));
  EXPECT_FALSE(rules.IsIgnored("y.c", false));
  EXPECT_TRUE(rules.IsIgnored("ignored-dir/z.b", false));
  std::vector<std::string> sources = rules.sources();
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(sources, (std::vector<std::string>{".amlignore", "sub/.gitignore"}));
}

TEST(IgnoreRulesTest, EmptyDirectoryHasNoRules) {
  TempDir dir;
  IgnoreRules rules = IgnoreRules::Load(dir.path());
  EXPECT_EQ(rules.rule_count(), 0u);
  EXPECT_FALSE(rules.IsIgnored("anything.py", false));
}

// Differential check against git itself: the files `git ls-files --others --exclude-standard`
// reports are exactly those IgnoreRules keeps.
TEST(IgnoreRulesTest, AgreesWithGitOnATree) {
  if (!FindExecutable("git")) GTEST_SKIP() << "git not installed";
  TempDir dir;
  dir.Write(".gitignore",
            "# generated\n*.pyc\n__pycache__/\n/build/\ndata/*\n!data/README.md\n"
            "**/checkpoints/**\nlogs/**/*.log\n!logs/keep/*.log\n*.tmp\n!important.tmp\n"
            "doc/*.html\n[Tt]emp*\n*.sw[a-p]\nnotes\\ draft.txt\n/top-only.txt\n"
            "outputs/\n*~\n");
  dir.Write("models/.gitignore", "*.bin\n!small.bin\n/local/\n");
  for (const char* f : {"a.py",
                        "a.pyc",
                        "pkg/__pycache__/m.pyc",
                        "pkg/m.py",
                        "build/out.o",
                        "src/build/keep.c",
                        "data/big.csv",
                        "data/README.md",
                        "data/sub/x.csv",
                        "run/checkpoints/c1.pt",
                        "checkpoints/c2.pt",
                        "checkpointsx/c3.pt",
                        "logs/a.log",
                        "logs/x/y/b.log",
                        "logs/keep/c.log",
                        "logs/keep/c.txt",
                        "x.tmp",
                        "important.tmp",
                        "dir/important.tmp",
                        "doc/index.html",
                        "doc/sub/index.html",
                        "Temp1.txt",
                        "temp2.txt",
                        "xtemp.txt",
                        "file.swp",
                        "file.swz",
                        "notes draft.txt",
                        "notes.txt",
                        "top-only.txt",
                        "sub/top-only.txt",
                        "outputs/model.pkl",
                        "sub/outputs/m.pkl",
                        "backup.py~",
                        "models/a.bin",
                        "models/small.bin",
                        "models/local/x.py",
                        "models/sub/local/y.py",
                        "models/b.bin.txt",
                        "weird [name].txt",
                        "sp ace/f.py"}) {
    dir.Write(f);
  }
  ProcessOptions init;
  init.argv = {"git", "-C", dir.path().string(), "init", "-q"};
  ASSERT_EQ(RunProcess(init).exit_code, 0);
  ProcessOptions ls;
  ls.argv = {"git", "-C", dir.path().string(), "ls-files", "--others", "--exclude-standard"};
  ls.capture = true;
  ls.env = {{"GIT_CONFIG_NOSYSTEM", "1"}};
  ProcessResult r = RunProcess(ls);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::string> git_files;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '"') continue;  // quoted names: none expected
    git_files.insert(line);
  }
  IgnoreRules rules = IgnoreRules::Load(dir.path());
  std::set<std::string> ours;
  for (auto it = fs::recursive_directory_iterator(dir.path());
       it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), dir.path()).generic_string();
    if (it->is_directory()) {
      if (rules.IsIgnored(rel, true)) it.disable_recursion_pending();
      continue;
    }
    if (!rules.IsIgnored(rel, false)) ours.insert(rel);
  }
  EXPECT_EQ(ours, git_files);
  EXPECT_GT(ours.size(), 10u);
}

// Found by fuzz_ignore_rules: many "**" segments made the matcher exponential (a one-line
// .amlignore could hang a submission). Matching is memoized now: this is instant.
TEST(GlobMatchPathTest, ManyStarStarSegmentsDoNotBlowUp) {
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "**/*a*/";
  pattern += "x";
  std::string path;
  for (int i = 0; i < 60; ++i) path += "aaa/";
  path += "y";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatchPath(pattern, path));
  EXPECT_TRUE(GlobMatchPath("**/**/**/**/**/**/**/**/**/**/x", path.substr(0, 200) + "x"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// The matcher is an NFA over the pattern's tokens: O(pattern x text) per match. The memoized
// backtracking matcher before it was O(pattern x text^2): for this pattern (50 "**" and "*b*"
// segments) against a 3,000-byte path it needed ~150 ms of CPU per match (Release), the NFA
// ~3 ms. Measured in CPU time, so a loaded machine does not make it flaky.
TEST(GlobMatchPathTest, LongPatternsAgainstLongPathsStayLinear) {
  std::string pattern;
  for (int i = 0; i < 50; ++i) pattern += i % 2 ? "*b*/" : "**/";
  pattern += "z";
  std::string path;
  for (int i = 0; i < 600; ++i) path += "abba/";
  std::clock_t start = std::clock();
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(GlobMatchPath(pattern, path + "y"));
  EXPECT_TRUE(GlobMatchPath(pattern, path + "z"));
  EXPECT_LT(double(std::clock() - start) / CLOCKS_PER_SEC, 1.0);
}

// Cases where a "**/" must end at a '/' (it matches zero or more whole directories) and a
// trailing "**" matches anything below.
TEST(GlobMatchPathTest, StarStarSegments) {
  EXPECT_FALSE(GlobMatchPath("**/", "a"));
  EXPECT_TRUE(GlobMatchPath("**/", "a/"));
  EXPECT_TRUE(GlobMatchPath("**/", ""));
  EXPECT_TRUE(GlobMatchPath("a/**/b", "a/b"));
  EXPECT_TRUE(GlobMatchPath("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(GlobMatchPath("a/**/b", "a/xb"));
  EXPECT_TRUE(GlobMatchPath("a/**", "a/x/y"));
  EXPECT_FALSE(GlobMatchPath("a/**", "a"));
  EXPECT_TRUE(GlobMatchPath("**", "x/y/z"));
  EXPECT_FALSE(GlobMatchPath("a**/b", "ax/y/b"));  // not a whole segment: a plain '*'
  EXPECT_TRUE(GlobMatchPath("a**/b", "axy/b"));
  EXPECT_FALSE(GlobMatchPath("a\\", "a\\"));  // trailing backslash never matches
}

}  // namespace
}  // namespace trainyard
