#include "serve/python_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "common/error.h"

extern char** environ;

namespace trainyard::serve {
namespace {

using Json = nlohmann::json;

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

int MillisUntil(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (ms < 0) return 0;
  return ms > 60'000 ? 60'000 : static_cast<int>(ms);
}

std::string JsonField(const std::string& payload, const char* key) {
  try {
    Json j = Json::parse(payload);
    if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  } catch (const Json::exception&) {
  }
  return key == std::string("message") ? payload : std::string();
}

}  // namespace

PythonWorkerPool::PythonWorkerPool(const Json& c) {
  python_ = c.value("python", "python3");
  worker_script_ = c.value("worker_script", "");
  entry_script_ = c.value("entry_script", "");
  source_dir_ = c.value("source_dir", "");
  workers_ = std::max(1, c.value("workers", 1));
  init_timeout_ = std::chrono::seconds(c.value("init_timeout_s", 600));
  max_queue_ = c.value("max_queue", static_cast<size_t>(10000));
  if (c.contains("env") && c["env"].is_object()) {
    for (auto& [k, v] : c["env"].items()) env_[k] = v.get<std::string>();
  }
  if (worker_script_.empty() || entry_script_.empty()) {
    throw InvalidInput("python scorer config needs worker_script and entry_script");
  }
}

PythonWorkerPool::~PythonWorkerPool() { Drain(); }

PythonWorkerPool::Worker PythonWorkerPool::Spawn() {
  int req[2], resp[2];
  if (::pipe2(req, O_CLOEXEC) != 0) ThrowErrno("pipe");
  if (::pipe2(resp, O_CLOEXEC) != 0) {
    ::close(req[0]);
    ::close(req[1]);
    ThrowErrno("pipe");
  }
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) vars[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (auto& [k, v] : env_) vars[k] = v;
  vars["TRAINYARD_ENTRY_SCRIPT"] = entry_script_;
  vars["TRAINYARD_SOURCE_DIR"] = source_dir_;
  vars["PYTHONUNBUFFERED"] = "1";
  std::vector<std::string> envs;
  for (auto& [k, v] : vars) envs.push_back(k + "=" + v);
  std::vector<std::string> args = {python_, "-u", worker_script_};
  std::vector<char*> av, ev;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : envs) ev.push_back(e.data());
  ev.push_back(nullptr);
  pid_t parent = ::getpid();
  const char* cwd = source_dir_.empty() ? nullptr : source_dir_.c_str();

  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {req[0], req[1], resp[0], resp[1]}) ::close(fd);
    ThrowErrno("fork");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_IGN);  // a Ctrl-C is the front's to handle
    int in = ::fcntl(req[0], F_DUPFD, 10);
    int out = ::fcntl(resp[1], F_DUPFD, 10);
    if (in < 0 || out < 0 || ::dup2(in, 3) < 0 || ::dup2(out, 4) < 0) _exit(126);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (cwd && ::chdir(cwd) != 0) _exit(126);
    ::execve(av[0], av.data(), ev.data());
    ::execvpe(av[0], av.data(), ev.data());
    const char msg[] = "trainyard serve: cannot execute the scoring worker's python\n";
    (void)!::write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  ::close(req[0]);
  ::close(resp[1]);
  Worker w;
  w.pid = pid;
  w.to_fd = req[1];
  w.from_fd = resp[0];
  return w;
}

int PythonWorkerPool::ReadFrame(Worker& w, Clock::time_point deadline, Frame* out) {
  char buf[1 << 16];
  for (;;) {
    if (auto f = w.decoder.Next()) {
      *out = std::move(*f);
      return 1;
    }
    pollfd p{w.from_fd, POLLIN, 0};
    int ms = MillisUntil(deadline);
    int rc = ::poll(&p, 1, ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (rc == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;
    }
    ssize_t n = ::read(w.from_fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (n == 0) return -1;
    w.decoder.Append(buf, static_cast<size_t>(n));
  }
}

std::string PythonWorkerPool::Reap(Worker& w, bool wait) {
  std::string how = "still running";
  if (w.to_fd >= 0) ::close(w.to_fd);
  if (w.from_fd >= 0) ::close(w.from_fd);
  w.to_fd = w.from_fd = -1;
  if (w.pid > 0) {
    int st = 0;
    pid_t r = ::waitpid(w.pid, &st, wait ? 0 : WNOHANG);
    if (r == w.pid) {
      if (WIFEXITED(st))
        how = "exit code " + std::to_string(WEXITSTATUS(st));
      else if (WIFSIGNALED(st))
        how = std::string("signal ") + std::to_string(WTERMSIG(st)) + " (" +
              strsignal(WTERMSIG(st)) + ")";
    }
  }
  w.pid = -1;
  w.decoder = FrameDecoder();
  return how;
}

std::string PythonWorkerPool::Kill(Worker& w) {
  if (w.pid > 0) ::kill(w.pid, SIGKILL);
  return Reap(w, true);
}

bool PythonWorkerPool::AwaitReady(Worker& w, Clock::time_point deadline, std::string* error,
                                  std::string* traceback) {
  Frame f;
  int rc = ReadFrame(w, deadline, &f);
  if (rc == 1 && f.kind == 'I') return true;
  if (rc == 1 && f.kind == 'F') {
    *error = JsonField(f.payload, "message");
    *traceback = JsonField(f.payload, "traceback");
    Kill(w);
    return false;
  }
  if (rc == 0) {
    *error = "init() did not finish within " + std::to_string(init_timeout_.count()) + " s";
    Kill(w);
    return false;
  }
  if (rc == 1) {
    *error = std::string("unexpected frame '") + f.kind + "' from a starting worker";
    Kill(w);
    return false;
  }
  // Closed before ready: give it a moment to exit so its status is known.
  std::string how = Reap(w, true);
  *error = "the scoring worker exited before init() finished (" + how +
           "); its output is in the service log";
  return false;
}

void PythonWorkerPool::Start() {
  std::vector<Worker> ws;
  for (int i = 0; i < workers_; ++i) {
    try {
      ws.push_back(Spawn());
    } catch (const std::exception& e) {
      for (auto& w : ws) Kill(w);
      throw ScorerInitError(std::string("cannot start a scoring worker: ") + e.what(), "");
    }
  }
  auto deadline = Clock::now() + init_timeout_;
  std::string error, traceback;
  size_t failed = ws.size();
  for (size_t i = 0; i < ws.size(); ++i) {
    if (!AwaitReady(ws[i], deadline, &error, &traceback)) {
      failed = i;
      break;
    }
  }
  if (failed != ws.size()) {
    for (size_t i = 0; i < ws.size(); ++i)
      if (i != failed) Kill(ws[i]);
    throw ScorerInitError(error, traceback);
  }
  live_ = static_cast<int>(ws.size());
  for (auto& w : ws) threads_.emplace_back([this, w] { Loop(w); });
}

void PythonWorkerPool::Score(std::string body, Clock::time_point deadline, ScoreCallback done) {
  {
    std::unique_lock lk(mu_);
    if (draining_) {
      lk.unlock();
      done({503, ErrorBody("the service is being updated or stopped; retry")});
      return;
    }
    if (queue_.size() >= max_queue_) {
      lk.unlock();
      done({503, ErrorBody("too many requests waiting (" + std::to_string(max_queue_) +
                           "); retry later")});
      return;
    }
    queue_.push_back({std::move(body), deadline, std::move(done)});
  }
  cv_.notify_one();
}

bool PythonWorkerPool::Respawn(Worker& w) {
  for (int attempt = 0;; ++attempt) {
    {
      std::lock_guard lk(mu_);
      if (draining_ && queue_.empty()) return false;
    }
    std::string error, traceback;
    try {
      w = Spawn();
      if (AwaitReady(w, Clock::now() + init_timeout_, &error, &traceback)) {
        restarts_++;
        live_++;
        std::cerr << "trainyard serve: scoring worker " << w.pid << " started" << std::endl;
        return true;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::cerr << "trainyard serve: a replacement worker failed to start: " << error << "\n"
              << traceback << std::endl;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min(5000, 200 << std::min(attempt, 5))));
  }
}

void PythonWorkerPool::Loop(Worker w) {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return !queue_.empty() || draining_; });
      if (queue_.empty()) break;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (w.pid < 0 && !Respawn(w)) {
      job.done({503, ErrorBody("no scoring worker is available")});
      continue;
    }
    busy_++;
    bool ok = Handle(w, job);
    busy_--;
    if (!ok) {
      live_--;
      Respawn(w);
    }
  }
  if (w.pid > 0) {
    // Closing the request pipe ends the worker's loop; give it a moment, then kill.
    ::close(w.to_fd);
    w.to_fd = -1;
    Frame f;
    ReadFrame(w, Clock::now() + std::chrono::seconds(5), &f);
    Kill(w);
    live_--;
  }
}

bool PythonWorkerPool::Handle(Worker& w, Job& job) {
  if (Clock::now() >= job.deadline) {
    job.done({504, ErrorBody("the request waited in the queue past its timeout")});
    return true;
  }
  if (!WriteAll(w.to_fd, EncodeFrame('R', job.body))) {
    std::string how = Kill(w);
    job.done({500, ErrorBody("the scoring worker exited (" + how + "); it is being restarted")});
    return false;
  }
  Frame f;
  int rc = ReadFrame(w, job.deadline, &f);
  if (rc == 0) {
    pid_t pid = w.pid;
    Kill(w);
    std::cerr << "trainyard serve: worker " << pid << " killed: a request ran past its timeout"
              << std::endl;
    job.done({504, ErrorBody("scoring took longer than the request timeout; the worker was "
                             "restarted")});
    return false;
  }
  if (rc < 0) {
    pid_t pid = w.pid;
    std::string how = Reap(w, true);
    std::cerr << "trainyard serve: worker " << pid << " died while scoring (" << how << ")"
              << std::endl;
    job.done({500, ErrorBody("the scoring worker died while handling this request (" + how +
                             "); it is being restarted")});
    return false;
  }
  switch (f.kind) {
    case 'O':
      job.done({200, std::move(f.payload)});
      return true;
    case 'B':
      job.done({400, ErrorBody(JsonField(f.payload, "message"))});
      return true;
    case 'E':
      job.done({500, ErrorBody(JsonField(f.payload, "message"))});
      return true;
    default:
      Kill(w);
      job.done({500, ErrorBody(std::string("protocol error: unexpected frame '") + f.kind +
                               "' from the scoring worker")});
      return false;
  }
}

void PythonWorkerPool::Drain() {
  {
    std::lock_guard lk(mu_);
    draining_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

std::string PythonWorkerPool::MetricsText() const {
  size_t queued;
  {
    std::lock_guard lk(mu_);
    queued = queue_.size();
  }
  return "# TYPE trainyard_serve_workers gauge\ntrainyard_serve_workers " +
         std::to_string(live_.load()) +
         "\n# TYPE trainyard_serve_workers_busy gauge\ntrainyard_serve_workers_busy " +
         std::to_string(busy_.load()) +
         "\n# TYPE trainyard_serve_queue_length gauge\ntrainyard_serve_queue_length " +
         std::to_string(queued) +
         "\n# TYPE trainyard_serve_worker_restarts_total counter\n"
         "trainyard_serve_worker_restarts_total " +
         std::to_string(restarts_.load()) + "\n";
}

}  // namespace trainyard::serve
