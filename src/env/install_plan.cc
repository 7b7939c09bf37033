#include "env/install_plan.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
using json = nlohmann::json;

namespace {

struct Rename {
  std::string_view conda;
  std::string_view pip;
};
constexpr Rename kRenames[] = {
    {"pytorch", "torch"},
    {"pytorch-cpu", "torch"},
    {"pytorch-gpu", "torch"},
    {"py-xgboost", "xgboost"},
    {"py-xgboost-cpu", "xgboost"},
    {"py-xgboost-gpu", "xgboost"},
    {"matplotlib-base", "matplotlib"},
    {"opencv", "opencv-python"},
    {"py-opencv", "opencv-python"},
    {"pytables", "tables"},
    {"tensorflow-gpu", "tensorflow"},
    {"python-graphviz", "graphviz"},
    {"msgpack-python", "msgpack"},
    {"ruamel-yaml", "ruamel.yaml"},
};

// Packages the venv already has.
constexpr std::string_view kProvidedByVenv[] = {"pip", "setuptools", "wheel"};

// Conda packages of native libraries and tools with no pip counterpart (PEP 503-normalized
// names, so "_libgcc_mutex" appears as "-libgcc-mutex").
// clang-format off
constexpr std::string_view kCondaOnly[] = {
    "cudatoolkit", "cudnn", "cuda-toolkit", "cuda-version", "cuda-nvcc", "pytorch-cuda",
    "cpuonly", "nccl", "mkl", "mkl-include", "nomkl", "blas", "libblas", "libcblas", "liblapack",
    "openblas", "libopenblas", "libgcc-ng", "libstdcxx-ng", "libgfortran-ng", "-libgcc-mutex",
    "-openmp-mutex", "ca-certificates", "openssl", "libffi", "zlib", "xz", "sqlite", "readline",
    "tk", "ncurses", "graphviz", "git", "gcc", "gxx", "compilers", "libxgboost", "intel-openmp",
    "llvm-openmp", "libopencv", "python-abi"};
// clang-format on

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

size_t NameLength(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (std::isalnum(static_cast<unsigned char>(s[n])) || s[n] == '.' ||
                          s[n] == '_' || s[n] == '-')) {
    ++n;
  }
  return n;
}

// PEP 503 normalization: lowercase, runs of '.', '_', '-' become '-'.
std::string Normalize(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '.' || c == '_' || c == '-') {
      if (out.empty() || out.back() != '-') out.push_back('-');
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

template <size_t N>
bool Contains(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

// Conda version constraint (what follows the name) -> pip specifiers.
std::string ConvertVersion(std::string_view conda_spec, std::string_view rest) {
  rest = Trim(rest);
  if (rest.empty()) return "";
  if (rest.find('|') != std::string_view::npos) {
    throw InvalidInput("conda package '" + std::string(conda_spec) +
                       "': 'or' constraints (|) cannot be expressed for pip");
  }
  bool fuzzy = rest[0] == '=' && rest.substr(0, 2) != "==";
  bool bare = std::string_view("<>=!~").find(rest[0]) == std::string_view::npos;
  if (!fuzzy && !bare) {
    // Operators (">=1.1,<2"): pip reads them the same way; spaces removed.
    std::string out;
    for (char c : rest) {
      if (c != ' ') out.push_back(c);
    }
    return out;
  }
  std::string_view v = fuzzy ? rest.substr(1) : rest;
  v = v.substr(0, std::min(v.find('='), v.find(' ')));  // drop "=build" / " build"
  std::string version(v);
  if (version.empty()) return "";
  if (version.back() == '*') {
    if (version.size() >= 2 && version[version.size() - 2] != '.')
      version.insert(version.size() - 1, ".");
    return "==" + version;
  }
  // conda's "=1.19" means any 1.19.x; a full "=1.19.2" is taken as exactly that version.
  if (fuzzy && std::count(version.begin(), version.end(), '.') < 2) return "==" + version + ".*";
  return "==" + version;
}

std::string JoinedNote(std::string_view spec, std::string_view what) {
  return "conda package '" + std::string(spec) + "' " + std::string(what);
}

}  // namespace

std::string InstallPlan::RequirementsText() const {
  std::string out;
  for (const std::string& o : pip_options) out += o + "\n";
  for (const std::string& p : packages) out += p + "\n";
  return out;
}

bool IsAzureMlPackage(std::string_view requirement) {
  requirement = Trim(requirement);
  std::string name = Normalize(requirement.substr(0, NameLength(requirement)));
  return name == "azureml" || name.rfind("azureml-", 0) == 0;
}

std::optional<std::string> CondaToPip(std::string_view conda_spec, std::string* note) {
  if (note != nullptr) note->clear();
  std::string_view spec = Trim(conda_spec);
  std::string_view rest = spec;
  if (size_t colons = rest.rfind("::"); colons != std::string_view::npos) {
    rest = rest.substr(colons + 2);
  }
  size_t n = NameLength(rest);
  std::string_view name = rest.substr(0, n);
  std::string norm = Normalize(name);
  if (Contains(kProvidedByVenv, norm)) {
    if (note != nullptr) *note = JoinedNote(spec, "skipped: the virtual environment provides it");
    return std::nullopt;
  }
  if (Contains(kCondaOnly, norm)) {
    if (note != nullptr) {
      *note = JoinedNote(spec,
                         "skipped: a conda-only native package with no pip counterpart (pip "
                         "wheels bring their own libraries)");
    }
    return std::nullopt;
  }
  std::string pip_name(name);
  for (const Rename& r : kRenames) {
    if (r.conda == norm) pip_name = std::string(r.pip);
  }
  std::string out = pip_name + ConvertVersion(spec, rest.substr(n));
  if (note != nullptr && (pip_name != name || out != spec)) {
    *note = JoinedNote(spec, "installed with pip as '" + out + "'");
  }
  return out;
}

InstallPlan MakeInstallPlan(const EnvSpec& spec) {
  InstallPlan plan;
  auto add_pip = [&](const std::string& entry) {
    if (!entry.empty() && entry[0] == '-') {
      plan.pip_options.push_back(entry);
    } else if (IsAzureMlPackage(entry)) {
      plan.satisfied_by_trainyard.push_back(entry);
    } else {
      plan.packages.push_back(entry);
    }
  };
  if (spec.conda_dependencies) {
    const CondaDependencies& conda = *spec.conda_dependencies;
    for (const std::string& c : conda.conda_packages) {
      std::string_view rest = c;
      if (size_t colons = rest.rfind("::"); colons != std::string_view::npos) {
        rest = rest.substr(colons + 2);
      }
      std::string norm = Normalize(rest.substr(0, NameLength(rest)));
      if (norm == "python") {
        plan.python = PythonPin::Parse(rest, "environment.python.conda_dependencies");
        continue;
      }
      if (IsAzureMlPackage(rest)) {
        plan.satisfied_by_trainyard.push_back(c);
        continue;
      }
      std::string note;
      std::optional<std::string> pip = CondaToPip(c, &note);
      if (!note.empty()) plan.notes.push_back(note);
      if (pip) plan.packages.push_back(*pip);
    }
    for (const std::string& p : conda.pip_packages) add_pip(p);
    bool other_channels = std::any_of(conda.channels.begin(), conda.channels.end(),
                                      [](const std::string& ch) { return ch != "defaults"; });
    if (other_channels) {
      plan.notes.push_back("conda channels are not used: packages are installed with pip");
    }
  }
  if (spec.pip_requirements) {
    PipRequirements req =
        ParsePipRequirements(*spec.pip_requirements, "environment.pip_requirements");
    for (const std::string& o : req.options) add_pip(o);
    for (const std::string& r : req.requirements) add_pip(r);
  }
  for (const std::string& s : plan.satisfied_by_trainyard) {
    plan.notes.push_back("'" + s + "' not installed: Trainyard provides the azureml API");
  }
  if (spec.docker_enabled) {
    plan.warnings.push_back(
        "docker.enabled is ignored: Trainyard runs in a local virtual environment" +
        (spec.docker_base_image.empty() ? std::string()
                                        : " (base image " + spec.docker_base_image + " not used)"));
  }
  if (spec.user_managed_dependencies && (!plan.packages.empty() || !plan.python.empty())) {
    plan.warnings.push_back(
        "user_managed_dependencies is true: the listed packages and Python version are not "
        "installed; the script runs with " +
        (spec.interpreter_path.empty() ? std::string("python3") : spec.interpreter_path));
  }
  return plan;
}

std::string EnvironmentHash(const InstallPlan& plan, const PythonInterpreter& python) {
  json canonical = {
      {"format", 1},
      {"user_managed", false},
      {"python", {{"path", python.path.string()}, {"version", python.version.ToString()}}},
      {"pip_options", plan.pip_options},
      {"packages", plan.packages},
  };
  return Sha256Hex(canonical.dump());
}

std::string UserManagedEnvironmentHash(std::string_view interpreter_path) {
  json canonical = {
      {"format", 1},
      {"user_managed", true},
      {"interpreter_path", interpreter_path.empty() ? "python3" : std::string(interpreter_path)},
  };
  return Sha256Hex(canonical.dump());
}

}  // namespace trainyard
