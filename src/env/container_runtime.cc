#include "env/container_runtime.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include "common/error.h"
#include "common/util.h"
#include "env/install_plan.h"

extern char** environ;

namespace trainyard {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string EnvLabel(const EnvSpec& spec) {
  return spec.name.empty() ? std::string("(unnamed)") : "'" + spec.name + "'";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::string& hay, const char* needle) {
  return hay.find(needle) != std::string::npos;
}

std::string Base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += t[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void RequirePodman(const EnvSpec& spec, const ContainerSettings& settings) {
  if (!FindExecutable(settings.podman)) {
    throw Error("ContainerRuntimeMissing",
                "environment " + EnvLabel(spec) + " has docker.enabled = True (image '" +
                    spec.docker_base_image + "') but podman ('" + settings.podman +
                    "') is not installed on this machine; install podman (Debian: apt-get install "
                    "podman runc), or set docker.enabled = False to run in a local venv",
                400);
  }
}

// podman image inspect: {digest, id}; empty digest when the image is not in the local store.
std::pair<std::string, std::string> InspectImage(const ContainerSettings& settings,
                                                 const std::string& reference) {
  ProcessOptions o;
  o.argv = settings.Podman();
  o.argv.insert(o.argv.end(), {"image", "inspect", "--format", "{{.Digest}} {{.Id}}", reference});
  o.timeout = std::chrono::seconds(60);
  o.capture = true;
  o.merge_stderr = false;
  ProcessResult r = RunProcess(o);
  if (!r.ok()) return {};
  std::string out = r.output;
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  auto sp = out.find(' ');
  if (sp == std::string::npos) return {out, ""};
  return {out.substr(0, sp), out.substr(sp + 1)};
}

std::string ImageLocalHint(const std::string& reference) {
  return "(`podman load -i image.tar`, or `podman import rootfs.tar " + reference + "`)";
}

}  // namespace

// ---- image references ----------------------------------------------------------------------

std::string ImageRef::FullName() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

ImageRef ParseImageRef(const std::string& image, const std::string& default_registry,
                       const std::string& field) {
  auto bad = [&](const std::string& why) {
    throw InvalidInput(field + ": '" + image + "' is not an image reference (" + why +
                       "); write [registry/]repository[:tag][@sha256:digest], e.g. "
                       "'continuumio/miniconda' or '127.0.0.1:5000/team/trainer:1'");
  };
  if (image.empty()) bad("empty");
  if (image.size() > 512) bad("longer than 512 characters");
  for (char c : image) {
    if (std::isspace(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) < 0x20) {
      bad("it contains whitespace");
    }
  }
  ImageRef ref;
  std::string rest = image;
  if (auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest.resize(at);
    static const std::regex kDigest("sha256:[0-9a-f]{64}");
    if (!std::regex_match(ref.digest, kDigest)) bad("the digest must be sha256: and 64 hex digits");
  }
  std::string first;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    first = rest.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
        first == "localhost") {
      ref.registry = first;
      rest = rest.substr(slash + 1);
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    static const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    if (!std::regex_match(ref.tag, kTag)) bad("bad tag '" + ref.tag + "'");
  }
  static const std::regex kRepo("[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*");
  if (!std::regex_match(rest, kRepo)) {
    bad("the repository '" + rest +
        "' must be lowercase letters, digits and . _ - separated by '/'");
  }
  ref.repository = rest;
  if (ref.registry.empty()) {
    std::string reg = default_registry;
    for (const char* scheme : {"https://", "http://"}) {
      if (reg.rfind(scheme, 0) == 0) reg = reg.substr(std::string(scheme).size());
    }
    while (!reg.empty() && reg.back() == '/') reg.pop_back();
    static const std::regex kHost("[A-Za-z0-9.-]+(:[0-9]{1,5})?");
    if (!reg.empty() && !std::regex_match(reg, kHost)) {
      throw InvalidInput(field + "_registry.address: '" + default_registry +
                         "' is not a registry address (host or host:port)");
    }
    ref.registry = reg.empty() ? "docker.io" : reg;
    if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
      ref.repository = "library/" + ref.repository;
    }
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

// ---- settings ------------------------------------------------------------------------------

ContainerSettings ContainerSettings::FromJson(const json& j, const std::string& source) {
  ContainerSettings s;
  s.source = source;
  auto bad = [&](const std::string& key, const std::string& why) {
    throw InvalidInput("containers config " + source + ": " + key + ": " + why +
                       " (docs/ARCHITECTURE.md \"Containers\")");
  };
  if (!j.is_object()) bad("(top level)", "must be a JSON object");
  auto str = [&](const char* key, std::string& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_string() || j[key].get<std::string>().empty()) {
      bad(key, "must be a non-empty string");
    }
    out = j[key].get<std::string>();
  };
  static const std::set<std::string> kKeys = {
      "podman", "runtime", "ulimits", "storage_root", "run_root", "pull_policy", "registries"};
  for (auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      bad(k,
          "unknown key; known: podman, runtime, ulimits, storage_root, run_root, pull_policy, "
          "registries");
    }
  }
  str("podman", s.podman);
  str("runtime", s.runtime);
  str("storage_root", s.storage_root);
  str("run_root", s.run_root);
  str("pull_policy", s.pull_policy);
  if (s.pull_policy != "missing" && s.pull_policy != "always" && s.pull_policy != "never") {
    bad("pull_policy", "'" + s.pull_policy + "' is not one of missing, always, never");
  }
  if (j.contains("ulimits") && !j["ulimits"].is_null()) {
    if (!j["ulimits"].is_array()) bad("ulimits", "must be a list of \"name=soft:hard\"");
    static const std::regex kUlimit("[a-z]+=-?[0-9]+(:-?[0-9]+)?");
    for (const json& u : j["ulimits"]) {
      if (!u.is_string() || !std::regex_match(u.get<std::string>(), kUlimit)) {
        bad("ulimits", u.dump() + " is not \"name=soft:hard\" (e.g. \"nofile=20000:20000\")");
      }
      s.ulimits.push_back(u.get<std::string>());
    }
  }
  if (j.contains("registries") && !j["registries"].is_null()) {
    if (!j["registries"].is_object()) bad("registries", "must be an object: address -> settings");
    for (auto& [host, r] : j["registries"].items()) {
      const std::string key = "registries[\"" + host + "\"]";
      if (!r.is_object()) bad(key, "must be an object {insecure, username, password}");
      RegistrySettings rs;
      for (auto& [k, v] : r.items()) {
        if (k == "insecure") {
          if (!v.is_boolean()) bad(key + ".insecure", "must be true or false");
          rs.insecure = v.get<bool>();
        } else if (k == "username" || k == "password") {
          if (!v.is_string()) bad(key + "." + k, "must be a string");
          (k == "username" ? rs.username : rs.password) = v.get<std::string>();
        } else {
          bad(key + "." + k, "unknown key; known: insecure, username, password");
        }
      }
      if (rs.username.empty() != rs.password.empty()) {
        bad(key, "give both username and password, or neither");
      }
      s.registries[host] = rs;
    }
  }
  return s;
}

ContainerSettings ContainerSettings::Load(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw InvalidInput("containers config " + file.string() +
                       ": no such file (give the path of a JSON file; docs/ARCHITECTURE.md "
                       "\"Containers\")");
  }
  json j = json::parse(ReadFile(file), nullptr, false);
  if (j.is_discarded()) {
    throw InvalidInput("containers config " + file.string() + ": not valid JSON");
  }
  return FromJson(j, file.string());
}

ContainerSettings ContainerSettings::FromEnvironment() {
  if (const char* p = std::getenv("TRAINYARD_CONTAINERS_CONFIG"); p && *p) return Load(p);
  ContainerSettings s;
  s.source = "(defaults: $TRAINYARD_CONTAINERS_CONFIG is not set)";
  return s;
}

std::vector<std::string> ContainerSettings::Podman() const {
  std::vector<std::string> out = {podman};
  if (!storage_root.empty()) out.insert(out.end(), {"--root", storage_root});
  if (!run_root.empty()) out.insert(out.end(), {"--runroot", run_root});
  if (!runtime.empty()) out.insert(out.end(), {"--runtime", runtime});
  return out;
}

RegistrySettings ContainerSettings::Registry(const std::string& host) const {
  auto it = registries.find(host);
  return it == registries.end() ? RegistrySettings{} : it->second;
}

// ---- submission check ----------------------------------------------------------------------

void CheckContainerImageAtSubmission(const EnvSpec& spec, const ContainerSettings& settings) {
  if (spec.docker_base_image.empty()) {
    throw Error("ContainerImageNotFound",
                "environment " + EnvLabel(spec) +
                    " has docker.enabled = True but no docker.base_image; set base_image (e.g. "
                    "'continuumio/miniconda' or '127.0.0.1:5000/team/trainer:1'), or "
                    "docker.enabled = False to run in a local venv",
                400);
  }
  ImageRef ref = ParseImageRef(spec.docker_base_image, spec.docker_base_image_registry);
  RequirePodman(spec, settings);
  if (!ref.LocalOnly() && settings.pull_policy != "never") return;  // the agent pulls
  if (!InspectImage(settings, ref.FullName()).first.empty()) return;
  const std::string why =
      ref.LocalOnly()
          ? "and names podman's local namespace (localhost/), so Trainyard cannot pull it"
          : "and the containers config " + settings.source +
                " says pull_policy \"never\", so Trainyard cannot pull it";
  throw Error("ContainerImageNotFound",
              "environment " + EnvLabel(spec) + " uses docker.base_image '" +
                  spec.docker_base_image + "', which is not in the local podman image store " +
                  why + ": load it first " + ImageLocalHint(ref.FullName()) +
                  ", name an image in a registry, or set docker.enabled = False to run in a "
                  "local venv",
              400);
}

// ---- pulling -------------------------------------------------------------------------------

ContainerImage EnsureContainerImage(const EnvSpec& spec, const ContainerSettings& settings,
                                    const fs::path& scratch_dir, const LineSink& log) {
  if (spec.docker_base_image.empty()) CheckContainerImageAtSubmission(spec, settings);
  RequirePodman(spec, settings);
  ContainerImage img;
  img.ref = ParseImageRef(spec.docker_base_image, spec.docker_base_image_registry);
  img.reference = img.ref.FullName();
  const std::string& host = img.ref.registry;
  auto [digest, id] = InspectImage(settings, img.reference);
  const bool present = !digest.empty();
  const bool pull = !img.ref.LocalOnly() && (settings.pull_policy == "always" ||
                                             (settings.pull_policy == "missing" && !present));
  log("Container image " + img.reference + " (podman, pull policy " + settings.pull_policy +
      (settings.source.empty() ? std::string() : ", settings " + settings.source) + ")");
  if (!pull) {
    if (!present) CheckContainerImageAtSubmission(spec, settings);  // throws the local-only error
    log("Image " + img.reference + " is in the local store: not pulled");
    img.digest = digest;
    img.id = id;
    return img;
  }
  const RegistrySettings reg = settings.Registry(host);
  ProcessOptions o;
  o.argv = settings.Podman();
  o.argv.push_back("pull");
  if (reg.insecure) o.argv.push_back("--tls-verify=false");
  fs::path authfile = scratch_dir / (".podman-auth-" + RandomHex(6) + ".json");
  if (WriteRegistryAuthFile(settings, host, authfile)) {
    o.argv.insert(o.argv.end(), {"--authfile", authfile.string()});
  } else {
    authfile.clear();
  }
  o.argv.push_back(img.reference);
  o.timeout = std::chrono::hours(2);
  o.tail_lines = 30;
  log("Pulling " + img.reference + " from registry " + host +
      (reg.insecure ? " (insecure: plain HTTP allowed, TLS not verified)" : ""));
  const auto started = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(o, [&](std::string_view line) { log("  " + std::string(line)); });
  if (!authfile.empty()) {
    std::error_code ec;
    fs::remove(authfile, ec);
  }
  if (!r.ok()) {
    const std::string tail = r.TailText();
    const std::string l = Lower(tail);
    const std::string what = "pulling docker.base_image '" + spec.docker_base_image + "' (" +
                             img.reference + ") for environment " + EnvLabel(spec) +
                             " from registry '" + host + "' failed: ";
    std::string code = "ContainerPullFailed", why;
    if (r.timed_out) {
      why = "podman pull did not finish within 2 hours";
    } else if (Contains(l, "http response to https client")) {
      code = "ContainerRegistryUnreachable";
      why =
          "the registry speaks plain HTTP. If that is intended (a private registry on a "
          "trusted network), mark it insecure in the server's containers config: "
          "\"registries\": {\"" +
          host + "\": {\"insecure\": true}}";
    } else if (Contains(l, "manifest unknown") || Contains(l, "name unknown") ||
               Contains(l, "not found") || Contains(l, "404")) {
      code = "ContainerImageNotFound";
      why = "the registry has no image " + img.ref.repository + ":" +
            (img.ref.tag.empty() ? img.ref.digest : img.ref.tag) +
            "; check the name and tag (push it first when it is your own)";
    } else if (Contains(l, "unauthorized") || Contains(l, "authentication required") ||
               Contains(l, "denied")) {
      code = "ContainerRegistryAuthFailed";
      why =
          "the registry refused access (no such repository, or credentials needed): check "
          "the name, and put the registry's username/password in the server's containers "
          "config under \"registries\": {\"" +
          host + "\": {...}}";
    } else if (Contains(l, "connection refused") || Contains(l, "no such host") ||
               Contains(l, "i/o timeout") || Contains(l, "network is unreachable") ||
               Contains(l, "dial tcp") || Contains(l, "timeout") || Contains(l, "eof") ||
               Contains(l, "certificate")) {
      code = "ContainerRegistryUnreachable";
      why =
          "the registry cannot be reached from this machine (is it running, and is the "
          "address right?)";
    } else {
      why = "podman pull exited with code " + std::to_string(r.exit_code);
    }
    throw Error(code, what + why + ". podman said:\n" + tail, 400);
  }
  std::tie(digest, id) = InspectImage(settings, img.reference);
  if (digest.empty()) {
    throw Error("ContainerPullFailed",
                "podman pull of " + img.reference + " succeeded but the image is not in the store",
                400);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", secs);
  log("Pulled " + img.reference + " in " + buf + " s");
  img.digest = digest;
  img.id = id;
  img.pulled = true;
  return img;
}

std::string ContainerImage::PinnedReference() const {
  if (digest.empty() || ref.LocalOnly()) return reference;
  return ref.registry + "/" + ref.repository + "@" + digest;
}

bool WriteRegistryAuthFile(const ContainerSettings& settings, const std::string& host,
                           const fs::path& file) {
  const RegistrySettings reg = settings.Registry(host);
  if (reg.username.empty()) return false;
  fs::create_directories(file.parent_path());
  json auth = {{"auths", {{host, {{"auth", Base64(reg.username + ":" + reg.password)}}}}}};
  WriteFileAtomic(file, auth.dump(), 0600);
  return true;
}

std::vector<std::string> PullOnRunOptions(const ContainerSettings& settings,
                                          const ContainerImage& image, const fs::path& authfile) {
  std::vector<std::string> out = {"--pull=missing"};
  if (settings.Registry(image.ref.registry).insecure) out.push_back("--tls-verify=false");
  if (!authfile.empty()) out.insert(out.end(), {"--authfile", authfile.string()});
  return out;
}

// ---- the package layer ---------------------------------------------------------------------

namespace {

class FileLock {
 public:
  explicit FileLock(const fs::path& p) {
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) ThrowErrno("open " + p.string());
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) ThrowErrno("flock " + p.string());
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Absolute paths in pip options and requirements that exist here (--find-links DIR, a wheel).
std::vector<std::string> LocalPathsIn(const InstallPlan& plan) {
  std::vector<std::string> out;
  auto scan = [&](const std::string& text) {
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find_first_of(" =\t", i);
      if (j == std::string::npos) j = text.size();
      std::string word = text.substr(i, j - i);
      if (word.rfind("file://", 0) == 0) word = word.substr(7);
      std::error_code ec;
      if (!word.empty() && word[0] == '/' && fs::exists(word, ec)) {
        fs::path p = fs::is_directory(word, ec) ? fs::path(word) : fs::path(word).parent_path();
        out.push_back(p.lexically_normal().string());
      }
      i = j + 1;
    }
  };
  for (const auto& o : plan.pip_options) scan(o);
  for (const auto& p : plan.packages) scan(p);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

ContainerLayer BuildContainerLayer(const EnvSpec& spec, const ContainerImage& image,
                                   const ContainerSettings& settings, const fs::path& cache_root,
                                   const LineSink& log) {
  ContainerLayer layer;
  if (spec.user_managed_dependencies) {
    log("user_managed_dependencies: the image's " +
        (spec.interpreter_path.empty() ? std::string("python3") : spec.interpreter_path) +
        " runs the script; nothing is installed");
    return layer;
  }
  InstallPlan plan = MakeInstallPlan(spec);
  for (const auto& n : plan.notes) log(n);
  if (plan.packages.empty()) {
    log("No packages to install: the image's python3 runs the script");
    return layer;
  }
  if (!plan.python.empty()) {
    log("Note: the Python pin '" + plan.python.text() +
        "' is not applied in a container: the image's python3 is used");
  }
  const std::string requirements = plan.RequirementsText();
  const json key_doc = {{"image_digest", image.digest},
                        {"image_id", image.id},
                        {"requirements", requirements},
                        {"layout", 1}};
  const std::string key = Sha256Hex(key_doc.dump()).substr(0, 32);
  const fs::path root = cache_root / "containers";
  const fs::path dir = root / key;
  const fs::path marker = dir / ".trainyard-env.json";
  layer.dir = dir;
  layer.python = (dir / "venv" / "bin" / "python").string();
  std::error_code ec;
  if (fs::exists(marker, ec)) {
    log("Packages: cached layer " + key + " (image digest + packages) reused");
    return layer;
  }
  fs::create_directories(root);
  FileLock lock(root / (key + ".lock"));
  if (fs::exists(marker, ec)) {
    log("Packages: layer " + key + " was built meanwhile; reused");
    return layer;
  }
  fs::remove_all(dir, ec);  // a build that died half way
  fs::create_directories(dir);
  WriteFileAtomic(dir / "requirements.txt", requirements);
  log("Building the package layer " + key + " in image " + image.reference + " (" +
      std::to_string(plan.packages.size()) + " requirement(s)):");
  for (const auto& p : plan.packages) log("  " + p);
  // The build runs inside the image, as root, with host networking (pip reaches the same
  // indexes as the host) and the host's PIP_* settings.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("PIP_", 0) == 0)
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["PYTHONDONTWRITEBYTECODE"] = "1";
  std::vector<std::pair<std::string, bool>> binds = {{dir.string(), false}};
  for (const auto& p : LocalPathsIn(plan)) {
    if (p != dir.string()) binds.emplace_back(p, true);
  }
  if (const char* fl = std::getenv("PIP_FIND_LINKS");
      fl && *fl && fl[0] == '/' && fs::is_directory(fl, ec)) {
    binds.emplace_back(fl, true);
  }
  const std::string venv = (dir / "venv").string();
  const std::string script =
      "python3 -c 'import sys' 2>/dev/null || { echo 'trainyard: the image has no python3 on "
      "its PATH'; exit 93; }\n"
      "python3 -m pip --version >/dev/null 2>&1 || { echo 'trainyard: the image has no pip for "
      "its python3'; exit 94; }\n"
      "python3 -m venv --system-site-packages --without-pip " +
      venv +
      " || exit 95\n"
      "exec " +
      venv + "/bin/python -m pip install --disable-pip-version-check --no-input -r " +
      (dir / "requirements.txt").string() + "\n";
  ProcessOptions o;
  o.argv = PodmanRunArgv(settings, image.reference, "", "", dir, binds, env, {},
                         {"/bin/sh", "-c", script});
  o.timeout = std::chrono::hours(1);
  o.tail_lines = 30;
  const auto started = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(o, [&](std::string_view line) { log("  " + std::string(line)); });
  if (!r.ok()) {
    fs::remove_all(dir, ec);
    std::string why;
    switch (r.exit_code) {
      case 93:
        why = "the image has no python3 on its PATH";
        break;
      case 94:
        why =
            "the image's python3 has no pip (install python3-pip in the image, or use an image "
            "with pip) — needed to install the environment's packages";
        break;
      case 95:
        why = "`python3 -m venv` failed in the image (Debian images need python3-venv)";
        break;
      default:
        why = r.timed_out ? "pip did not finish within an hour"
                          : "pip install failed (exit " + std::to_string(r.exit_code) + ")";
    }
    throw Error("EnvironmentBuildFailed",
                "installing the packages of environment " + EnvLabel(spec) + " into image " +
                    image.reference + " failed: " + why + ". Output:\n" + r.TailText(),
                400);
  }
  json m = {{"image", image.reference},
            {"image_digest", image.digest},
            {"name", spec.name},
            {"packages", plan.packages},
            {"created_utc", FormatIsoTime(NowMillis())},
            {"build_seconds",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
  WriteFileAtomic(marker, m.dump(2));
  layer.built_now = true;
  log("Package layer " + key + " built");
  return layer;
}

// ---- running -------------------------------------------------------------------------------

std::vector<std::string> PodmanRunArgv(const ContainerSettings& settings, const std::string& image,
                                       const std::string& run_id, const std::string& name,
                                       const fs::path& cwd,
                                       const std::vector<std::pair<std::string, bool>>& binds,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& pass_env,
                                       const std::vector<std::string>& argv,
                                       const std::vector<std::string>& run_options) {
  std::vector<std::string> out = settings.Podman();
  out.push_back("run");
  out.insert(out.end(), run_options.begin(), run_options.end());
  if (std::none_of(run_options.begin(), run_options.end(),
                   [](const std::string& o) { return o.rfind("--pull=", 0) == 0; })) {
    out.push_back("--pull=never");
  }
  out.insert(out.end(), {"--rm", "--network=host", "-w", cwd.string()});
  if (!name.empty()) out.insert(out.end(), {"--name", name});
  if (!run_id.empty()) out.insert(out.end(), {"--label", "trainyard.run=" + run_id});
  for (const auto& u : settings.ulimits) out.insert(out.end(), {"--ulimit", u});
  for (const auto& [path, ro] : binds) {
    out.push_back("-v");
    out.push_back((path.find(':') == std::string::npos ? path + ":" + path : path) +
                  (ro ? ":ro" : ""));
  }
  for (const auto& [k, v] : env) {
    out.push_back("-e");
    out.push_back(k + "=" + v);
  }
  for (const auto& k : pass_env) {
    out.push_back("-e");
    out.push_back(k);
  }
  out.push_back(image);
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

int RemoveRunContainers(const ContainerSettings& settings, const std::string& run_id) {
  try {
    ProcessOptions o;
    o.argv = settings.Podman();
    o.argv.insert(o.argv.end(), {"ps", "-aq", "--filter", "label=trainyard.run=" + run_id});
    o.timeout = std::chrono::seconds(30);
    o.capture = true;
    o.merge_stderr = false;
    ProcessResult r = RunProcess(o);
    if (!r.ok()) return 0;
    std::vector<std::string> ids;
    size_t i = 0;
    while (i < r.output.size()) {
      size_t j = r.output.find('\n', i);
      if (j == std::string::npos) j = r.output.size();
      std::string id = r.output.substr(i, j - i);
      if (!id.empty()) ids.push_back(id);
      i = j + 1;
    }
    if (ids.empty()) return 0;
    ProcessOptions rm;
    rm.argv = settings.Podman();
    rm.argv.insert(rm.argv.end(), {"rm", "-f", "-t", "2"});
    rm.argv.insert(rm.argv.end(), ids.begin(), ids.end());
    rm.timeout = std::chrono::seconds(60);
    RunProcess(rm);
    return static_cast<int>(ids.size());
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace trainyard
