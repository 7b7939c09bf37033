#include "env/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <thread>

#include "common/error.h"

extern char** environ;

namespace trainyard {
namespace {

// Lines longer than this are cut (a progress bar without newlines must not grow a buffer).
constexpr size_t kMaxLine = 64 * 1024;

std::vector<std::string> BuildEnvironment(const ProcessOptions& o) {
  std::map<std::string, std::string> vars;
  if (!o.clear_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  for (const auto& [name, value] : o.env) {
    if (value) {
      vars[name] = *value;
    } else {
      vars.erase(name);
    }
  }
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

// Collects output lines: callback, tail, optional full capture.
class LineSplitter {
 public:
  LineSplitter(const ProcessOptions& o, const LineSink& sink, ProcessResult* result)
      : options_(o), sink_(sink), result_(result) {}

  void Feed(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (data[i] == '\n') {
        Emit();
      } else {
        partial_.push_back(data[i]);
        if (partial_.size() >= kMaxLine) Emit();
      }
    }
  }
  void Finish() {
    if (!partial_.empty()) Emit();
    result_->tail.assign(tail_.begin(), tail_.end());
  }

 private:
  void Emit() {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (sink_) sink_(partial_);
    if (options_.capture) {
      if (!result_->output.empty()) result_->output.push_back('\n');
      result_->output += partial_;
    }
    if (options_.tail_lines > 0) {
      if (tail_.size() == options_.tail_lines) tail_.pop_front();
      tail_.push_back(partial_);
    }
    partial_.clear();
  }

  const ProcessOptions& options_;
  const LineSink& sink_;
  ProcessResult* result_;
  std::string partial_;
  std::deque<std::string> tail_;
};

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return DecodeStatus(status);
}

// Waits for the child until `deadline` (it may have closed its output and kept running);
// past it the process group is killed. Returns the exit code and sets *timed_out.
int WaitExitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline, bool* timed_out) {
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      *timed_out = true;
      ::kill(-pid, SIGKILL);
      return WaitExit(pid);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
}

class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

}  // namespace

std::string ProcessResult::TailText() const {
  std::string out;
  for (const std::string& line : tail) {
    if (!out.empty()) out.push_back('\n');
    out += line;
  }
  return out;
}

ProcessResult RunProcess(const ProcessOptions& options, const LineSink& on_line) {
  if (options.argv.empty()) throw InvalidInput("RunProcess: empty argv");
  std::vector<std::string> env_strings = BuildEnvironment(options);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = options.argv;
  std::vector<char*> argv;
  for (std::string& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ThrowErrno("pipe2");
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, fds[1], 1);
  if (options.merge_stderr) {
    posix_spawn_file_actions_adddup2(&setup.actions, fds[1], 2);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, 2, "/dev/null", O_WRONLY, 0);
  }
  if (!options.cwd.empty()) {
    posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd.c_str());
  }
  // Own process group (so a timeout kills grandchildren too), default signal handling and an
  // empty mask whatever this process has set up for itself.
  sigset_t defaults, empty;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    std::string in_dir = options.cwd.empty() ? "" : " in " + options.cwd.string();
    throw Error("SpawnFailed",
                "cannot run '" + options.argv[0] + "'" + in_dir + ": " + std::strerror(rc), 500);
  }

  ProcessResult result;
  LineSplitter lines(options, on_line, &result);
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  try {
    char buf[16384];
    for (;;) {
      int wait_ms = -1;
      if (options.timeout.count() > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          result.timed_out = true;
          ::kill(-pid, SIGKILL);
          break;
        }
        wait_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 60'000));
      }
      pollfd pfd{fds[0], POLLIN, 0};
      int pr = ::poll(&pfd, 1, wait_ms);
      if (pr < 0 && errno != EINTR) ThrowErrno("poll");
      if (pr <= 0) continue;
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        ThrowErrno("read from child process");
      }
      if (n == 0) break;
      lines.Feed(buf, static_cast<size_t>(n));
    }
  } catch (...) {
    ::kill(-pid, SIGKILL);
    ::close(fds[0]);
    WaitExit(pid);
    throw;
  }
  ::close(fds[0]);
  lines.Finish();
  if (options.timeout.count() > 0 && !result.timed_out) {
    result.exit_code = WaitExitUntil(pid, deadline, &result.timed_out);
  } else {
    result.exit_code = WaitExit(pid);
  }
  return result;
}

std::optional<std::filesystem::path> FindExecutable(std::string_view name) {
  auto usable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::string p(name);
    if (usable(p)) return std::filesystem::path(p);
    return std::nullopt;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + std::string(name);
    if (usable(candidate)) return std::filesystem::path(candidate);
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace trainyard
