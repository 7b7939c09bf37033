#include "runner/agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "data/dataset.h"
#include "env/container_runtime.h"
#include "env/env_cache.h"
#include "env/env_spec.h"
#include "net/http_client.h"
#include "net/http_types.h"
#include "runner/dataset_inputs.h"
#include "runner/launcher.h"
#include "runner/mount_namespace.h"
#include "runner/node_cache.h"
#include "runner/run_environment.h"
#include "runner/server_link.h"
#include "runner/snapshot_builder.h"
#include "store/blob_store.h"
#include "store/run_tokens.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kDriverLog = "azureml-logs/70_driver_log.txt";
constexpr const char* kBuildLog = "azureml-logs/20_image_build_log.txt";
std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal = sig; }

// Lines in runs/<id>/agent.log, with milliseconds since the agent started (phase timings).
void Log(const std::string& msg) {
  static const auto start = Clock::now();
  auto ms =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count() / 1000.0;
  std::cerr << FormatIsoTime(NowMillis()) << " +" << ms << "ms agent: " << msg << std::endl;
}

std::string RunPath(const std::string& run_id) { return RunApiPath(run_id); }

// Where the agent keeps its files for a run (see AgentOptions).
struct RunPaths {
  fs::path run_dir, workdir, spool, state;
  std::string blobs_dir, env_cache;
  bool local = false;  // the server's data dir is this machine's (fast path)
};

RunPaths ResolvePaths(const AgentOptions& o) {
  RunPaths p;
  p.local = !o.data_dir.empty();
  fs::path base = p.local ? fs::path(o.data_dir)
                          : (o.node_dir.empty() ? DefaultNodeDir() : fs::path(o.node_dir));
  base = fs::absolute(base);
  p.run_dir = o.run_dir.empty() ? base / "runs" / o.run_id : fs::absolute(o.run_dir);
  p.workdir = p.run_dir / "wd";
  p.spool = p.run_dir / "metrics.spool";
  p.state = p.run_dir / "ship.state";
  p.blobs_dir = (base / "objects").string();
  p.env_cache = EnvironmentCacheDir(base).string();
  return p;
}

// Ships logs, the metric spool and the run's logs/ folder to the server from its own thread,
// so a slow or restarting server never blocks the script's output pipe. Every log byte is
// also appended to a copy under the run dir (run_dir/<log name>, e.g.
// azureml-logs/70_driver_log.txt) before it is sent, and what the server has taken (spool
// offset and line, bytes of each log) is kept in run_dir/ship.state, so that
// `trainyard agent --recover` can ship the rest after this agent was killed.
class Shipper {
 public:
  Shipper(const AgentOptions& o, const RunPaths& paths)
      : opts_(o), link_(o.server_url, o.token), paths_(paths) {
    LoadState();
  }
  ~Shipper() {
    for (auto& [name, fd] : mirror_fds_) ::close(fd);
    if (state_fd_ >= 0) ::close(state_fd_);
  }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // Drains everything and stops the thread.
  void Finish() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void AppendLog(const std::string& name, std::string_view data) {
    {
      std::lock_guard lk(mu_);
      Mirror(name, data);
      logs_[name].append(data);
    }
    cv_.notify_all();
  }

  // Recovery (no thread): ships every complete spool line and every log byte found in the
  // run dir that the state file does not record as shipped. Returns (lines, log bytes).
  std::pair<int64_t, uint64_t> ShipLeftovers() {
    int64_t line0 = spool_line_;
    ShipMetrics();
    uint64_t log_bytes = 0;
    std::error_code ec;
    for (const char* name : {kBuildLog, kDriverLog}) {
      fs::path local = paths_.run_dir / name;
      uint64_t size = fs::file_size(local, ec);
      if (ec) continue;
      uint64_t from = shipped_logs_[name];
      if (size <= from) continue;
      std::ifstream in(local, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(from));
      std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      link_.Send("POST", RunPath(opts_.run_id) + "/logs/" + UrlEncode(name, true), rest,
                 "application/octet-stream");
      shipped_logs_[name] = from + rest.size();
      log_bytes += rest.size();
      SaveState();
    }
    return {spool_line_ - line0, log_bytes};
  }

  // Why shipping stopped ("" while it works): the run must not be reported Completed then.
  std::string error() const { return error_; }

 private:
  void Loop() {
    try {
      LoopOnce();
    } catch (const std::exception& e) {
      error_ = e.what();
      Log(std::string("shipping logs/metrics failed: ") + e.what());
    }
  }

  void LoopOnce() {
    for (;;) {
      bool done;
      {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, std::chrono::milliseconds(100));
        done = done_;
      }
      ShipLogs();
      ShipMetrics();
      if (done || Clock::now() - last_logs_scan_ > std::chrono::seconds(2)) ShipLogsFolder();
      if (done) {
        ShipLogs();
        ShipMetrics();
        return;
      }
    }
  }

  // Appends to the local copy of a log (called with mu_ held).
  void Mirror(const std::string& name, std::string_view data) {
    auto it = mirror_fds_.find(name);
    if (it == mirror_fds_.end()) {
      fs::path p = paths_.run_dir / name;
      std::error_code ec;
      fs::create_directories(p.parent_path(), ec);
      int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      it = mirror_fds_.emplace(name, fd).first;
    }
    if (it->second < 0) return;
    size_t off = 0;
    while (off < data.size()) {
      ssize_t w = ::write(it->second, data.data() + off, data.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      off += static_cast<size_t>(w);
    }
  }

  // ship.state: "spool <offset> <line>\nlog <bytes> <name>\n..." rewritten in place (no fsync:
  // it must survive the agent being killed, not the machine).
  void LoadState() {
    std::ifstream in(paths_.state);
    std::string kind;
    while (in >> kind) {
      if (kind == "spool") {
        in >> spool_offset_ >> spool_line_;
      } else if (kind == "log") {
        uint64_t n;
        std::string name;
        in >> n >> name;
        shipped_logs_[name] = n;
      } else {
        break;
      }
    }
  }
  void SaveState() {
    if (state_fd_ < 0) {
      std::error_code ec;
      fs::create_directories(paths_.run_dir, ec);
      state_fd_ = ::open(paths_.state.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (state_fd_ < 0) return;
    }
    std::string text =
        "spool " + std::to_string(spool_offset_) + " " + std::to_string(spool_line_) + "\n";
    for (auto& [name, n] : shipped_logs_) text += "log " + std::to_string(n) + " " + name + "\n";
    if (::pwrite(state_fd_, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size())) {
      (void)!::ftruncate(state_fd_, static_cast<off_t>(text.size()));
    }
  }

  void ShipLogs() {
    std::map<std::string, std::string> batch;
    {
      std::lock_guard lk(mu_);
      batch.swap(logs_);
    }
    bool any = false;
    for (auto& [name, data] : batch) {
      if (data.empty()) continue;
      link_.Send("POST", RunPath(opts_.run_id) + "/logs/" + UrlEncode(name, true), data,
                 "application/octet-stream");
      shipped_logs_[name] += data.size();
      any = true;
    }
    if (any) SaveState();
  }

  // Sends complete new lines of the spool to the server as they are (the server parses them;
  // seq = line number), in chunks of up to 20,000 lines. A flush marker line is acknowledged
  // in <spool>.ack once every line before it has been taken by the server.
  void ShipMetrics() {
    int fd = ::open(paths_.spool.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (::lseek(fd, static_cast<off_t>(spool_offset_), SEEK_SET) < 0) {
      ::close(fd);
      return;
    }
    std::string data;
    char buf[1 << 16];
    for (;;) {
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) break;
      data.append(buf, static_cast<size_t>(r));
    }
    ::close(fd);
    size_t end = data.rfind('\n');
    if (end == std::string::npos) return;
    std::vector<std::string> acks;
    size_t chunk_start = 0, pos = 0, lines = 0;
    int64_t chunk_seq = spool_line_;
    int64_t line = spool_line_;
    auto post = [&](size_t upto) {
      if (upto > chunk_start) {
        link_.Send("POST",
                   RunPath(opts_.run_id) + "/metrics/spool?first_seq=" + std::to_string(chunk_seq),
                   data.substr(chunk_start, upto - chunk_start), "application/x-ndjson");
        // Taken by the server: remember it, so a recovery resends nothing before this.
        spool_offset_ += upto - chunk_start;
        spool_line_ = line;
        SaveState();
      }
      chunk_start = upto;
      chunk_seq = line;
      lines = 0;
    };
    while (pos <= end) {
      size_t nl = data.find('\n', pos);
      std::string_view text(data.data() + pos, nl - pos);
      pos = nl + 1;
      ++line;
      ++lines;
      if (text.rfind("{\"flush\"", 0) == 0) {
        post(pos);
        Json j = Json::parse(text, nullptr, false);
        if (j.is_object() && j.contains("flush")) {
          acks.push_back(j["flush"].is_string() ? j["flush"].get<std::string>()
                                                : j["flush"].dump());
        }
      } else if (lines >= 20000) {
        post(pos);
      }
    }
    post(end + 1);
    if (!acks.empty()) {
      std::ofstream ack(paths_.spool.string() + ".ack", std::ios::app);
      for (auto& a : acks) ack << a << "\n";
    }
  }

  // Uploads files under ./logs that are new or changed since the last scan.
  void ShipLogsFolder() {
    last_logs_scan_ = Clock::now();
    fs::path dir = paths_.workdir / "logs";
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return;
    for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
      if (!e.is_regular_file(ec)) continue;
      auto stamp = std::make_pair(static_cast<int64_t>(e.file_size(ec)),
                                  e.last_write_time(ec).time_since_epoch().count());
      std::string rel = fs::relative(e.path(), paths_.workdir).string();
      if (uploaded_[rel] == stamp) continue;
      uploaded_[rel] = stamp;
      link_.Upload(RunPath(opts_.run_id) + "/artifacts/" + UrlEncode(rel, true), e.path().string());
    }
  }

  const AgentOptions& opts_;
  ServerLink link_;
  const RunPaths& paths_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> logs_;
  std::map<std::string, int> mirror_fds_;
  bool done_ = false;
  std::thread thread_;
  uint64_t spool_offset_ = 0;
  int64_t spool_line_ = 0;
  std::map<std::string, uint64_t> shipped_logs_;
  int state_fd_ = -1;
  Clock::time_point last_logs_scan_{};
  std::map<std::string, std::pair<int64_t, int64_t>> uploaded_;
  std::string error_;  // written by the shipper thread, read after Finish() joined it
};

std::vector<std::string> BuildArgv(const Json& def, const std::string& python) {
  std::vector<std::string> argv;
  if (def.contains("command") && !def["command"].is_null()) {
    const Json& c = def["command"];
    if (c.is_string()) {
      argv = {"/bin/sh", "-c", c.get<std::string>()};
    } else {
      for (auto& a : c) argv.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    }
    // "python" at the start of a command means the run's interpreter, as in Azure ML.
    if (!argv.empty() && (argv[0] == "python" || argv[0] == "python3")) argv[0] = python;
    return argv;
  }
  argv = {python, def.at("script").get<std::string>()};
  for (auto& a : def.value("arguments", Json::array())) {
    argv.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  }
  return argv;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const fs::path& cwd, int out_fd, const ReadOnlyBinds& binds) {
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  const pid_t agent_pid = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) ThrowErrno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    const char* step = "";
    if (int err = binds.ApplyInChild(&step); err != 0) {
      std::string msg = std::string("trainyard: cannot mount the dataset inputs read-only (") +
                        step + ": " + strerror(err) + ")\n";
      (void)!::write(1, msg.data(), msg.size());
      _exit(125);
    }
    if (::chdir(cwd.c_str()) != 0) _exit(126);
    // The script dies with its agent (set after the namespace step: credential changes clear
    // it). Its own children are the watcher's job (GroupWatcher).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != agent_pid) _exit(1);  // the agent died before prctl
    ::execve(av[0], av.data(), ev.data());
    // execve only returns on failure: try PATH lookup for bare names.
    ::execvpe(av[0], av.data(), ev.data());
    std::string msg =
        std::string("trainyard: cannot execute ") + av[0] + ": " + strerror(errno) + "\n";
    (void)!::write(1, msg.data(), msg.size());
    _exit(127);
  }
  return pid;
}

// A tiny process, forked from the agent at its start (one thread then: no fork from a
// threaded process, and its cost is off the script's start), that kills the script's whole
// process group (grandchildren included) the moment the agent dies, however it dies (kill -9
// too). It blocks reading a pipe whose only write end the agent holds: the agent writes the
// script's pgid once it exists; EOF (agent gone, or closing the pipe at the end of the run)
// makes the watcher SIGKILL that group and exit.
class GroupWatcher {
 public:
  // `output_fd`: the read end of the script's output pipe (created before this fork), drained
  // into `driver_log` (the agent's local copy) after the group is killed, so output the dead
  // agent had not read yet reaches the recovery agent.
  void Start(int output_fd, const std::string& driver_log, int output_write_fd) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_t w = ::fork();
    if (w < 0) {
      ::close(p[0]);
      ::close(p[1]);
      return;
    }
    if (w == 0) {
      ::close(p[1]);
      if (output_write_fd >= 0) ::close(output_write_fd);
      ::setpgid(0, 0);  // not in the agent's group: a signal to the agent's group spares it
      ::signal(SIGTERM, SIG_IGN);
      ::signal(SIGINT, SIG_IGN);
      ::signal(SIGHUP, SIG_IGN);
      pid_t pgid = 0;
      size_t got = 0;
      char c;
      for (;;) {
        ssize_t r = got < sizeof pgid
                        ? ::read(p[0], reinterpret_cast<char*>(&pgid) + got, sizeof pgid - got)
                        : ::read(p[0], &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (got < sizeof pgid) got += static_cast<size_t>(r);
      }
      if (got == sizeof pgid && pgid > 1) ::kill(-pgid, SIGKILL);
      // What is still in the output pipe: its writers are dead now (EOF), or 50 ms of quiet
      // (a process outside the group holds it).
      int log_fd = -1;
      char buf[4096];
      while (output_fd >= 0) {
        pollfd pfd{output_fd, POLLIN, 0};
        int pr = ::poll(&pfd, 1, 50);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t r = ::read(output_fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (log_fd < 0) {
          log_fd = ::open(driver_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
          if (log_fd < 0) break;
        }
        if (::write(log_fd, buf, static_cast<size_t>(r)) != r) break;
      }
      _exit(0);
    }
    ::close(p[0]);
    fd_ = p[1];
    pid_ = w;
  }
  // The script's process group now exists.
  void Watch(pid_t pgid) {
    if (fd_ >= 0 && ::write(fd_, &pgid, sizeof pgid) != static_cast<ssize_t>(sizeof pgid)) {
      Log("the process-group watcher is gone: the script may outlive a killed agent");
    }
  }
  // Run over: the watcher kills the (empty) group and exits. Called after the final status
  // (a watcher waking up on a busy machine would delay it); not waited for.
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void Reap() {
    Release();
    if (pid_ > 0) ::waitpid(pid_, nullptr, WNOHANG);
  }
  ~GroupWatcher() { Release(); }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
};

// Kills what is left of a dead agent's script: the group leader's pid was recorded in
// run_dir/script.pid; it is only killed if that process still carries the run's id in its
// environment (guards against pid reuse).
void KillLeftoverScript(const fs::path& run_dir, const std::string& run_id) {
  std::ifstream in(run_dir / "script.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 1) return;
  std::ifstream env("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
  std::string want = std::string("TRAINYARD_RUN_ID=") + run_id;
  all.insert(all.begin(), '\0');
  if (all.find(std::string(1, '\0') + want + std::string(1, '\0')) == std::string::npos) return;
  Log("killing the leftover process group " + std::to_string(pid) + " of the run's script");
  ::kill(-pid, SIGKILL);
}

}  // namespace

std::string FindSdkPythonDir() {
  if (const char* e = std::getenv("TRAINYARD_PYTHON_DIR"); e && *e) return e;
  std::error_code ec;
  fs::path exe = SelfExe();
  for (fs::path cand :
       {exe.parent_path().parent_path() / "share/trainyard/python",
        exe.parent_path().parent_path() / "python", fs::path(TRAINYARD_SOURCE_PYTHON_DIR)}) {
    if (fs::exists(cand / "trainyard" / "__init__.py", ec)) return cand.string();
  }
  return TRAINYARD_SOURCE_PYTHON_DIR;
}

ScriptError ExtractScriptError(const std::string& tail) {
  ScriptError out;
  size_t tb = tail.rfind("Traceback (most recent call last):");
  if (tb == std::string::npos) return out;
  std::string block = tail.substr(tb);
  // The exception line: the last non-empty line that does not start with whitespace.
  size_t end = block.size();
  while (end > 0) {
    size_t start = block.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = block.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != ' ' && line.rfind("Traceback", 0) != 0) {
      out.message = line;
      block = block.substr(0, end);
      break;
    }
    if (start == 0) break;
    end = start - 1;
  }
  out.traceback = block;
  return out;
}

namespace {

// `trainyard agent --recover`: what a dead agent left behind is shipped, then the run fails.
int RecoverRun(const AgentOptions& opts, const RunPaths& paths, ServerLink& link) {
  const std::string base = RunPath(opts.run_id);
  Json run = link.Call("GET", base);
  KillLeftoverScript(paths.run_dir, opts.run_id);
  if (IsTerminalStatus(run.value("status", ""))) {
    Log("recover: the run is already " + run.value("status", "") + "; nothing to do");
    return 0;
  }
  std::pair<int64_t, uint64_t> got{0, 0};
  std::string ship_error;
  try {
    Shipper shipper(opts, paths);
    got = shipper.ShipLeftovers();
  } catch (const std::exception& e) {
    ship_error = e.what();
  }
  Log("recover: shipped " + std::to_string(got.first) + " spool lines and " +
      std::to_string(got.second) + " log bytes");
  std::string why = opts.reason.empty() ? "the agent process ended" : opts.reason;
  std::string msg = "the run's agent stopped unexpectedly (" + why + "); the script was stopped. " +
                    std::to_string(got.first) + " metric lines and " + std::to_string(got.second) +
                    " log bytes it had not delivered were recovered from " + paths.run_dir.string();
  if (!ship_error.empty()) msg += "; recovering the rest failed: " + ship_error;
  Json body = {{"status", run.value("status", "") == "CancelRequested" ? "Canceled" : "Failed"},
               {"error", {{"message", msg}}}};
  link.Call("POST", base + "/status", body);
  return 0;
}

}  // namespace

int RunAgent(const AgentOptions& given) {
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTERM);
  sigaddset(&unblock, SIGINT);
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);
  Log(std::string(given.recover ? "recovery agent" : "agent") + " started for run " + given.run_id);
  AgentOptions opts = given;
  const RunPaths paths = ResolvePaths(opts);
  GroupWatcher watcher;
  // The script's output pipe exists from the start, so the watcher holds its read end too.
  int pipefd[2] = {-1, -1};
  if (!opts.recover) {
    if (::pipe2(pipefd, O_CLOEXEC) != 0) pipefd[0] = pipefd[1] = -1;
    // Before any thread exists. The watcher must not hold the write end (EOF detection).
    watcher.Start(pipefd[0], (paths.run_dir / kDriverLog).string(), pipefd[1]);
  }
  if (!IsRunTokenShape(opts.token)) {
    // A workspace token: trade it for a token of this run at once, so that neither this
    // agent's calls nor the script hold workspace power.
    try {
      ServerLink ws_link(opts.server_url, opts.token);
      opts.token = ws_link.Call("POST", RunPath(opts.run_id) + "/token").at("token");
    } catch (const std::exception& e) {
      Log(std::string("cannot get a token for the run: ") + e.what());
      return 1;
    }
  }
  ServerLink link(opts.server_url, opts.token);
  if (opts.recover) {
    try {
      return RecoverRun(opts, paths, link);
    } catch (const std::exception& e) {
      Log(std::string("recover failed: ") + e.what());
      return 1;
    }
  }
  const std::string base = RunPath(opts.run_id);
  auto set_status = [&](const std::string& s, const Json& error = nullptr,
                        std::optional<int> exit_code = std::nullopt) {
    Log("status " + s);
    Json body = {{"status", s}};
    if (!error.is_null()) body["error"] = error;
    if (exit_code) body["exit_code"] = *exit_code;
    try {
      link.Call("POST", base + "/status", body);
    } catch (const Error& e) {
      Log("cannot set status " + s + ": " + e.what());
    }
  };

  Json run;
  try {
    run = link.Call("GET", base);
  } catch (const std::exception& e) {
    Log(std::string("cannot fetch the run: ") + e.what());
    return 1;
  }
  const Json def = run.value("definition", Json::object());
  const fs::path& run_dir = paths.run_dir;
  const fs::path& workdir = paths.workdir;
  const fs::path& spool = paths.spool;
  fs::create_directories(run_dir);
  {
    // A fresh start: nothing of an earlier attempt counts as shipped.
    std::error_code ec;
    fs::remove(paths.state, ec);
    fs::remove(spool, ec);
    fs::remove_all(run_dir / "azureml-logs", ec);
  }

  Shipper shipper(opts, paths);
  shipper.Start();
  auto fail = [&](const std::string& msg, const std::string& tb = "") {
    shipper.AppendLog(kDriverLog, "trainyard: " + msg + "\n");
    shipper.Finish();
    set_status("Failed", {{"message", msg}, {"traceback", tb}});
    return 0;
  };

  // Preparing: snapshot and environment. Blobs come from the node's cache (the server's own
  // store on the local fast path) and are fetched over HTTP only when missing.
  set_status("Preparing");
  MaterializedRunEnv env;
  DatasetInputs inputs;
  EnvSpec env_spec;
  ContainerSettings csettings;
  ContainerImage cimage;
  ContainerLayer clayer;
  try {
    const Json env_json = def.value("environment", Json(nullptr));
    if (!env_json.is_null()) env_spec = EnvSpec::FromJson(env_json);
    fs::remove_all(workdir);
    fs::create_directories(workdir);
    BlobStore blobs(paths.blobs_dir);
    if (run.contains("snapshot_id") && run["snapshot_id"].is_string()) {
      const std::string snap = run["snapshot_id"].get<std::string>();
      FetchStats fm = FetchMissingBlobs(opts.server_url, opts.token, blobs, {snap}, 1);
      std::vector<SnapshotFile> files = LoadManifest(blobs, snap);
      std::vector<std::string> hashes;
      hashes.reserve(files.size());
      for (auto& f : files) hashes.push_back(f.sha256);
      FetchStats ff = FetchMissingBlobs(opts.server_url, opts.token, blobs, hashes);
      RestoreSnapshot(blobs, files, workdir);
      Log("snapshot restored: " + std::to_string(files.size()) + " files, " +
          std::to_string(ff.fetched + fm.fetched) + " blobs fetched (" +
          std::to_string(ff.bytes + fm.bytes) + " bytes)");
    }
    fs::create_directories(workdir / "outputs");
    fs::create_directories(workdir / "logs");
    auto build_log = [&](std::string_view line) {
      shipper.AppendLog(kBuildLog, std::string(line) + "\n");
    };
    if (env_spec.docker_enabled) {
      // The image provides Python (env/container_runtime.h): pulled unless present, its digest
      // recorded on the run, the environment's packages in a venv layered on it (cached).
      csettings = ContainerSettings::FromEnvironment();
      cimage = EnsureContainerImage(env_spec, csettings, run_dir, build_log);
      build_log("Image digest " + cimage.digest + " (id " + cimage.id.substr(0, 12) + ")");
      link.Call("PATCH", base + "/properties",
                Json{{"trainyard.container_image", cimage.reference},
                     {"trainyard.container_image_digest", cimage.digest}});
      clayer = BuildContainerLayer(env_spec, cimage, csettings, paths.env_cache, build_log);
      env.python = !clayer.python.empty() ? clayer.python
                   : (env_spec.user_managed_dependencies && !env_spec.interpreter_path.empty())
                       ? env_spec.interpreter_path
                       : std::string("python3");
      env.variables = env_spec.environment_variables;
      env.variables["PYTHONPATH"] = FindSdkPythonDir();
    } else {
      env = MaterializeRunEnvironment(env_json, paths.env_cache, FindSdkPythonDir(), build_log);
    }
    auto pin = [&](const Json& definition) {
      // The server may download large URLs first: allow an hour before giving up.
      Json files =
          link.Send("POST", "/api/v1/dataset-files", Json{{"definition", definition}}.dump(),
                    "application/json", 3600 * 1000)
              .Json()["files"];
      std::vector<std::string> hashes;
      for (auto& f : files) hashes.push_back(f.value("sha256", ""));
      FetchMissingBlobs(opts.server_url, opts.token, blobs, hashes);
      return files;
    };
    inputs = PrepareDatasetInputs(def, blobs, run_dir, workdir, pin, [&](const std::string& line) {
      shipper.AppendLog(kDriverLog, "trainyard: " + line + "\n");
    });
  } catch (const Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(std::string("preparing the run failed: ") + e.what());
  }
  if (g_signal) {
    shipper.Finish();
    set_status("Canceled");
    return 0;
  }

  // Starting: launch the script in its own process group.
  set_status("Starting");
  std::vector<std::string> envv;
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) vars[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (auto& [k, v] : env.variables) vars[k] = v;
  for (auto& [k, v] : inputs.variables) vars[k] = v;
  vars["TRAINYARD_RUN_ID"] = opts.run_id;
  vars["TRAINYARD_EXPERIMENT"] = run.value("experiment", "");
  vars["TRAINYARD_SERVER_URL"] = opts.server_url;
  vars["TRAINYARD_TOKEN"] = opts.token;  // the run's token, never the workspace token
  vars["TRAINYARD_SPOOL"] = spool.string();
  vars["TRAINYARD_OUTPUTS_DIR"] = (workdir / "outputs").string();
  if (paths.local) {
    vars["TRAINYARD_DATA_DIR"] = opts.data_dir;
  } else {
    vars.erase("TRAINYARD_DATA_DIR");
  }
  vars["AZUREML_RUN_ID"] = opts.run_id;
  vars["AZUREML_EXPERIMENT_NAME"] = run.value("experiment", "");
  vars["PYTHONUNBUFFERED"] = "1";
  if (vars.count("TRAINYARD_WORKSPACE") == 0) {
    // Started by hand rather than by the scheduler: ask the server.
    try {
      vars["TRAINYARD_WORKSPACE"] = link.Call("GET", "/api/v1/workspace").value("name", "");
    } catch (const std::exception&) {
    }
  }
  vars["AZUREML_ARM_WORKSPACE_NAME"] = vars["TRAINYARD_WORKSPACE"];
  // The script (or one rank) in the run's container: the run dir (snapshot, outputs, logs,
  // spool, downloaded inputs) read-write, the SDK, mounted inputs and the package layer
  // read-only, at the same paths as here; the run's variables, not this machine's.
  // Ranks on other nodes (multi-node runs): those nodes pull the exact image (by digest)
  // themselves, through a run-lifetime authfile when the registry needs credentials; the
  // package layer is in the environment cache, which the nodes share like the run dir.
  fs::path node_authfile;
  auto container_argv = [&](const std::vector<std::string>& program, bool for_ranks,
                            bool multi_node) {
    if (env_spec.docker_enabled) RemoveRunContainers(csettings, opts.run_id);  // a stale attempt
    std::vector<std::pair<std::string, bool>> binds = {{run_dir.string(), false},
                                                       {FindSdkPythonDir(), true}};
    if (!clayer.dir.empty()) binds.emplace_back(clayer.dir.string(), true);
    for (auto& [src, dst] : inputs.read_only_binds) binds.emplace_back(src + ":" + dst, true);
    std::map<std::string, std::string> cvars;
    for (auto& [k, v] : vars) {
      if (k == "TRAINYARD_DATA_DIR") continue;  // the server's data dir is not mounted
      if (k.rfind("TRAINYARD_", 0) == 0 || k.rfind("AZUREML_", 0) == 0 || k == "PYTHONPATH" ||
          k == "PYTHONUNBUFFERED" || env.variables.count(k) || inputs.variables.count(k)) {
        cvars[k] = v;
      }
    }
    std::vector<std::string> pass;
    if (for_ranks) {
      pass = {"OMPI_*",      "PMIX_*",           "PMI_*",
              "SLURM_*",     "SLURMD_*",         "RANK",
              "LOCAL_RANK",  "NODE_RANK",        "GROUP_RANK",
              "WORLD_SIZE",  "LOCAL_WORLD_SIZE", "MASTER_ADDR",
              "MASTER_PORT", "TF_CONFIG",        "CUDA_VISIBLE_DEVICES",
              "AZ_BATCH*",   "AZ_BATCHAI_*",     "AZUREML_NODE_COUNT"};
    }
    std::vector<std::string> run_options;
    if (multi_node) {
      node_authfile = run_dir / ".podman-auth.json";
      if (!WriteRegistryAuthFile(csettings, cimage.ref.registry, node_authfile)) {
        node_authfile.clear();
      }
      run_options = PullOnRunOptions(csettings, cimage, node_authfile);
    }
    return PodmanRunArgv(csettings, multi_node ? cimage.PinnedReference() : cimage.reference,
                         opts.run_id, for_ranks ? std::string() : "trainyard-" + opts.run_id,
                         workdir, binds, cvars, pass, program, run_options);
  };
  // Distributed runs: N ranks through one launcher process (runner/launcher.h).
  RankPlan plan;
  std::unique_ptr<RankOutput> ranks;
  std::vector<std::string> rank_argv;
  try {
    plan = PlanRanks(def);
    if (plan.distributed()) {
      Json run_def = def;
      if (run_def.contains("arguments")) run_def["arguments"] = inputs.Substitute(def["arguments"]);
      std::vector<std::string> program = BuildArgv(run_def, env.python);
      if (env_spec.docker_enabled) {
        // Each rank is its own container: the supervisor runs this podman command per rank,
        // and the rank variables it sets pass into the container by name.
        program = container_argv(program, /*for_ranks=*/true, plan.node_count > 1);
      }
      rank_argv = BuildRankLaunch(plan, CurrentLaunchContext(), program, vars);
      ranks = std::make_unique<RankOutput>(
          plan.kind, [&](const std::string& n, std::string_view d) { shipper.AppendLog(n, d); });
      Log("launching " + std::to_string(plan.world_size) + " ranks: " + plan.ToJson().dump());
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  for (auto& [k, v] : vars) envv.push_back(k + "=" + v);

  if (pipefd[0] < 0) return fail("pipe failed");
  pid_t child;
  try {
    Json run_def = def;
    if (run_def.contains("arguments")) run_def["arguments"] = inputs.Substitute(def["arguments"]);
    std::vector<std::string> argv = ranks ? rank_argv : BuildArgv(run_def, env.python);
    std::vector<std::pair<std::string, std::string>> ro_binds = inputs.read_only_binds;
    if (env_spec.docker_enabled) {
      if (!ranks) argv = container_argv(argv, /*for_ranks=*/false, /*multi_node=*/false);
      ro_binds.clear();  // podman mounts them read-only itself
    }
    child = Spawn(argv, envv, workdir, pipefd[1], ReadOnlyBinds(std::move(ro_binds)));
  } catch (const std::exception& e) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return fail(e.what());
  }
  ::close(pipefd[1]);
  // The script never outlives this agent: its group is killed by the watcher if we die.
  watcher.Watch(child);
  std::ofstream(run_dir / "script.pid") << child << "\n";
  // A pidfd becomes readable when the child exits, so exit is noticed at once even when a
  // grandchild keeps the output pipe open.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  set_status("Running");

  // Running: pump output until the child exits; handle cancel and the run's time limit.
  std::optional<Clock::time_point> deadline;
  if (def.contains("max_run_duration_seconds") && def["max_run_duration_seconds"].is_number()) {
    deadline = Clock::now() + std::chrono::seconds(def["max_run_duration_seconds"].get<int64_t>());
  }
  std::string tail;  // last 64 KiB of output for error details
  bool canceled = false, timed_out = false;
  bool kill_pending = false;
  Clock::time_point kill_at{};
  int status = 0;
  bool exited = false;
  char buf[65536];
  bool eof = false;
  for (;;) {
    // Watch the output pipe until EOF and the pidfd until exit; after exit, stop at EOF or
    // after 20 quiet ms (a grandchild may keep the pipe open).
    pollfd pfds[2];
    nfds_t nfds = 0;
    int pipe_idx = -1;
    if (!eof) {
      pipe_idx = static_cast<int>(nfds);
      pfds[nfds++] = {pipefd[0], POLLIN, 0};
    }
    if (!exited && pidfd >= 0) pfds[nfds++] = {pidfd, POLLIN, 0};
    int pr = 0;
    if (nfds > 0) {
      pr = ::poll(pfds, nfds, exited ? 20 : 100);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // EOF, no pidfd: wait for exit
    }
    if (pipe_idx >= 0 && pr > 0 && pfds[pipe_idx].revents != 0) {
      ssize_t n = ::read(pipefd[0], buf, sizeof buf);
      if (n > 0) {
        std::string_view chunk(buf, static_cast<size_t>(n));
        if (ranks) {
          ranks->Feed(chunk);
        } else {
          shipper.AppendLog(kDriverLog, chunk);
        }
        tail.append(chunk);
        if (tail.size() > 65536) tail.erase(0, tail.size() - 65536);
      } else if (n == 0) {
        eof = true;
      }
    }
    if (!exited && ::waitpid(child, &status, WNOHANG) == child) exited = true;
    if (exited && (eof || pr == 0)) break;
    bool stop_now = (g_signal && !canceled) || (deadline && Clock::now() > *deadline && !timed_out);
    if (stop_now && !exited) {
      if (g_signal)
        canceled = true;
      else
        timed_out = true;
      ::killpg(child, SIGTERM);
      kill_at = Clock::now() + std::chrono::seconds(5);
      kill_pending = true;
    }
    if (kill_pending && Clock::now() > kill_at && !exited) {
      ::killpg(child, SIGKILL);
      kill_pending = false;
    }
  }
  ::close(pipefd[0]);
  if (pidfd >= 0) ::close(pidfd);
  if (!exited) ::waitpid(child, &status, 0);
  ::killpg(child, SIGKILL);  // leftovers of the process group
  if (env_spec.docker_enabled) {
    // A podman client killed before its container ended leaves the container running.
    if (int n = RemoveRunContainers(csettings, opts.run_id); n > 0) {
      Log("removed " + std::to_string(n) + " leftover container(s) of the run");
    }
    std::error_code auth_ec;
    if (!node_authfile.empty()) fs::remove(node_authfile, auth_ec);
  }
  int failed_rank = -1;
  if (ranks) {
    ranks->Finish();
    tail = ranks->FailureTail(&failed_rank);
  }

  // (Slurm signals the whole job at once: the script may end before the agent saw its own
  // SIGTERM, hence g_signal too.)
  if ((canceled || g_signal) && std::getenv("TRAINYARD_SLURM_JOB") != nullptr) {
    // Under Slurm a SIGTERM the server did not ask for is Slurm's (scancel from outside, time
    // limit, node failure): leave the final state to the server, which reads Slurm's reason.
    std::string st;
    try {
      st = link.Call("GET", base).value("status", "");
    } catch (const std::exception&) {
    }
    if (st != "CancelRequested") {
      Log("stopped by Slurm, not by a cancel: the server records Slurm's reason");
      shipper.Finish();
      return 0;
    }
    canceled = true;
  }
  // Finalizing: outputs, logs, metrics.
  set_status("Finalizing");
  std::string upload_error;
  std::error_code ec;
  fs::path outputs = workdir / "outputs";
  if (fs::is_directory(outputs, ec)) {
    for (auto& e : fs::recursive_directory_iterator(outputs, ec)) {
      if (!e.is_regular_file(ec)) continue;
      std::string rel = fs::relative(e.path(), workdir).string();
      try {
        link.Upload(base + "/artifacts/" + UrlEncode(rel, true), e.path().string());
      } catch (const std::exception& ex) {
        upload_error += rel + ": " + ex.what() + "\n";
      }
    }
  }
  shipper.Finish();

  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (canceled) {
    set_status("Canceled", nullptr, code);
  } else if (timed_out) {
    set_status("Failed",
               {{"message", "the run exceeded max_run_duration_seconds=" +
                                std::to_string(def["max_run_duration_seconds"].get<int64_t>()) +
                                " and was stopped"}},
               code);
  } else if (code != 0) {
    ScriptError se = ExtractScriptError(tail);
    std::string msg = se.message.empty()
                          ? "User program failed with exit code " + std::to_string(code)
                          : "User program failed with " + se.message;
    if (failed_rank >= 0) msg += " (rank " + std::to_string(failed_rank) + ")";
    std::string tb = se.traceback.empty() ? tail.substr(tail.size() > 4000 ? tail.size() - 4000 : 0)
                                          : se.traceback;
    set_status("Failed", {{"message", msg}, {"traceback", tb}}, code);
  } else if (!shipper.error().empty()) {
    set_status("Failed",
               {{"message", "the run's logs or metrics could not be delivered to the server: " +
                                shipper.error()}},
               code);
  } else if (!upload_error.empty()) {
    set_status("Failed", {{"message", "uploading outputs failed:\n" + upload_error}}, code);
  } else {
    set_status("Completed", nullptr, code);
  }
  // The working directory is kept for inspection only when the run failed. On the local fast
  // path the server holds the logs, so their copies go; on a node they stay (like Azure's
  // /tmp/azureml_run/<run id>/azureml-logs).
  if (code == 0 && !canceled) fs::remove_all(workdir, ec);
  if (paths.local) fs::remove_all(run_dir / "azureml-logs", ec);
  inputs.Cleanup();
  watcher.Reap();
  return 0;
}

}  // namespace trainyard
