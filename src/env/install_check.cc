#include "env/install_check.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <future>
#include <map>

#include "env/process.h"

namespace trainyard {

namespace {

// Packages that are no longer published under their old name, with their successor.
const std::map<std::string, std::string>& Successors() {
  static const std::map<std::string, std::string> k = {
      {"tensorflow-gpu", "tensorflow (GPU support is included since 2.1)"},
      {"sklearn", "scikit-learn"},
      {"tensorflow-cpu", "tensorflow"},
  };
  return k;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

struct Requirement {
  std::string name;     // as written
  std::string version;  // exact pin ("==X"), "" otherwise
  bool checkable = false;
};

// "name", "name==1.2", "name[extra]==1.2; markers"; anything else (URLs, paths, options,
// ranges, wildcards) is not checked.
Requirement ParseRequirement(std::string_view req) {
  Requirement r;
  std::string s(req.substr(0, req.find(';')));
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return r;  // options, paths
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                          s[i] == '_' || s[i] == '.')) {
    ++i;
  }
  if (i == 0) return r;
  r.name = s.substr(0, i);
  if (i < s.size() && s[i] == '[') {
    size_t close = s.find(']', i);
    if (close == std::string::npos) return r;
    i = close + 1;
  }
  std::string rest = s.substr(i);
  rest.erase(std::remove_if(rest.begin(), rest.end(),
                            [](unsigned char c) { return std::isspace(c) != 0; }),
             rest.end());
  if (rest.empty()) {
    r.checkable = true;
  } else if (rest.rfind("==", 0) == 0 && rest.find_first_of(",*<>!~=", 2) == std::string::npos) {
    r.version = rest.substr(2);
    r.checkable = !r.version.empty();
  }
  return r;
}

std::vector<long> Parts(std::string_view v) {
  std::vector<long> out;
  size_t i = 0;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) break;
    long n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
      n = n * 10 + (v[i++] - '0');
    out.push_back(n);
    if (i < v.size() && v[i] == '.') ++i;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep, size_t limit) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < limit; ++i) out += (i ? sep : "") + v[i];
  if (v.size() > limit) out += sep + "... (" + std::to_string(v.size()) + " in all)";
  return out;
}

std::string Pythons(const std::vector<PythonInterpreter>& available) {
  std::vector<std::string> v;
  for (const auto& p : available) v.push_back(p.version.ToString());
  return v.empty() ? std::string("no Python 3") : "Python " + Join(v, ", ", 8);
}

}  // namespace

std::string NearestVersion(const std::vector<std::string>& offered, std::string_view wanted) {
  if (offered.empty()) return "";
  const std::vector<long> w = Parts(wanted);
  auto key = [&](const std::string& v) {
    std::vector<long> p = Parts(v);
    // Prefix agreement first (same major, then minor ...), then the numeric distance of the
    // first differing part.
    size_t same = 0;
    while (same < p.size() && same < w.size() && p[same] == w[same]) ++same;
    long dist = 0;
    if (same < p.size() && same < w.size()) dist = std::labs(p[same] - w[same]);
    return std::make_pair(-static_cast<long>(same), dist);
  };
  return *std::min_element(
      offered.begin(), offered.end(),
      [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
}

VersionLister PipIndexVersionLister(std::chrono::seconds timeout) {
  return [timeout](std::string_view name,
                   const PythonVersion& version) -> std::optional<std::vector<std::string>> {
    if (!FindExecutable("python3")) return std::nullopt;
    ProcessOptions o;
    o.argv = {"python3",
              "-m",
              "pip",
              "index",
              "versions",
              std::string(name),
              "--python-version",
              std::to_string(version.major) + "." + std::to_string(version.minor),
              "--disable-pip-version-check",
              "--no-input"};
    o.env = {{"PYTHONPATH", std::nullopt}, {"PIP_NO_INPUT", "1"}};
    o.timeout = timeout;
    o.capture = true;
    ProcessResult r;
    try {
      r = RunProcess(o);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (r.timed_out) return std::nullopt;
    const std::string& out = r.output;
    for (const char* offline : {"Retrying", "Could not fetch", "NewConnectionError", "Max retries",
                                "No module named pip", "unknown command"}) {
      if (out.find(offline) != std::string::npos) return std::nullopt;
    }
    std::vector<std::string> versions;
    if (r.exit_code == 0) {
      const std::string tag = "Available versions:";
      size_t at = out.find(tag);
      if (at == std::string::npos) return std::nullopt;
      size_t end = out.find('\n', at);
      std::string list = out.substr(
          at + tag.size(), end == std::string::npos ? std::string::npos : end - at - tag.size());
      size_t pos = 0;
      while (pos < list.size()) {
        size_t comma = list.find(',', pos);
        std::string v =
            list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        v.erase(std::remove_if(v.begin(), v.end(),
                               [](unsigned char c) { return std::isspace(c) != 0; }),
                v.end());
        if (!v.empty()) versions.push_back(v);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      return versions;
    }
    if (out.find("No matching distribution found") != std::string::npos) return versions;
    return std::nullopt;
  };
}

InstallCheck CheckInstallPlan(const InstallPlan& plan,
                              const std::vector<PythonInterpreter>& available,
                              const VersionLister& lister) {
  InstallCheck out;
  std::optional<PythonChoice> choice = SelectPython(plan.python, available);
  if (!choice) {
    out.errors.push_back(
        "no Python 3 interpreter was found on this machine (searched PATH "
        "for python3, python3.N and pyenv versions)");
    return out;
  }
  out.python = choice->interpreter;
  const PythonVersion& py = choice->interpreter.version;
  const std::string using_py =
      "Python " + std::to_string(py.major) + "." + std::to_string(py.minor);
  if (!choice->warning.empty()) {
    out.warnings.push_back(plan.python.text() + " is not available on this machine (it has " +
                           Pythons(available) + "); the environment is built with Python " +
                           py.ToString());
  }
  if (!lister || plan.packages.empty()) return out;
  std::vector<Requirement> reqs;
  for (const std::string& p : plan.packages) {
    Requirement r = ParseRequirement(p);
    if (r.checkable) reqs.push_back(r);
  }
  std::vector<std::future<std::optional<std::vector<std::string>>>> asks;
  for (const Requirement& r : reqs) {
    asks.push_back(
        std::async(std::launch::async, [&lister, name = r.name, py] { return lister(name, py); }));
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Requirement& r = reqs[i];
    std::optional<std::vector<std::string>> offered = asks[i].get();
    if (!offered) continue;  // undecidable here: the build will tell
    const bool have = r.version.empty() ? !offered->empty()
                                        : std::find(offered->begin(), offered->end(), r.version) !=
                                              offered->end();
    if (have) continue;
    std::string asked = r.name + (r.version.empty() ? "" : "==" + r.version);
    std::string msg = "package " + asked + " cannot be installed with " + using_py;
    if (!choice->warning.empty())
      msg += " (" + plan.python.text() + " was asked; this machine has " + Pythons(available) + ")";
    if (offered->empty()) {
      msg += ": pip's index has no version of '" + r.name + "' for " + using_py;
    } else {
      msg += ": pip's index offers " + r.name + " " + Join(*offered, ", ", 8) + " for " + using_py +
             "; nearest: " + r.name + "==" + NearestVersion(*offered, r.version);
    }
    auto s = Successors().find(Lower(r.name));
    if (s != Successors().end()) {
      msg += "; '" + r.name + "' is no longer published under that name: use " + s->second;
    }
    out.errors.push_back(msg);
  }
  return out;
}

}  // namespace trainyard
