// Materializing environments: a cached Python venv per environment hash.
//
// Layout under the cache root (the workspace's envs/):
//   <hash>/                     a complete venv (bin/python, lib/pythonX.Y/site-packages)
//   <hash>/.trainyard-env.json  marker, written last: spec, plan, interpreter, created_utc,
//                               build_seconds. A directory without it is never used.
//   <hash>/.trainyard-last-used mtime = last Materialize that used the env (for env prune)
//   <hash>/trainyard-requirements.txt  what pip installed (when anything)
//   <hash>.lock                 flock'ed while building
//   <hash>.tmp-XXXXXXXX/        a build in progress, renamed to <hash>/ when complete
//
// A build: `<python> -m venv <tmp>` (with --without-pip when nothing is to be installed, which
// takes ~50 ms instead of seconds), then `<tmp>/bin/python -m pip install
// --disable-pip-version-check --no-input -r <tmp>/trainyard-requirements.txt` (the user's pip
// configuration applies), script shebangs rewritten from the temp path to the final one, the
// marker written, and the directory renamed into place. All output goes to the log sink line by
// line. A failed build removes its temp directory and leaves nothing under <hash>/.
//
// Concurrency: builders of the same hash (threads or processes) serialize on an exclusive
// flock of <hash>.lock; the ones that waited reuse the result. Using a built environment takes
// no lock: one stat of the marker (plus a timestamp update), microseconds once the interpreter
// list is cached (InstalledPythons(), computed once per process).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "env/env_spec.h"
#include "env/install_plan.h"
#include "env/process.h"
#include "env/python_finder.h"

namespace trainyard {

// Receives the build log, one line per call (venv/pip output included).
using LogSink = LineSink;

struct MaterializedEnv {
  std::filesystem::path python_path;    // run scripts with this
  std::filesystem::path site_packages;  // of the venv; "" for a user-managed environment
  std::filesystem::path env_dir;        // the venv; "" for a user-managed environment
  std::string spec_hash;
  bool built_now = false;  // this call built it (false: cached, or built by a concurrent call)
  bool user_managed = false;
  PythonVersion python_version;       // 0.0.0 for a user-managed environment
  std::vector<std::string> warnings;  // also written to the log: pin not available, docker...
  InstallPlan plan;
};

// A built environment in the cache (for `env list` / `env prune`).
struct CachedEnv {
  std::string spec_hash;
  std::filesystem::path dir;
  std::string name;            // the spec's name when it was built
  std::string python_version;  // "3.11.7"
  std::vector<std::string> packages;
  int64_t created_millis = 0;
  int64_t last_used_millis = 0;
};

struct EnvBuildOptions {
  std::chrono::seconds venv_timeout{300};
  std::chrono::seconds pip_timeout{3600};
  // Interpreters to choose from; empty: InstalledPythons().
  std::vector<PythonInterpreter> pythons;
};

// Thread-safe; the log sink is called on the calling thread.
class EnvBuilder {
 public:
  explicit EnvBuilder(std::filesystem::path cache_root, EnvBuildOptions options = {});

  // Returns a ready environment for `spec`, building it when it is not cached. A user-managed
  // spec builds nothing: its interpreter_path (default python3, searched in PATH) is returned.
  // Throws InvalidInput for a spec that cannot be translated, and Error with code
  // "EnvironmentBuildFailed" when no Python 3 is found, a user-managed interpreter does not
  // exist, or venv/pip fail (the message ends with the tail of their output).
  MaterializedEnv Materialize(const EnvSpec& spec, const LogSink& log = {}) const;

  // True when `spec` was built before and is in the cache (its index entry and environment
  // exist): nothing to check or build for it.
  bool IsCached(const EnvSpec& spec) const;

  // The complete environments in the cache, newest first.
  std::vector<CachedEnv> List() const;

  // Removes a cached environment under its spec hash's build lock; false (nothing removed)
  // while a build of the same hash holds the lock. The directory is renamed first, so its
  // marker disappears atomically and no run picks a half-removed environment.
  bool Remove(const CachedEnv& env) const;

  const std::filesystem::path& cache_root() const { return cache_root_; }

 private:
  void Build(const EnvSpec& spec, const MaterializedEnv& env, const PythonInterpreter& python,
             const LogSink& log) const;

  std::filesystem::path cache_root_;
  EnvBuildOptions options_;
};

// EnvBuilder(cache_root).Materialize(spec, log).
MaterializedEnv MaterializeEnvironment(const EnvSpec& spec, const std::filesystem::path& cache_root,
                                       const LogSink& log = {});

}  // namespace trainyard
