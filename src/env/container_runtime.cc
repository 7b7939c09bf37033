#include "env/container_runtime.h"

#include "common/error.h"
#include "env/process.h"

namespace trainyard {

void RequireLocalContainerImage(const std::string& env_name, const std::string& image) {
  const std::string env = env_name.empty() ? std::string("(unnamed)") : "'" + env_name + "'";
  if (image.empty()) {
    throw Error("ContainerImageNotFound",
                "environment " + env +
                    " has docker.enabled = True but no docker.base_image; set base_image to a "
                    "local podman image, or docker.enabled = False to run in a local venv",
                400);
  }
  if (!FindExecutable("podman")) {
    throw Error("ContainerRuntimeMissing",
                "environment " + env + " has docker.enabled = True (image '" + image +
                    "') but podman is not installed on this machine; install podman, or set "
                    "docker.enabled = False to run in a local venv",
                400);
  }
  ProcessOptions o;
  o.argv = {"podman", "image", "exists", image};
  o.timeout = std::chrono::seconds(60);
  ProcessResult r = RunProcess(o);
  if (r.exit_code == 0) return;
  if (r.exit_code == 1) {
    throw Error("ContainerImageNotFound",
                "environment " + env + " uses docker.base_image '" + image +
                    "', which is not in the local podman image store (`podman image exists` says "
                    "no). Trainyard runs offline and cannot pull images: load it first "
                    "(`podman load -i image.tar` or `podman import rootfs.tar " +
                    image + "`), or set docker.enabled = False to run in a local venv",
                400);
  }
  throw Error("ContainerRuntimeFailed",
              "`podman image exists " + image + "` failed (exit " + std::to_string(r.exit_code) +
                  "): " + r.TailText(),
              400);
}

std::vector<std::string> PodmanRunArgv(const std::string& image, const std::string& name,
                                       const std::filesystem::path& cwd,
                                       const std::vector<std::pair<std::string, bool>>& binds,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"podman",         "run",          "--rm", "--name",    name,
                                  "--network=host", "--pull=never", "-w",   cwd.string()};
  for (const auto& [path, ro] : binds) {
    out.push_back("-v");
    out.push_back((path.find(':') == std::string::npos ? path + ":" + path : path) +
                  (ro ? ":ro" : ""));
  }
  for (const auto& [k, v] : env) {
    out.push_back("-e");
    out.push_back(k + "=" + v);
  }
  out.push_back(image);
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace trainyard
