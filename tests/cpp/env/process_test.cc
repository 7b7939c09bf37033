#include "env/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/error.h"

namespace trainyard {
namespace {

TEST(ProcessTest, StreamsMergedLinesAndReturnsExitCode) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo one; echo two >&2; printf 'three'; exit 3"};
  std::vector<std::string> lines;
  ProcessResult r = RunProcess(o, [&](std::string_view l) { lines.emplace_back(l); });
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(r.tail, lines);
  EXPECT_EQ(r.TailText(), "one\ntwo\nthree");
}

TEST(ProcessTest, DiscardsStderrWhenAskedAndCaptures) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo out; echo err >&2"};
  o.merge_stderr = false;
  o.capture = true;
  ProcessResult r = RunProcess(o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.output, "out");
}

TEST(ProcessTest, TailKeepsLastLines) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "for i in 1 2 3 4 5 6; do echo $i; done"};
  o.tail_lines = 2;
  ProcessResult r = RunProcess(o);
  EXPECT_EQ(r.tail, (std::vector<std::string>{"5", "6"}));
}

TEST(ProcessTest, EnvironmentAndWorkingDirectory) {
  ::setenv("TY_PROCESS_TEST_REMOVE", "gone", 1);
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo \"$TY_A|${TY_PROCESS_TEST_REMOVE:-unset}|$(pwd)\""};
  o.env = {{"TY_A", "value with spaces"}, {"TY_PROCESS_TEST_REMOVE", std::nullopt}};
  o.cwd = "/tmp";
  o.capture = true;
  ProcessResult r = RunProcess(o);
  EXPECT_EQ(r.output, "value with spaces|unset|/tmp");

  ProcessOptions clean;
  clean.argv = {"/usr/bin/env"};
  clean.clear_env = true;
  clean.env = {{"ONLY", "1"}};
  clean.capture = true;
  EXPECT_EQ(RunProcess(clean).output, "ONLY=1");
}

TEST(ProcessTest, ArgumentsAreNotInterpretedByAShell) {
  ProcessOptions o;
  o.argv = {"/bin/echo", "$HOME", "; rm -rf /", "`id`"};
  o.capture = true;
  EXPECT_EQ(RunProcess(o).output, "$HOME ; rm -rf / `id`");
}

TEST(ProcessTest, TimeoutKillsTheProcessGroup) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 30 & sleep 30; echo never"};
  o.timeout = std::chrono::milliseconds(300);
  auto t0 = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_LT(secs, 5.0);
}

TEST(ProcessTest, TimeoutAppliesAfterOutputIsClosed) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30"};
  o.timeout = std::chrono::milliseconds(300);
  auto t0 = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(o);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

TEST(ProcessTest, MissingProgramThrowsSpawnFailed) {
  ProcessOptions o;
  o.argv = {"trainyard-no-such-program-xyz"};
  try {
    RunProcess(o);
    FAIL() << "expected SpawnFailed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "SpawnFailed");
    EXPECT_NE(std::string(e.what()).find("trainyard-no-such-program-xyz"), std::string::npos);
  }
}

TEST(ProcessTest, FindExecutable) {
  std::optional<std::filesystem::path> sh = FindExecutable("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_TRUE(sh->is_absolute());
  EXPECT_EQ(FindExecutable("/bin/sh"), std::filesystem::path("/bin/sh"));
  EXPECT_FALSE(FindExecutable("trainyard-no-such-program-xyz").has_value());
  EXPECT_FALSE(FindExecutable("/etc/passwd").has_value());  // not executable
}

}  // namespace
}  // namespace trainyard
