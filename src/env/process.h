// Running child processes without a shell: posix_spawn of an argv, the child's stdout and stderr
// streamed line by line to a callback, an optional timeout that kills the child's whole process
// group. Used for `python -m venv`, `pip install` and `git`.
//
// Thread-safe: any number of threads may run processes at once (all descriptors are
// close-on-exec, so one child never inherits another's pipe).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

// Receives one line of output at a time, without its '\n' (a trailing '\r' is removed too).
using LineSink = std::function<void(std::string_view line)>;

struct ProcessOptions {
  // argv[0] is searched in this process's PATH when it contains no '/'.
  std::vector<std::string> argv;
  // Working directory of the child; empty: this process's.
  std::filesystem::path cwd;
  // Changes to the inherited environment: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  // Start from an empty environment instead of this process's (then `env` adds to it).
  bool clear_env = false;
  // 0: no limit. When it passes the child's process group gets SIGKILL.
  std::chrono::milliseconds timeout{0};
  // true: stderr goes to the same stream as stdout; false: stderr is discarded.
  bool merge_stderr = true;
  // How many of the last output lines ProcessResult::tail keeps.
  size_t tail_lines = 20;
  // Keep the whole output in ProcessResult::output (for small outputs such as git's).
  bool capture = false;
};

struct ProcessResult {
  // The exit status, or 128 + signal number when the child was killed by a signal.
  int exit_code = -1;
  bool timed_out = false;
  // The last `tail_lines` lines of output, oldest first.
  std::vector<std::string> tail;
  // The whole output ('\n'-joined lines), only with ProcessOptions::capture.
  std::string output;

  bool ok() const { return exit_code == 0 && !timed_out; }
  // tail joined with '\n'.
  std::string TailText() const;
};

// Runs the process to completion (or its timeout), calling `on_line` (may be empty) on this
// thread for every output line. Throws Error with code "SpawnFailed" when the program cannot be
// started (not found, not executable).
ProcessResult RunProcess(const ProcessOptions& options, const LineSink& on_line = {});

// Searches `name` in the PATH directories (as execvp would, without running it). A name with a
// '/' is returned as is when it is an executable file. nullopt when not found.
std::optional<std::filesystem::path> FindExecutable(std::string_view name);

}  // namespace trainyard
