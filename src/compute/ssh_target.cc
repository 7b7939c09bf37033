#include "compute/ssh_target.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/util.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Single-quotes a string for sh.
std::string Q(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

std::string LastLines(const std::string& s, int n) {
  std::string t = Trim(s);
  size_t pos = t.size();
  for (int i = 0; i < n && pos != std::string::npos && pos > 0; ++i) pos = t.rfind('\n', pos - 1);
  return pos == std::string::npos ? t : Trim(t.substr(pos));
}

std::map<std::string, std::string> KeyValues(const std::string& out) {
  std::map<std::string, std::string> kv;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (kv.count(k))
      kv[k] += "\n" + v;
    else
      kv[k] = v;
  }
  return kv;
}

bool IsLoopbackUrl(const std::string& url) {
  return url.find("://127.") != std::string::npos ||
         url.find("://localhost") != std::string::npos || url.find("://[::1]") != std::string::npos;
}

int UrlPort(const std::string& url) {
  auto colon = url.rfind(':');
  return colon == std::string::npos ? 80 : std::atoi(url.c_str() + colon + 1);
}

// ---- attach validation (nothing is stored when this throws) ----
Json ValidateSshRequest(const Json& req, const std::string& secrets_dir) {
  static const std::set<std::string> known = {"type",
                                              "address",
                                              "ssh_port",
                                              "username",
                                              "password",
                                              "private_key",
                                              "private_key_passphrase",
                                              "max_concurrent_runs",
                                              "heartbeat_timeout_seconds",
                                              "agent_server_url"};
  for (auto& [k, v] : req.items()) {
    if (!known.count(k)) {
      throw InvalidInput("unknown attach setting '" + k +
                         "' for an ssh target; known: address, ssh_port, username, password, "
                         "private_key, private_key_passphrase, max_concurrent_runs, "
                         "heartbeat_timeout_seconds, agent_server_url");
    }
  }
  auto str = [&](const char* k) -> std::string {
    if (!req.contains(k) || req[k].is_null()) return "";
    if (!req[k].is_string()) throw InvalidInput(std::string(k) + " must be a string");
    return req[k].get<std::string>();
  };
  std::string address = str("address");
  if (address.empty()) {
    throw InvalidInput("address is required: the machine's IP address or DNS name");
  }
  if (address.find_first_of(" \t\r\n") != std::string::npos) {
    throw InvalidInput("address '" + address +
                       "' contains spaces: give one IP address or DNS name, such as 10.0.0.4 "
                       "or vm1.example.com");
  }
  static const std::regex host_re(R"(^[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$|^[0-9a-fA-F:]+$)");
  if (!std::regex_match(address, host_re) || address.size() > 253) {
    throw InvalidInput("address '" + address +
                       "' is not an IP address or DNS name (letters, digits, '.', '-'; IPv6 "
                       "with ':')");
  }
  int port = 22;
  if (req.contains("ssh_port") && !req["ssh_port"].is_null()) {
    const Json& p = req["ssh_port"];
    if (p.is_number_integer()) {
      port = p.get<int>();
    } else if (p.is_string() && !p.get<std::string>().empty() &&
               p.get<std::string>().find_first_not_of("0123456789") == std::string::npos &&
               p.get<std::string>().size() < 7) {
      port = std::stoi(p.get<std::string>());
    } else {
      throw InvalidInput("ssh_port must be a port number (1-65535), got " + p.dump());
    }
    if (port < 1 || port > 65535) {
      throw InvalidInput("ssh_port must be between 1 and 65535, got " + std::to_string(port));
    }
  }
  std::string user = str("username");
  if (user.empty()) throw InvalidInput("username is required: the account to log in as");
  static const std::regex user_re(R"(^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$)");
  if (!std::regex_match(user, user_re)) {
    throw InvalidInput("username '" + user +
                       "' is not a valid account name (letters, digits, '_', '.', '-')");
  }
  std::string password = str("password");
  std::string key = str("private_key");
  std::string passphrase = str("private_key_passphrase");
  if (!password.empty() && !key.empty()) {
    throw InvalidInput("give either a password or a private key (private_key_file), not both");
  }
  if (password.empty() && key.empty()) {
    throw InvalidInput("give a private key (private_key_file) or a password to log in to " +
                       address);
  }
  if (!passphrase.empty() && key.empty()) {
    throw InvalidInput("private_key_passphrase needs a private key (private_key_file)");
  }
  if (!key.empty() && key.find("-----BEGIN") == std::string::npos) {
    throw InvalidInput(
        "private_key_file does not hold a private key (expected a file such as ~/.ssh/id_rsa "
        "that starts with '-----BEGIN ... PRIVATE KEY-----'; the .pub file is the public key)");
  }
  Json settings = {{"address", address},
                   {"ssh_port", port},
                   {"username", user},
                   {"auth", key.empty() ? "password" : "key"},
                   {"key_passphrase", !passphrase.empty()}};
  auto positive = [&](const char* k, int lo, int hi) {
    if (!req.contains(k) || req[k].is_null()) return;
    if (!req[k].is_number_integer() || req[k].get<int>() < lo || req[k].get<int>() > hi) {
      throw InvalidInput(std::string(k) + " must be a whole number from " + std::to_string(lo) +
                         " to " + std::to_string(hi) + ", got " + req[k].dump());
    }
    settings[k] = req[k];
  };
  positive("max_concurrent_runs", 1, 4096);
  positive("heartbeat_timeout_seconds", 2, 86400);
  std::string agent_url = str("agent_server_url");
  if (!agent_url.empty()) {
    if (agent_url.rfind("http://", 0) != 0 && agent_url.rfind("https://", 0) != 0) {
      throw InvalidInput("agent_server_url must start with http:// or https://");
    }
    settings["agent_server_url"] = agent_url;
  }
  // Secrets: files of the target's own dir, readable by the server's user only.
  auto secret = [&](const char* file, const std::string& data) {
    WriteFileAtomic(fs::path(secrets_dir) / file, data, 0600);
  };
  if (!key.empty()) secret("id_key", key.back() == '\n' ? key : key + "\n");
  if (!password.empty()) secret("secret", password);
  if (!passphrase.empty()) secret("secret", passphrase);
  return settings;
}

}  // namespace

SshSettings SshSettings::FromJson(const Json& j) {
  SshSettings s;
  s.address = j.value("address", "");
  s.port = j.value("ssh_port", 22);
  s.username = j.value("username", "");
  s.auth = j.value("auth", "key");
  s.key_passphrase = j.value("key_passphrase", false);
  s.max_concurrent_runs = j.value("max_concurrent_runs", 0);
  s.heartbeat_timeout_seconds = j.value("heartbeat_timeout_seconds", 120);
  s.agent_server_url = j.value("agent_server_url", "");
  return s;
}

SshTarget::Result RunCaptured(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& env,
                              const std::string& input, int timeout_s) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) || ::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC)) {
    ThrowErrno("pipe");
  }
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && env.count(kv.substr(0, eq))) continue;
    envs.push_back(kv);
  }
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) ThrowErrno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execvpe(av[0], av.data(), ev.data());
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  SshTarget::Result r;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd p[3];
    int n = 0, oi = -1, ei = -1, ii = -1;
    if (out_open) p[oi = n++] = {out_pipe[0], POLLIN, 0};
    if (err_open) p[ei = n++] = {err_pipe[0], POLLIN, 0};
    if (in_fd >= 0) p[ii = n++] = {in_fd, POLLOUT, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) {
      r.timed_out = true;
      ::killpg(pid, SIGKILL);
      break;
    }
    int pr = ::poll(p, n, std::min(left, 1000));
    if (pr < 0 && errno == EINTR) continue;
    if (ii >= 0 && p[ii].revents) {
      ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) written = input.size();
      if (written >= input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    for (auto [idx, fd, dst, open] : {std::tuple{oi, out_pipe[0], &r.out, &out_open},
                                      std::tuple{ei, err_pipe[0], &r.err, &err_open}}) {
      if (idx < 0 || !p[idx].revents) continue;
      ssize_t k = ::read(fd, buf, sizeof buf);
      if (k > 0)
        dst->append(buf, static_cast<size_t>(k));
      else if (k == 0 || errno != EAGAIN)
        *open = false;
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string ExplainSshFailure(const std::string& err, const std::string& who,
                              const std::string& known_hosts) {
  auto has = [&](const char* s) { return err.find(s) != std::string::npos; };
  if (has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key verification failed")) {
    return "the SSH host key of " + who +
           " is not the one recorded when the target was attached (" + known_hosts +
           "): the machine was reinstalled, or someone is intercepting the connection. Trainyard "
           "refuses to connect. If you trust the machine's new key, detach the target and attach "
           "it again";
  }
  if (has("Permission denied")) {
    return who +
           " refused the login (Permission denied): check username, and that the public key of "
           "private_key_file is in ~/.ssh/authorized_keys on the machine (or that the password is "
           "right)";
  }
  if (has("Connection refused")) {
    return "nothing accepts SSH connections on " + who +
           " (connection refused): check address and ssh_port, and that sshd runs there";
  }
  if (has("timed out") || has("No route to host") || has("Network is unreachable") ||
      has("Could not resolve hostname") || has("Name or service not known")) {
    return who + " cannot be reached (" + LastLines(err, 1) +
           "): check the address and that the machine is up and reachable from the server";
  }
  if (has("Load key") || has("invalid format") || has("incorrect passphrase")) {
    return "the private key cannot be used (" + LastLines(err, 1) +
           "): check private_key_file and private_key_passphrase";
  }
  return "ssh to " + who + " failed: " + (err.empty() ? "no error output" : LastLines(err, 2));
}

SshTarget::SshTarget(const ComputeTargetRecord& rec, const ComputeContext& ctx)
    : name_(rec.name),
      ctx_(ctx),
      s_(SshSettings::FromJson(rec.settings)),
      dir_(ComputeTargetDir(ctx.data_dir, rec.name)),
      learned_(rec.status) {
  // Unix socket paths are short (108 bytes): the control socket lives under /tmp.
  fs::path ctl = fs::temp_directory_path() / ("trainyard-ssh-" + std::to_string(::getuid()));
  fs::create_directories(ctl);
  ::chmod(ctl.c_str(), 0700);
  control_path_ = (ctl / (Sha256Hex(dir_).substr(0, 16) + ".sock")).string();
  tunnel_port_ = learned_.value("tunnel_port", 0);
  spawner_ = std::thread([this] {
    std::unique_lock lk(sp_mu_);
    for (;;) {
      sp_cv_.wait(lk, [&] { return sp_stop_ || sp_job_ != nullptr; });
      if (sp_job_) {
        auto job = sp_job_;
        lk.unlock();
        job();
        lk.lock();
        sp_job_ = nullptr;
        sp_done_ = true;
        sp_cv_.notify_all();
        continue;
      }
      if (sp_stop_) return;
    }
  });
  cores_ = learned_.value("cores", 1);
  provisioned_ = rec.state == "Succeeded";
}

SshTarget::~SshTarget() {
  Shutdown();
  {
    std::lock_guard lk(sp_mu_);
    sp_stop_ = true;
  }
  sp_cv_.notify_all();
  if (spawner_.joinable()) spawner_.join();
}

void SshTarget::OnSpawner(const std::function<void()>& job) {
  std::unique_lock lk(sp_mu_);
  sp_cv_.wait(lk, [&] { return !sp_job_; });
  sp_job_ = job;
  sp_done_ = false;
  sp_cv_.notify_all();
  sp_cv_.wait(lk, [&] { return sp_done_; });
}

std::string SshTarget::Describe() const {
  return s_.username + "@" + s_.address + ":" + std::to_string(s_.port);
}

std::string SshTarget::InstallDir() const { return "$HOME/.trainyard/" + ctx_.build_id; }

std::string SshTarget::AgentServerUrl() const {
  if (!s_.agent_server_url.empty()) return s_.agent_server_url;
  if (tunnel_port_ > 0) return "http://127.0.0.1:" + std::to_string(tunnel_port_);
  return ctx_.server_url;
}

int SshTarget::Slots() const {
  // No lock: the dispatcher asks while holding the scheduler's lock, and mu_ may be held for
  // the length of a connection attempt.
  if (s_.max_concurrent_runs > 0) return s_.max_concurrent_runs;
  return std::max(1, cores_.load());
}

std::vector<std::string> SshTarget::BaseArgs(bool strict) const {
  std::vector<std::string> a = {
      "ssh",
      "-F",
      "/dev/null",
      "-p",
      std::to_string(s_.port),
      "-l",
      s_.username,
      "-o",
      "UserKnownHostsFile=" + dir_ + "/known_hosts",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      std::string("StrictHostKeyChecking=") + (strict ? "yes" : "accept-new"),
      "-o",
      "ConnectTimeout=10",
      "-o",
      "ServerAliveInterval=5",
      "-o",
      "ServerAliveCountMax=3",
      "-o",
      "ControlPath=" + control_path_,
      "-o",
      "LogLevel=ERROR"};
  if (s_.auth == "password") {
    a.insert(a.end(), {"-o", "PubkeyAuthentication=no", "-o",
                       "PreferredAuthentications=password,keyboard-interactive", "-o",
                       "NumberOfPasswordPrompts=1"});
  } else {
    a.insert(a.end(), {"-i", dir_ + "/id_key", "-o", "IdentitiesOnly=yes", "-o",
                       "PreferredAuthentications=publickey"});
    if (!s_.key_passphrase) a.insert(a.end(), {"-o", "BatchMode=yes"});
  }
  return a;
}

std::map<std::string, std::string> SshTarget::SshEnv() const {
  std::map<std::string, std::string> env;
  if (s_.auth == "password" || s_.key_passphrase) {
    fs::path askpass = fs::path(dir_) / "askpass.sh";
    if (!fs::exists(askpass)) {
      WriteFileAtomic(askpass, "#!/bin/sh\nexec cat " + Q(dir_ + "/secret") + "\n", 0700);
    }
    env["SSH_ASKPASS"] = askpass.string();
    env["SSH_ASKPASS_REQUIRE"] = "force";
    env["DISPLAY"] = "trainyard:0";
  }
  return env;
}

void SshTarget::StopMaster() {
  if (master_pid_ > 0) {
    ::kill(master_pid_, SIGTERM);
    int st;
    for (int i = 0; i < 50 && ::waitpid(master_pid_, &st, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (::waitpid(master_pid_, &st, WNOHANG) == 0) {
      ::kill(master_pid_, SIGKILL);
      ::waitpid(master_pid_, &st, 0);
    }
    master_pid_ = -1;
  }
  std::error_code ec;
  fs::remove(control_path_, ec);
}

// Called with mu_ held.
void SshTarget::EnsureConnected(bool first_use) {
  if (master_pid_ > 0) {
    int st;
    if (::waitpid(master_pid_, &st, WNOHANG) == 0 && fs::exists(control_path_)) return;
    master_pid_ = -1;  // it ended (dropped connection, killed): start a new one
  }
  std::error_code ec;
  fs::remove(control_path_, ec);
  std::vector<std::string> argv = BaseArgs(!first_use);
  argv.insert(argv.end(), {"-M", "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o",
                           "ExitOnForwardFailure=yes"});
  if (tunnel_port_ > 0) {
    argv.insert(argv.end(), {"-R", "127.0.0.1:" + std::to_string(tunnel_port_) +
                                       ":127.0.0.1:" + std::to_string(UrlPort(ctx_.server_url))});
  }
  argv.push_back(s_.address);
  std::string log = dir_ + "/master.log";
  auto env = SshEnv();
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = -1;
  int fork_errno = 0;
  OnSpawner([&] {
    pid = ::fork();
    if (pid < 0) fork_errno = errno;
    if (pid != 0) return;
    // Its own process group, and it dies with the server (a new server starts its own).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int nul = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(nul, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execvpe(av[0], av.data(), ev.data());
    _exit(127);
  });
  if (pid < 0) {
    errno = fork_errno;
    ThrowErrno("fork");
  }
  master_pid_ = pid;
  // Ready when the control socket answers; failed when the master exits first.
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      master_pid_ = -1;
      std::string err = ReadFileTail(log, 4000);
      last_error_ = ExplainSshFailure(err, Describe(), dir_ + "/known_hosts");
      if (err.find("forwarding") != std::string::npos && tunnel_port_ > 0) {
        last_error_ = "the reverse tunnel to the server could not be opened on port " +
                      std::to_string(tunnel_port_) + " of " + s_.address + " (" +
                      LastLines(err, 1) + ")";
      }
      throw Unavailable(last_error_);
    }
    if (fs::exists(control_path_)) {
      auto chk = BaseArgs(!first_use);
      chk.insert(chk.end(), {"-O", "check", s_.address});
      if (RunCaptured(chk, env, "", 5).exit_code == 0) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  StopMaster();
  last_error_ = Describe() + " did not finish the SSH connection within 20 s";
  throw Unavailable(last_error_);
}

SshTarget::Result SshTarget::RemoteRaw(const std::vector<std::string>& remote_argv,
                                       const std::string& input, int timeout_s) {
  std::vector<std::string> argv;
  {
    std::lock_guard lk(mu_);
    EnsureConnected(!provisioned_);
    argv = BaseArgs(provisioned_);
  }
  argv.insert(argv.end(), {"-o", "ControlMaster=no", s_.address});
  argv.insert(argv.end(), remote_argv.begin(), remote_argv.end());
  Result r = RunCaptured(argv, SshEnv(), input, timeout_s);
  if (r.timed_out) {
    throw Unavailable(Describe() + " did not answer within " + std::to_string(timeout_s) + " s");
  }
  if (r.exit_code == 255) {
    std::lock_guard lk(mu_);
    last_error_ = ExplainSshFailure(r.err, Describe(), dir_ + "/known_hosts");
    throw Unavailable(last_error_);
  }
  return r;
}

SshTarget::Result SshTarget::Remote(const std::string& script, int timeout_s,
                                    const std::string& stdin_extra) {
  (void)stdin_extra;
  return RemoteRaw({"sh", "-s"}, script, timeout_s);
}

Json SshTarget::Provision(const ProgressSink& progress) {
  progress("connecting to " + Describe() + " with the system ssh client (" +
           (s_.auth == "password" ? std::string("password") : std::string("key")) +
           " authentication)");
  fs::path known = fs::path(dir_) / "known_hosts";
  bool had_key = fs::exists(known) && fs::file_size(known) > 0;
  {
    std::lock_guard lk(mu_);
    try {
      EnsureConnected(true);
    } catch (const Unavailable& e) {
      throw InvalidInput(e.what(), "SshConnectFailed");
    }
  }
  if (!had_key && fs::exists(known)) {
    auto fp = RunCaptured({"ssh-keygen", "-l", "-f", known.string()}, {}, "", 10);
    progress("host key recorded on first use in " + known.string() + ": " + Trim(fp.out));
  }
  // The machine: OS, python3, disk, cores, memory, GPUs.
  progress("checking the machine (python3, disk, cores, memory, GPUs)");
  const std::string probe = R"SH(echo "uname=$(uname -sm)"
echo "hostname=$(hostname)"
echo "home=$HOME"
echo "python3=$(command -v python3 || true)"
python3 -c 'import sys; print("pyver=%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true
echo "cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
awk '/^MemTotal:/ {print "mem_kb=" $2}' /proc/meminfo
df -Pk "$HOME" | awk 'NR==2 {print "home_free_kb=" $4}'
df -Pk /tmp | awk 'NR==2 {print "tmp_free_kb=" $4}'
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "nvidia_smi=yes"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null | sed 's/^/gpu=/'
fi
)SH";
  Result r;
  try {
    r = Remote(probe, 60);
  } catch (const Unavailable& e) {
    throw InvalidInput(e.what(), "SshConnectFailed");
  }
  auto kv = KeyValues(r.out);
  struct utsname u {};
  ::uname(&u);
  std::string here = std::string(u.sysname) + " " + u.machine;
  if (kv["uname"] != here) {
    throw InvalidInput(Describe() + " runs '" + kv["uname"] +
                           "'; this trainyard binary is built for " + here +
                           " and cannot run there",
                       "UnsupportedPlatform");
  }
  if (kv["python3"].empty()) {
    throw InvalidInput("there is no python3 on " + Describe() +
                           " (runs need it): install Python 3 there (for example `apt-get install "
                           "python3`) and attach again",
                       "NoPython");
  }
  int64_t home_free_mb = std::atoll(kv["home_free_kb"].c_str()) / 1024;
  if (home_free_mb < 512) {
    throw InvalidInput("only " + std::to_string(home_free_mb) + " MB free in " + kv["home"] +
                           " on " + Describe() + "; Trainyard needs at least 512 MB there",
                       "DiskFull");
  }
  Json gpus = Json::array();
  if (kv.count("gpu")) {
    std::istringstream g(kv["gpu"]);
    std::string line;
    while (std::getline(g, line)) {
      auto comma = line.find(',');
      gpus.push_back(
          {{"name", Trim(line.substr(0, comma))},
           {"memory_mb", comma == std::string::npos ? 0 : std::atoll(line.c_str() + comma + 1)}});
    }
  }
  Json learned = {{"hostname", kv["hostname"]},
                  {"platform", kv["uname"]},
                  {"home", kv["home"]},
                  {"python3", kv["python3"]},
                  {"python_version", kv["pyver"]},
                  {"cores", std::max(1, std::atoi(kv["cores"].c_str()))},
                  {"memory_mb", std::atoll(kv["mem_kb"].c_str()) / 1024},
                  {"home_free_mb", home_free_mb},
                  {"tmp_free_mb", std::atoll(kv["tmp_free_kb"].c_str()) / 1024},
                  {"gpus", gpus}};
  {
    std::lock_guard lk(mu_);
    learned_ = learned;
    cores_ = learned.value("cores", 1);
  }
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f", static_cast<double>(learned["memory_mb"]) / 1024.0);
  progress(kv["hostname"] + ": " + kv["uname"] + ", " +
           std::to_string(learned["cores"].get<int>()) + " cores, " + mem + " GiB memory, " +
           (gpus.empty()
                ? std::string(kv.count("nvidia_smi") ? "no GPU listed by nvidia-smi"
                                                     : "no GPU (no nvidia-smi)")
                : std::to_string(gpus.size()) + " GPU(s): " + gpus[0]["name"].get<std::string>()) +
           ", python3 " + kv["pyver"] + " at " + kv["python3"] + ", " +
           std::to_string(home_free_mb) + " MB free in " + kv["home"]);

  // This build of trainyard, with the Python SDK (and the AutoML engine) it needs.
  std::string install = kv["home"] + "/.trainyard/" + ctx_.build_id;
  Result have = Remote("test -x " + Q(install + "/bin/trainyard") + " && test -f " +
                       Q(install + "/.complete") + " && echo yes || true");
  if (Trim(have.out) == "yes") {
    progress("trainyard build " + ctx_.build_id + " is already installed in " + install);
  } else {
    fs::path stage = fs::path(dir_) / "stage";
    std::error_code ec;
    fs::remove_all(stage, ec);
    fs::create_directories(stage / "bin");
    fs::create_directories(stage / "python");
    fs::create_symlink(ctx_.agent_exe, stage / "bin/trainyard");
    for (const char* pkg : {"trainyard", "azureml"}) {
      if (fs::exists(fs::path(ctx_.sdk_python_dir) / pkg)) {
        fs::create_directory_symlink(fs::path(ctx_.sdk_python_dir) / pkg, stage / "python" / pkg);
      }
    }
    if (!ctx_.automl_engine.empty()) {
      fs::create_directories(stage / "engine");
      fs::create_symlink(ctx_.automl_engine, stage / "engine/_engine.abi3.so");
    }
    auto tar = RunCaptured(
        {"tar", "-c", "-z", "-h", "--exclude=__pycache__", "-C", stage.string(), "."}, {}, "", 300);
    fs::remove_all(stage, ec);
    if (tar.exit_code != 0)
      throw InternalError("packing trainyard for the node failed: " + tar.err);
    progress("installing trainyard build " + ctx_.build_id + " (" +
             std::to_string(tar.out.size() / (1024 * 1024)) +
             " MB compressed: the binary, the "
             "Python SDK" +
             (ctx_.automl_engine.empty() ? "" : " and the AutoML engine") + ") into " + install);
    std::string tmp = install + ".tmp";
    Result inst = RemoteRaw(
        {"sh", "-c",
         Q("set -e; rm -rf " + Q(tmp) + "; mkdir -p " + Q(tmp) + "; tar -x -z -C " + Q(tmp) +
           "; if [ -f " + Q(tmp + "/engine/_engine.abi3.so") + " ]; then mv " +
           Q(tmp + "/engine/_engine.abi3.so") + " " + Q(tmp + "/python/trainyard/_automl/") +
           "; fi; rm -rf " + Q(install) + "; mv " + Q(tmp) + " " + Q(install) + "; " +
           Q(install + "/bin/trainyard") + " --version")},
        tar.out, 300);
    if (inst.exit_code != 0) {
      throw InvalidInput(
          "installing trainyard on " + Describe() + " failed: " + LastLines(inst.err + inst.out, 3),
          "InstallFailed");
    }
    if (Trim(inst.out).find(ctx_.build_id) == std::string::npos) {
      throw InvalidInput("the trainyard installed on " + Describe() + " reports '" +
                             Trim(inst.out) + "', not build " + ctx_.build_id,
                         "InstallFailed");
    }
    Remote("touch " + Q(install + "/.complete"));
    progress("installed: " + Trim(inst.out));
  }
  learned["install_dir"] = install;

  // How the agent reaches the server.
  std::string url;
  if (s_.agent_server_url.empty() && IsLoopbackUrl(ctx_.server_url)) {
    Result port = Remote(
        "python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
        "print(s.getsockname()[1])\"");
    int p = std::atoi(Trim(port.out).c_str());
    if (p <= 0) throw InternalError("cannot choose a port on the node: " + port.err);
    {
      std::lock_guard lk(mu_);
      tunnel_port_ = p;
      StopMaster();  // reconnect with the tunnel on the master
      try {
        EnsureConnected(false);
      } catch (const Unavailable& e) {
        throw InvalidInput(e.what(), "SshTunnelFailed");
      }
    }
    url = AgentServerUrl();
    progress("the server listens on loopback (" + ctx_.server_url +
             "): agents reach it through an SSH reverse tunnel, " + url + " on the node");
    learned["tunnel_port"] = p;
  } else {
    url = AgentServerUrl();
    progress("agents reach the server directly at " + url);
  }
  Result health = Remote(
      "python3 -c \"import urllib.request, sys; "
      "print(urllib.request.urlopen(sys.argv[1] + '/healthz', timeout=10)"
      ".read().decode())\" " +
      Q(url) + " 2>&1 || true");
  if (health.out.find(ctx_.build_id) == std::string::npos) {
    throw InvalidInput("the node cannot reach the server at " + url + " (" +
                           LastLines(health.out, 1) +
                           "); start the server on an address the node can reach (--host) or "
                           "leave it on loopback so that an SSH tunnel is used",
                       "ServerUnreachable");
  }
  progress("the node reaches the server (" + url + "/healthz answers build " + ctx_.build_id + ")");
  learned["agent_server_url"] = url;
  std::lock_guard lk(mu_);
  learned_ = learned;
  cores_ = learned.value("cores", 1);
  provisioned_ = true;
  return learned;
}

void SshTarget::Resume() {
  // Reconnect in the background: a node that is down must not hold up the server's start.
  // Probes reconnect too, so a failure here is only recorded.
  std::lock_guard lk(mu_);
  try {
    EnsureConnected(false);
  } catch (const std::exception& e) {
    last_error_ = e.what();
    unreachable_since_ = Clock::now();
  }
}

int64_t SshTarget::StartAgent(const std::string& run_id, const std::string& token) {
  return LaunchOnNode(run_id, token, "", "agent.log");
}

int64_t SshTarget::StartRecovery(const std::string& run_id, const std::string& token,
                                 const std::string& why) {
  return LaunchOnNode(run_id, token, " --recover --reason " + Q(why), "recover.log");
}

int64_t SshTarget::LaunchOnNode(const std::string& run_id, const std::string& token,
                                const std::string& extra_args, const std::string& log_name) {
  const std::string url = AgentServerUrl();
  std::ostringstream sc;
  sc << "set -e\n"
     << "RUN_DIR=" << Q("/tmp/azureml_run/" + run_id) << "\n"
     << "BIN=\"" << InstallDir()
     << "/bin/trainyard\"\n"
     // /tmp/azureml_run is shared by the node's users (sticky, like /tmp).
     << "if [ ! -d /tmp/azureml_run ]; then mkdir -p /tmp/azureml_run && "
     << "chmod 1777 /tmp/azureml_run || true; fi\n"
     << "mkdir -p \"$RUN_DIR/azureml-logs\" \"$HOME/.trainyard/node\"\n"
     << "if [ ! -x \"$BIN\" ]; then echo \"trainyard build " << ctx_.build_id
     << " is not installed on this node ($BIN): detach and attach the target again\" >&2; "
     << "exit 3; fi\n"
     << "case \"$(\"$BIN\" --version)\" in *" << Q(ctx_.build_id) << "*) ;; *) echo "
     << "\"refusing to run an agent of another build: $BIN is $(\"$BIN\" --version), the "
     << "server is build " << ctx_.build_id
     << "\" >&2; exit 3;; esac\n"
     // Secrets on stdin only: this script never shows in ps.
     << "export TRAINYARD_TOKEN=" << Q(token) << "\n"
     << "export TRAINYARD_WORKSPACE=" << Q(ctx_.workspace_name) << "\n"
     << "cd \"$RUN_DIR\"\n"
     << "setsid \"$BIN\" agent --run " << Q(run_id) << " --server " << Q(url)
     << " --node-dir \"$HOME/.trainyard/node\" --run-dir \"$RUN_DIR\"" << extra_args
     << " </dev/null >>\"$RUN_DIR/" << log_name << "\" 2>&1 &\n"
     << "echo $! > \"$RUN_DIR/agent.pid\"\n"
     << "echo \"pid=$!\"\n";
  Result r = Remote(sc.str(), 60);
  if (r.exit_code != 0) {
    throw InvalidInput(Trim(r.err).empty()
                           ? "starting the agent failed (exit " + std::to_string(r.exit_code) + ")"
                           : Trim(r.err),
                       "AgentStartFailed");
  }
  auto kv = KeyValues(r.out);
  int64_t pid = std::atoll(kv["pid"].c_str());
  if (pid <= 0) throw InternalError("the node did not report the agent's pid: " + r.out + r.err);
  return pid;
}

void SshTarget::CancelAgent(const std::string& run_id, int64_t agent_id) {
  (void)run_id;
  // The agent is a session (and process group) leader: TERM to the group; the agent stops the
  // script's own group and reports Canceled.
  Remote("kill -TERM -- -" + std::to_string(agent_id) + " 2>/dev/null || kill -TERM " +
             std::to_string(agent_id) + " 2>/dev/null || true",
         30);
}

std::map<std::string, AgentProbe> SshTarget::Probe(const std::map<std::string, int64_t>& agents) {
  std::map<std::string, AgentProbe> out;
  std::string script;
  for (auto& [id, pid] : agents) {
    std::string p = std::to_string(pid);
    script += "if kill -0 " + p + " 2>/dev/null && tr '\\0' ' ' </proc/" + p +
              "/cmdline | grep -q -- " + Q(id) + "; then echo " + Q("alive " + id) +
              "; else echo " + Q("gone " + id) + "; fi\n";
  }
  try {
    Result r = Remote(script, 30);
    std::lock_guard lk(mu_);
    unreachable_since_.reset();
    busy_ = 0;
    std::istringstream in(r.out);
    std::string word, id;
    while (in >> word >> id) {
      if (!agents.count(id)) continue;
      if (word == "alive") {
        out[id] = {AgentState::kAlive, ""};
        ++busy_;
      } else {
        out[id] = {AgentState::kGone, "its process on " + s_.address + " ended"};
      }
    }
  } catch (const Error& e) {
    std::lock_guard lk(mu_);
    if (!unreachable_since_) unreachable_since_ = Clock::now();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - *unreachable_since_)
                    .count();
    AgentProbe p{AgentState::kUnknown, ""};
    if (secs >= s_.heartbeat_timeout_seconds) {
      p = {AgentState::kGone,
           "the node " + Describe() + " stopped answering for " + std::to_string(secs) +
               " s (heartbeat timeout " + std::to_string(s_.heartbeat_timeout_seconds) +
               " s; last error: " + e.what() + ")",
           true};
    }
    for (auto& [id, pid] : agents) out[id] = p;
  }
  return out;
}

std::string SshTarget::AgentLogTail(const std::string& run_id) {
  try {
    Result r = Remote(
        "tail -c 4000 " + Q("/tmp/azureml_run/" + run_id + "/agent.log") + " 2>/dev/null || true",
        20);
    return r.out;
  } catch (const Error& e) {
    return std::string("(the agent's log on the node could not be read: ") + e.what() + ")";
  }
}

std::vector<NodeStatus> SshTarget::Nodes() {
  std::lock_guard lk(mu_);
  NodeStatus n;
  n.name = learned_.value("hostname", s_.address);
  n.slots =
      s_.max_concurrent_runs > 0 ? s_.max_concurrent_runs : std::max(1, learned_.value("cores", 1));
  n.busy = busy_;
  n.state = unreachable_since_ ? "unreachable" : (busy_ > 0 ? "running" : "idle");
  n.message = unreachable_since_ ? last_error_ : "";
  n.resources = {{"cores", learned_.value("cores", 0)},
                 {"memory_mb", learned_.value("memory_mb", 0)},
                 {"gpus", learned_.value("gpus", Json::array())}};
  return {n};
}

Json SshTarget::Status() {
  std::lock_guard lk(mu_);
  int st;
  bool connected = master_pid_ > 0 && ::waitpid(master_pid_, &st, WNOHANG) == 0;
  return {{"address", s_.address},
          {"ssh_port", s_.port},
          {"username", s_.username},
          {"connected", connected},
          {"master_pid", connected ? Json(master_pid_) : Json(nullptr)},
          {"tunnel", tunnel_port_ > 0 ? Json("127.0.0.1:" + std::to_string(tunnel_port_) +
                                             " on the node -> " + ctx_.server_url)
                                      : Json(nullptr)},
          {"agent_server_url", AgentServerUrl()},
          {"last_error", last_error_.empty() ? Json(nullptr) : Json(last_error_)},
          {"known_hosts", dir_ + "/known_hosts"}};
}

void SshTarget::Shutdown() {
  std::lock_guard lk(mu_);
  StopMaster();
}

void RegisterSshComputeTarget(ComputeTargetRegistry& registry) {
  ComputeTargetKind k;
  k.kind = "ssh";
  k.azure_type = "VirtualMachine";
  k.validate = ValidateSshRequest;
  k.make = [](const ComputeTargetRecord& rec, const ComputeContext& ctx) {
    return std::unique_ptr<ComputeTarget>(new SshTarget(rec, ctx));
  };
  registry.Register(std::move(k));
}

}  // namespace trainyard
