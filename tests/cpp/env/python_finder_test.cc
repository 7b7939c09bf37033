#include "env/python_finder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

PythonVersion V(int a, int b, int c) { return PythonVersion{a, b, c}; }

TEST(PythonVersionTest, Parse) {
  EXPECT_EQ(PythonVersion::Parse("3.11.7"), V(3, 11, 7));
  EXPECT_EQ(PythonVersion::Parse("3.8"), V(3, 8, 0));
  EXPECT_EQ(PythonVersion::Parse("3"), V(3, 0, 0));
  EXPECT_FALSE(PythonVersion::Parse("3.x").has_value());
  EXPECT_FALSE(PythonVersion::Parse("3.9.*").has_value());
  EXPECT_FALSE(PythonVersion::Parse("").has_value());
  EXPECT_FALSE(PythonVersion::Parse("3.13.0t").has_value());
  EXPECT_EQ(V(3, 11, 7).ToString(), "3.11.7");
  EXPECT_LT(V(3, 9, 18), V(3, 10, 0));
}

TEST(PythonPinTest, CondaSemantics) {
  auto m = [](const char* pin, PythonVersion v) { return PythonPin::Parse(pin).Matches(v); };
  EXPECT_TRUE(PythonPin().Matches(V(3, 6, 0)));
  EXPECT_TRUE(PythonPin::Parse("python").empty());
  EXPECT_TRUE(m("python=3.6", V(3, 6, 15)));
  EXPECT_FALSE(m("python=3.6", V(3, 7, 0)));
  EXPECT_TRUE(m("python=3.6.2", V(3, 6, 2)));
  EXPECT_FALSE(m("python=3.6.2", V(3, 6, 15)));
  EXPECT_TRUE(m("python>=3.8", V(3, 8, 0)));
  EXPECT_TRUE(m("python>=3.8", V(3, 13, 0)));
  EXPECT_FALSE(m("python>=3.8", V(3, 7, 16)));
  EXPECT_TRUE(m("python>=3.8,<3.12", V(3, 11, 7)));
  EXPECT_FALSE(m("python>=3.8,<3.12", V(3, 12, 1)));
  EXPECT_TRUE(m("python 3.9.*", V(3, 9, 18)));
  EXPECT_TRUE(m("python 3.9", V(3, 9, 18)));
  EXPECT_TRUE(m("python==3.8", V(3, 8, 0)));
  EXPECT_FALSE(m("python==3.8", V(3, 8, 1)));
  EXPECT_TRUE(m("python==3.8.*", V(3, 8, 1)));
  EXPECT_TRUE(m("python~=3.8", V(3, 12, 0)));
  EXPECT_FALSE(m("python~=3.8.1", V(3, 9, 0)));
  EXPECT_TRUE(m("python~=3.8.1", V(3, 8, 5)));
  EXPECT_TRUE(m("python!=3.9.*", V(3, 10, 0)));
  EXPECT_FALSE(m("python!=3.9.*", V(3, 9, 1)));
  EXPECT_TRUE(m("python=3.8|=3.10", V(3, 10, 2)));
  EXPECT_FALSE(m("python=3.8|=3.10", V(3, 9, 2)));
  EXPECT_TRUE(m("python=3.8.5=h7579374_1", V(3, 8, 5)));
  EXPECT_THROW(PythonPin::Parse("python=3.x"), InvalidInput);
  EXPECT_THROW(PythonPin::Parse("python>="), InvalidInput);
  EXPECT_THROW(PythonPin::Parse("python~=3"), InvalidInput);
  EXPECT_EQ(PythonPin::Parse("python=3.6.2").wanted(), V(3, 6, 2));
  EXPECT_FALSE(PythonPin::Parse("python>=3.8").wanted().has_value());
}

TEST(SelectPythonTest, PicksNewestMatchingElseFallsBackWithWarning) {
  std::vector<PythonInterpreter> available = {{"/p/3.11", V(3, 11, 7)},
                                              {"/p/3.13", V(3, 13, 0)},
                                              {"/p/3.6", V(3, 6, 15)},
                                              {"/p/3.8", V(3, 8, 18)}};
  std::optional<PythonChoice> any = SelectPython(PythonPin(), available);
  ASSERT_TRUE(any);
  EXPECT_EQ(any->interpreter.path, "/p/3.13");
  EXPECT_EQ(any->warning, "");

  std::optional<PythonChoice> range =
      SelectPython(PythonPin::Parse("python>=3.8,<3.12"), available);
  EXPECT_EQ(range->interpreter.path, "/p/3.11");
  EXPECT_EQ(range->warning, "");

  std::optional<PythonChoice> minor = SelectPython(PythonPin::Parse("python=3.8"), available);
  EXPECT_EQ(minor->interpreter.path, "/p/3.8");

  std::optional<PythonChoice> same_minor =
      SelectPython(PythonPin::Parse("python=3.6.2"), available);
  // 3.6.15 does not satisfy python=3.6.2: the newest Python 3 is used, with a warning.
  EXPECT_EQ(same_minor->interpreter.path, "/p/3.13");
  EXPECT_EQ(same_minor->warning,
            "python=3.6.2 is not available here; using Python 3.13.0 (/p/3.13)");

  std::optional<PythonChoice> impossible = SelectPython(PythonPin::Parse("python=3.99"), available);
  EXPECT_EQ(impossible->interpreter.path, "/p/3.13");
  EXPECT_EQ(impossible->warning,
            "python=3.99 is not available here; using Python 3.13.0 (/p/3.13)");

  EXPECT_FALSE(SelectPython(PythonPin(), {}).has_value());
}

TEST(FindPythonsTest, ThisMachine) {
  const std::vector<PythonInterpreter>& pythons = InstalledPythons();
  ASSERT_FALSE(pythons.empty()) << "no Python 3 found";
  for (size_t i = 0; i < pythons.size(); ++i) {
    EXPECT_EQ(pythons[i].version.major, 3);
    EXPECT_TRUE(fs::exists(pythons[i].path)) << pythons[i].path;
    if (i > 0) {
      EXPECT_GE(pythons[i - 1].version, pythons[i].version);
    }
  }
  EXPECT_EQ(&InstalledPythons(), &pythons);  // cached

  // An impossible pin still yields an interpreter, with the warning for the build log.
  std::optional<PythonChoice> c = SelectPython(PythonPin::Parse("python=2.7"), pythons);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->warning.rfind("python=2.7 is not available here; using Python 3.", 0), 0u)
      << c->warning;
}

TEST(FindPythonsTest, SkipsShimsAndDeduplicates) {
  const std::vector<PythonInterpreter>& installed = InstalledPythons();
  ASSERT_FALSE(installed.empty());
  fs::path dir = fs::temp_directory_path() / ("ty-py-" + RandomHex(6));
  fs::create_directories(dir / "bin");
  fs::create_directories(dir / "pyenv" / "versions" / "3.99.1" / "bin");
  {
    std::ofstream shim(dir / "bin" / "python3.12");
    shim << "#!/bin/sh\nexec python3 \"$@\"\n";
  }
  fs::permissions(dir / "bin" / "python3.12", fs::perms(0755));
  fs::create_symlink(installed[0].path, dir / "bin" / "python3");
  fs::create_symlink(installed[0].path, dir / "bin" / "python3.15");  // same binary again
  // A pyenv-style directory: the version comes from its name (not run).
  fs::create_symlink(installed[0].path, dir / "pyenv" / "versions" / "3.99.1" / "bin" / "python3");

  PythonSearchPaths paths;
  paths.path_dirs = {dir / "bin"};
  std::vector<PythonInterpreter> found = FindPythons(paths);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], installed[0]);

  paths.path_dirs = {};
  paths.pyenv_roots = {dir / "pyenv"};
  found = FindPythons(paths);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].version, V(3, 99, 1));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trainyard
