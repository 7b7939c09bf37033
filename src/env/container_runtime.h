// Runs with docker.enabled (Estimator `custom_docker_image`, `environment.docker.base_image`):
// the script runs inside a container through podman (there is no Docker engine). The image is
// pulled from the registry named in it (docs/ARCHITECTURE.md "Containers"):
//
//   ParseImageRef        "continuumio/miniconda" -> docker.io/continuumio/miniconda:latest
//   ContainerSettings    the machine's podman settings and the registries config
//                        ($TRAINYARD_CONTAINERS_CONFIG, set by `server --containers-config`)
//   EnsureContainerImage pull unless present (pull policy), progress to the build log, digest
//   BuildContainerLayer  the environment's packages in a venv layered on the image's python3,
//                        cached under <env cache>/containers/<hash of digest + packages>
//   PodmanRunArgv        the `podman run` of the script (or of one rank)
//
// The submission check (CheckContainerImageAtSubmission) never pulls; the agent pulls during
// Preparing, so a missing image or an unreachable registry fails the run before the script.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "env/env_spec.h"
#include "env/process.h"

namespace trainyard {

// A fully qualified image reference.
struct ImageRef {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "localhost" (podman's local names)
  std::string repository;  // "library/python", "continuumio/miniconda"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:..." when the reference pins one
  // registry/repository[:tag][@digest]: what podman is given (never a short name).
  std::string FullName() const;
  // podman's `localhost/` namespace: images imported or built on this machine, never pulled.
  bool LocalOnly() const { return registry == "localhost"; }
};

// Parses Docker's reference grammar: the first path component is a registry when it holds a
// '.' or a ':' or is "localhost"; otherwise the registry is `default_registry` when given
// (environment.docker.base_image_registry.address), else docker.io (one-component names get
// "library/"). Throws InvalidInput naming `field` and the image for a malformed reference.
ImageRef ParseImageRef(const std::string& image, const std::string& default_registry = "",
                       const std::string& field = "docker.base_image");

struct RegistrySettings {
  bool insecure = false;  // plain HTTP / unverified TLS (podman --tls-verify=false)
  std::string username;   // credentials for pulls (given to podman in a private authfile)
  std::string password;
};

// The machine's container settings: a JSON file (docs/ARCHITECTURE.md "Containers"):
//   {"podman": "podman", "runtime": "runc", "ulimits": ["nofile=20000:20000"],
//    "storage_root": DIR, "run_root": DIR, "pull_policy": "missing" | "always" | "never",
//    "registries": {"127.0.0.1:5000": {"insecure": true, "username": U, "password": P}}}
// Every key is optional; unknown keys are refused.
struct ContainerSettings {
  std::string podman = "podman";
  std::string runtime;               // podman --runtime; "" = podman's default
  std::vector<std::string> ulimits;  // podman run --ulimit, each "name=soft:hard"
  std::string storage_root;          // podman --root; "" = podman's default store
  std::string run_root;              // podman --runroot
  std::string pull_policy = "missing";
  std::map<std::string, RegistrySettings> registries;
  std::string source;  // where these came from (for messages)

  static ContainerSettings FromJson(const nlohmann::json& j, const std::string& source);
  // Reads and validates a settings file; InvalidInput naming the file and key otherwise.
  static ContainerSettings Load(const std::filesystem::path& file);
  // $TRAINYARD_CONTAINERS_CONFIG when set (Load), else the defaults.
  static ContainerSettings FromEnvironment();
  // `podman` and its global options (--root, --runroot, --runtime).
  std::vector<std::string> Podman() const;
  // The registry's settings (defaults when not listed).
  RegistrySettings Registry(const std::string& host) const;
};

// The check at submission: an image is named, podman is installed, the reference parses, and
// an image that cannot be pulled (podman's localhost/ names, or pull_policy "never") is in the
// local store. Never pulls. Throws Error "ContainerImageNotFound" / "ContainerRuntimeMissing" /
// InvalidInput (400) saying how to fix it. `env_name` names the environment in the message.
void CheckContainerImageAtSubmission(const EnvSpec& spec, const ContainerSettings& settings);

struct ContainerImage {
  ImageRef ref;
  std::string reference;  // ref.FullName()
  std::string digest;     // the image's manifest digest, "sha256:..."
  std::string id;         // podman's image id
  bool pulled = false;    // false: it was in the local store already
  // registry/repository@digest: the exact image, for nodes that pull it themselves.
  std::string PinnedReference() const;
};

// Writes podman's authfile for `host` (0600) when the settings hold credentials for it;
// returns false (and writes nothing) when they do not.
bool WriteRegistryAuthFile(const ContainerSettings& settings, const std::string& host,
                           const std::filesystem::path& file);

// `podman run` options for a node that may not have the image yet (the other nodes of a
// multi-node run): --pull=missing, --tls-verify=false for an insecure registry, --authfile
// `authfile` when it is not empty.
std::vector<std::string> PullOnRunOptions(const ContainerSettings& settings,
                                          const ContainerImage& image,
                                          const std::filesystem::path& authfile);

// Makes the spec's image available: when it is in the local store and the pull policy is
// "missing" (the default) nothing is fetched; otherwise `podman pull` (progress lines to `log`).
// Throws Error (400) naming the image and the registry: "ContainerImageNotFound" (the registry
// has no such image, or a local-only image is missing), "ContainerRegistryUnreachable",
// "ContainerRegistryAuthFailed", "ContainerPullFailed", "ContainerRuntimeMissing".
// `scratch_dir` holds a temporary authfile when the registry has credentials.
ContainerImage EnsureContainerImage(const EnvSpec& spec, const ContainerSettings& settings,
                                    const std::filesystem::path& scratch_dir, const LineSink& log);

// The environment's packages installed into the image's python3: a venv made inside the image
// (`python3 -m venv --system-site-packages --without-pip`, so the image's own packages stay
// visible) at <cache_root>/containers/<key>/venv, pip run inside the image, keyed by the image
// digest and the install plan (the same conda -> pip translation as local venvs, install_plan.h).
// Reused when the marker exists; builders of one key serialize on a flock. Absolute local paths
// named in pip options or requirements are mounted read-only (e.g. --find-links DIR).
struct ContainerLayer {
  std::filesystem::path dir;  // mounted read-only into the run's containers
  std::string python;         // the venv's python inside the container
  bool built_now = false;
};
// Returns nullopt-like empty python when the spec installs nothing (user-managed, or no
// packages): the image's python3 (or interpreter_path) is used as is.
ContainerLayer BuildContainerLayer(const EnvSpec& spec, const ContainerImage& image,
                                   const ContainerSettings& settings,
                                   const std::filesystem::path& cache_root, const LineSink& log);

// The podman command line that runs `argv` in `image`: `binds` (host path -> read-only flag)
// mounted at the same path (a bind written "host:container" at that container path), `cwd`
// the working directory, `env` the variables, `pass_env` names copied from podman's own
// environment when set (a trailing '*' copies every variable with that prefix: how ranks get
// the rank variables their supervisor sets), host networking (the server is on loopback), the
// label trainyard.run=<run_id>, settings' runtime and ulimits. `name` may be "" (podman picks).
// `run_options` go after `run`; without a --pull=... among them, --pull=never.
std::vector<std::string> PodmanRunArgv(const ContainerSettings& settings, const std::string& image,
                                       const std::string& run_id, const std::string& name,
                                       const std::filesystem::path& cwd,
                                       const std::vector<std::pair<std::string, bool>>& binds,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& pass_env,
                                       const std::vector<std::string>& argv,
                                       const std::vector<std::string>& run_options = {});

// Removes every container labelled trainyard.run=<run_id> (left by a killed podman client).
// Returns how many were removed; never throws.
int RemoveRunContainers(const ContainerSettings& settings, const std::string& run_id);

}  // namespace trainyard
