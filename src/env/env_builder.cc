#include "env/env_builder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr char kMarker[] = ".trainyard-env.json";
constexpr char kLastUsed[] = ".trainyard-last-used";
constexpr char kRequirements[] = "trainyard-requirements.txt";

Error BuildFailed(const std::string& what, const ProcessResult* r = nullptr) {
  std::string msg = "Environment build failed: " + what;
  if (r != nullptr && !r->tail.empty()) msg += ". Last output:\n" + r->TailText();
  return Error("EnvironmentBuildFailed", msg, 400);
}

bool Exists(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

void TouchLastUsed(const fs::path& env_dir) {
  fs::path p = env_dir / kLastUsed;
  if (::utimensat(AT_FDCWD, p.c_str(), nullptr, 0) == 0) return;
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

int64_t MtimeMillis(const fs::path& p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// Holds an exclusive flock on a lock file; released when destroyed.
class FileLock {
 public:
  FileLock(const fs::path& path, const LogSink& log) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) ThrowErrno("open " + path.string());
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK) Fail(path);
    if (log) log("Waiting for a concurrent build of this environment to finish...");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) Fail(path);
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  [[noreturn]] void Fail(const fs::path& path) {
    int err = errno;
    ::close(fd_);
    errno = err;
    ThrowErrno("flock " + path.string());
  }
  int fd_ = -1;
};

// Environment for venv and pip: nothing from an outer Python setup leaks in.
std::map<std::string, std::optional<std::string>> BuildEnv() {
  return {{"PYTHONPATH", std::nullopt},    {"PYTHONHOME", std::nullopt},
          {"PYTHONSTARTUP", std::nullopt}, {"VIRTUAL_ENV", std::nullopt},
          {"PIP_USER", std::nullopt},      {"PIP_TARGET", std::nullopt},
          {"PIP_PREFIX", std::nullopt},    {"PIP_REQUIRE_VIRTUALENV", std::nullopt},
          {"PYTHONUNBUFFERED", "1"},       {"PIP_NO_INPUT", "1"}};
}

// Scripts in bin/ (pip's console scripts, activate*) and pyvenv.cfg name the temp directory;
// point them at the final one.
void RewritePaths(const fs::path& tmp, const fs::path& final_dir) {
  const std::string from = tmp.string();
  const std::string to = final_dir.string();
  std::vector<fs::path> files = {tmp / "pyvenv.cfg"};
  std::error_code ec;
  for (fs::directory_iterator it(tmp / "bin", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) files.push_back(it->path());
  }
  for (const fs::path& f : files) {
    struct stat st;
    if (::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (4 << 20)) continue;
    std::string text = ReadFile(f);
    if (text.find(from) == std::string::npos) continue;
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
      out.append(text, pos, hit - pos);
      out += to;
    }
    out.append(text, pos);
    WriteFileAtomic(f, out, static_cast<int>(st.st_mode & 07777));
  }
}

// index/<hash of the spec without name, version and variables>: the spec's built environment.
fs::path IndexFile(const fs::path& cache_root, const EnvSpec& spec) {
  nlohmann::json key_json = spec.ToJson();
  for (const char* k : {"name", "version", "environment_variables"}) key_json.erase(k);
  return cache_root / "index" / Sha256Hex(key_json.dump());
}

}  // namespace

bool EnvBuilder::IsCached(const EnvSpec& spec) const {
  const fs::path index_file = IndexFile(cache_root_, spec);
  if (!Exists(index_file)) return false;
  try {
    nlohmann::json idx = nlohmann::json::parse(ReadFile(index_file));
    return Exists(cache_root_ / idx.at("spec_hash").get<std::string>() / kMarker);
  } catch (const std::exception&) {
    return false;
  }
}

EnvBuilder::EnvBuilder(fs::path cache_root, EnvBuildOptions options)
    : cache_root_(std::move(cache_root)), options_(std::move(options)) {}

MaterializedEnv EnvBuilder::Materialize(const EnvSpec& spec, const LogSink& log) const {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  MaterializedEnv env;
  env.plan = MakeInstallPlan(spec);
  env.warnings = env.plan.warnings;
  if (spec.user_managed_dependencies) {
    std::string interp = spec.interpreter_path.empty() ? "python3" : spec.interpreter_path;
    std::optional<fs::path> found = FindExecutable(interp);
    if (!found) {
      throw BuildFailed("the user-managed interpreter '" + interp +
                        "' was not found (python.interpreter_path; searched PATH)");
    }
    env.user_managed = true;
    env.python_path = *found;
    env.spec_hash = UserManagedEnvironmentHash(interp);
    for (const std::string& w : env.warnings) say("Warning: " + w);
    say("Using the user-managed interpreter " + found->string() + "; nothing is installed");
    return env;
  }

  // Fast path: a spec seen before maps (index/<spec key>) to its built environment, so a cached
  // run skips interpreter discovery (~15 ms per process). The key covers what the plan depends
  // on; the index is written only after a successful build or lookup.
  const fs::path index_file = IndexFile(cache_root_, spec);
  if (options_.pythons.empty() && Exists(index_file)) {
    try {
      nlohmann::json idx = nlohmann::json::parse(ReadFile(index_file));
      fs::path dir = cache_root_ / idx.at("spec_hash").get<std::string>();
      if (Exists(dir / kMarker)) {
        env.spec_hash = idx["spec_hash"];
        env.env_dir = dir;
        env.python_path = dir / "bin" / "python";
        env.site_packages = dir / idx.at("site_packages_rel").get<std::string>();
        env.python_version =
            PythonVersion::Parse(idx.at("python_version").get<std::string>()).value();
        for (auto& w : idx.at("warnings")) env.warnings.push_back(w);
        for (const std::string& w : env.warnings) say("Warning: " + w);
        TouchLastUsed(env.env_dir);
        say("Using cached environment " + env.env_dir.string());
        return env;
      }
    } catch (const std::exception&) {
      // A damaged index entry: fall through to the full lookup, which rewrites it.
    }
  }
  auto remember = [&] {
    if (!options_.pythons.empty()) return;
    nlohmann::json idx = {
        {"spec_hash", env.spec_hash},
        {"site_packages_rel", fs::relative(env.site_packages, env.env_dir).string()},
        {"python_version", env.python_version.ToString()},
        {"warnings", env.warnings}};
    std::error_code ec;
    fs::create_directories(index_file.parent_path(), ec);
    try {
      WriteFileAtomic(index_file, idx.dump());
    } catch (const std::exception&) {
    }
  };

  const std::vector<PythonInterpreter>& pythons =
      options_.pythons.empty() ? InstalledPythons() : options_.pythons;
  std::optional<PythonChoice> choice = SelectPython(env.plan.python, pythons);
  if (!choice) {
    throw BuildFailed(
        "no Python 3 interpreter was found on this machine (searched PATH for "
        "python3, python3.N and pyenv versions)");
  }
  if (!choice->warning.empty()) env.warnings.push_back(choice->warning);
  env.spec_hash = EnvironmentHash(env.plan, choice->interpreter);
  env.python_version = choice->interpreter.version;
  env.env_dir = cache_root_ / env.spec_hash;
  env.python_path = env.env_dir / "bin" / "python";
  env.site_packages = env.env_dir / "lib" /
                      ("python" + std::to_string(env.python_version.major) + "." +
                       std::to_string(env.python_version.minor)) /
                      "site-packages";
  for (const std::string& w : env.warnings) say("Warning: " + w);

  if (Exists(env.env_dir / kMarker)) {
    TouchLastUsed(env.env_dir);
    say("Using cached environment " + env.env_dir.string());
    remember();
    return env;
  }
  fs::create_directories(cache_root_);
  FileLock lock(cache_root_ / (env.spec_hash + ".lock"), log);
  if (Exists(env.env_dir / kMarker)) {
    TouchLastUsed(env.env_dir);
    say("Using environment " + env.env_dir.string() + " (built concurrently)");
    remember();
    return env;
  }
  Build(spec, env, choice->interpreter, log);
  env.built_now = true;
  remember();
  return env;
}

void EnvBuilder::Build(const EnvSpec& spec, const MaterializedEnv& env,
                       const PythonInterpreter& python, const LogSink& log) const {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  const auto started = std::chrono::steady_clock::now();
  // We hold the lock: anything else under this hash is left over from a crashed build.
  std::error_code remove_ec;
  fs::remove_all(env.env_dir, remove_ec);
  const std::string tmp_prefix = env.spec_hash + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(cache_root_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(tmp_prefix, 0) == 0) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
  const fs::path tmp = cache_root_ / (tmp_prefix + RandomHex(4));
  const InstallPlan& plan = env.plan;

  say("Building environment " + (spec.name.empty() ? std::string("(unnamed)") : spec.name) + " (" +
      env.spec_hash + ")");
  say("Python " + python.version.ToString() + " (" + python.path.string() + ")");
  for (const std::string& n : plan.notes) say(n);
  try {
    ProcessOptions venv;
    venv.argv = {python.path.string(), "-m", "venv"};
    if (plan.packages.empty()) venv.argv.push_back("--without-pip");
    venv.argv.push_back(tmp.string());
    venv.env = BuildEnv();
    venv.timeout = options_.venv_timeout;
    say("$ " + python.path.string() + " -m venv" +
        (plan.packages.empty() ? " --without-pip " : " ") + tmp.string());
    ProcessResult r = RunProcess(venv, log);
    if (r.timed_out) throw BuildFailed("python -m venv did not finish in time", &r);
    if (r.exit_code != 0) {
      throw BuildFailed("python -m venv exited with code " + std::to_string(r.exit_code), &r);
    }
    if (!plan.packages.empty()) {
      const fs::path req = tmp / kRequirements;
      WriteFileAtomic(req, plan.RequirementsText());
      ProcessOptions pip;
      pip.argv = {(tmp / "bin" / "python").string(), "-m",         "pip", "install",
                  "--disable-pip-version-check",     "--no-input", "-r",  req.string()};
      pip.env = BuildEnv();
      pip.timeout = options_.pip_timeout;
      pip.tail_lines = 25;
      say("$ python -m pip install -r " + std::string(kRequirements) + "   # " +
          std::to_string(plan.packages.size()) + " package(s): " + [&] {
            std::string list;
            for (const std::string& p : plan.packages) list += (list.empty() ? "" : ", ") + p;
            return list;
          }());
      r = RunProcess(pip, log);
      if (r.timed_out) {
        throw BuildFailed("pip install did not finish within " +
                              std::to_string(options_.pip_timeout.count()) + " s",
                          &r);
      }
      if (r.exit_code != 0) {
        throw BuildFailed("pip install exited with code " + std::to_string(r.exit_code), &r);
      }
    }
    RewritePaths(tmp, env.env_dir);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    json marker = {
        {"spec_hash", env.spec_hash},
        {"name", spec.name},
        {"spec", spec.ToJson()},
        {"python", {{"path", python.path.string()}, {"version", python.version.ToString()}}},
        {"pip_options", plan.pip_options},
        {"packages", plan.packages},
        {"satisfied_by_trainyard", plan.satisfied_by_trainyard},
        {"warnings", env.warnings},
        {"created_utc", FormatIsoTime(NowMillis())},
        {"created_millis", NowMillis()},
        {"build_seconds", seconds},
    };
    WriteFileAtomic(tmp / kMarker, marker.dump(2) + "\n");
    if (::rename(tmp.c_str(), env.env_dir.c_str()) != 0) ThrowErrno("rename " + tmp.string());
    FsyncDir(cache_root_);
    TouchLastUsed(env.env_dir);
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", seconds);
    say("Environment ready in " + std::string(took) + " s: " + env.env_dir.string());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

std::vector<CachedEnv> EnvBuilder::List() const {
  std::vector<CachedEnv> out;
  std::error_code ec;
  for (fs::directory_iterator it(cache_root_, ec), end; !ec && it != end; it.increment(ec)) {
    fs::path marker = it->path() / kMarker;
    if (!Exists(marker)) continue;
    json j = json::parse(ReadFile(marker), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    CachedEnv e;
    e.spec_hash = it->path().filename().string();
    e.dir = it->path();
    e.name = j.value("name", "");
    e.python_version = j.contains("python") ? j["python"].value("version", "") : "";
    if (j.contains("packages") && j["packages"].is_array()) {
      for (const json& p : j["packages"]) {
        if (p.is_string()) e.packages.push_back(p.get<std::string>());
      }
    }
    e.created_millis = j.value("created_millis", int64_t{0});
    e.last_used_millis = MtimeMillis(it->path() / kLastUsed);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const CachedEnv& a, const CachedEnv& b) {
    return a.created_millis > b.created_millis;
  });
  return out;
}

bool EnvBuilder::Remove(const CachedEnv& e) const {
  const fs::path lock_path = cache_root_ / (e.spec_hash + ".lock");
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) ThrowErrno("open " + lock_path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;  // being built (or removed) right now
  }
  const fs::path trash = e.dir.string() + ".trash-" + RandomHex(4);
  std::error_code ec;
  fs::rename(e.dir, trash, ec);
  if (!ec) fs::remove_all(trash, ec);
  ::close(fd);
  return !ec;
}

MaterializedEnv MaterializeEnvironment(const EnvSpec& spec, const fs::path& cache_root,
                                       const LogSink& log) {
  return EnvBuilder(cache_root).Materialize(spec, log);
}

}  // namespace trainyard
