// Runs with docker.enabled: the script runs inside a container through podman (no Docker
// engine here), from an image that must already be in the local image store — Trainyard works
// offline and never pulls. Checked at submission and again by the agent, so a missing image
// fails the run before it starts.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace trainyard {

// Throws Error "ContainerImageNotFound" (400) when `image` is not in podman's local store, and
// "ContainerRuntimeMissing" (400) when podman is not installed; the messages say how to fix it.
// `env_name` names the environment in the message.
void RequireLocalContainerImage(const std::string& env_name, const std::string& image);

// The podman command line that runs `argv` in `image` with the same paths as on the host:
// `binds` (host path -> read-only flag) are mounted at the same path, `cwd` is the working
// directory, `env` the variables, host networking (the server is on loopback). A bind written
// "host:container" is mounted at that container path.
std::vector<std::string> PodmanRunArgv(const std::string& image, const std::string& name,
                                       const std::filesystem::path& cwd,
                                       const std::vector<std::pair<std::string, bool>>& binds,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& argv);

}  // namespace trainyard
