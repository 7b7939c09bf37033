#include "env/python_finder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <system_error>

#include "common/error.h"
#include "env/process.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "3.6.2" -> {3, 6, 2}; "3.9.*" -> {3, 9} with *wildcard. False when malformed.
bool ParseParts(std::string_view text, std::vector<int>* parts, bool* wildcard) {
  parts->clear();
  *wildcard = false;
  if (text.empty()) return false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t dot = text.find('.', pos);
    if (dot == std::string_view::npos) dot = text.size();
    std::string_view part = text.substr(pos, dot - pos);
    if (part == "*" && dot == text.size() && !parts->empty()) {
      *wildcard = true;
      return true;
    }
    if (part.empty() || part.size() > 4) return false;
    int value = 0;
    for (char c : part) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      value = value * 10 + (c - '0');
    }
    parts->push_back(value);
    if (parts->size() > 3) return false;
    pos = dot + 1;
  }
  return true;
}

int Compare(const PythonVersion& v, const std::vector<int>& parts) {
  int have[3] = {v.major, v.minor, v.micro};
  for (size_t i = 0; i < 3; ++i) {
    int want = i < parts.size() ? parts[i] : 0;
    if (have[i] != want) return have[i] < want ? -1 : 1;
  }
  return 0;
}

bool PrefixMatches(const PythonVersion& v, const std::vector<int>& parts) {
  int have[3] = {v.major, v.minor, v.micro};
  for (size_t i = 0; i < parts.size() && i < 3; ++i) {
    if (have[i] != parts[i]) return false;
  }
  return true;
}

bool IsScript(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // unreadable: not usable either
  char head[2] = {0, 0};
  ssize_t n = ::read(fd, head, 2);
  ::close(fd);
  return n == 2 && head[0] == '#' && head[1] == '!';
}

bool IsExecutableFile(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

std::optional<PythonVersion> Probe(const fs::path& python) {
  ProcessOptions o;
  o.argv = {python.string(), "-I", "-S", "-c",
            "import sys;print('%d.%d.%d' % tuple(sys.version_info[:3]))"};
  o.capture = true;
  o.merge_stderr = false;
  o.tail_lines = 0;
  o.timeout = std::chrono::seconds(5);
  try {
    ProcessResult r = RunProcess(o);
    if (!r.ok()) return std::nullopt;
    return PythonVersion::Parse(TrimSpaces(r.output));
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<PythonVersion> PythonVersion::Parse(std::string_view text) {
  std::vector<int> parts;
  bool wildcard = false;
  if (!ParseParts(text, &parts, &wildcard) || wildcard) return std::nullopt;
  PythonVersion v;
  v.major = parts[0];
  if (parts.size() > 1) v.minor = parts[1];
  if (parts.size() > 2) v.micro = parts[2];
  return v;
}

std::string PythonVersion::ToString() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
}

bool PythonPin::Clause::Matches(const PythonVersion& v) const {
  if (op == "=" || (op == "==" && wildcard)) return PrefixMatches(v, parts);
  if (op == "!=") return wildcard ? !PrefixMatches(v, parts) : Compare(v, parts) != 0;
  int c = Compare(v, parts);
  if (op == "==") return c == 0;
  if (op == ">=") return c >= 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == "<") return c < 0;
  if (op == "~=") {
    std::vector<int> prefix(parts.begin(), parts.end() - 1);
    return c >= 0 && PrefixMatches(v, prefix);
  }
  return false;
}

PythonPin PythonPin::Parse(std::string_view entry, std::string_view where) {
  PythonPin pin;
  std::string_view s = TrimSpaces(entry);
  pin.text_ = std::string(s);
  if (s.substr(0, 6) != "python") {
    throw InvalidInput(std::string(where) + ": '" + pin.text_ + "' is not a python entry");
  }
  std::string_view rest = TrimSpaces(s.substr(6));
  if (rest.empty()) {
    pin.text_.clear();
    return pin;
  }
  auto bad = [&](const std::string& why) {
    throw InvalidInput(std::string(where) + ": invalid Python version in '" + pin.text_ +
                       "': " + why);
  };
  size_t alt_start = 0;
  while (alt_start <= rest.size()) {
    size_t bar = rest.find('|', alt_start);
    if (bar == std::string_view::npos) bar = rest.size();
    std::string_view alt = rest.substr(alt_start, bar - alt_start);
    std::vector<Clause> clauses;
    size_t start = 0;
    while (start <= alt.size()) {
      size_t comma = alt.find(',', start);
      if (comma == std::string_view::npos) comma = alt.size();
      std::string_view item = TrimSpaces(alt.substr(start, comma - start));
      Clause c;
      for (const char* op : {"==", ">=", "<=", "!=", "~=", ">", "<", "="}) {
        if (item.substr(0, std::char_traits<char>::length(op)) == op) {
          c.op = op;
          item.remove_prefix(c.op.size());
          break;
        }
      }
      if (c.op.empty()) c.op = "=";  // bare version, e.g. "python 3.9"
      item = TrimSpaces(item);
      // conda allows a build string after the version ("python=3.8.5=h7579374_1"): ignore it.
      if (c.op == "=") item = item.substr(0, std::min(item.find('='), item.find(' ')));
      if (!ParseParts(item, &c.parts, &c.wildcard)) {
        bad("expected a version like 3.8 or 3.8.5");
      }
      if (c.op == "~=" && c.parts.size() < 2) bad("'~=' needs at least two version parts");
      if (!pin.wanted_ && (c.op == "=" || c.op == "==" || c.op == "~=")) {
        PythonVersion w;
        w.major = c.parts[0];
        w.minor = c.parts.size() > 1 ? c.parts[1] : 0;
        w.micro = c.parts.size() > 2 ? c.parts[2] : 0;
        pin.wanted_ = w;
      }
      clauses.push_back(std::move(c));
      start = comma + 1;
    }
    pin.alternatives_.push_back(std::move(clauses));
    alt_start = bar + 1;
  }
  return pin;
}

bool PythonPin::Matches(const PythonVersion& v) const {
  if (alternatives_.empty()) return true;
  for (const auto& clauses : alternatives_) {
    bool all = true;
    for (const Clause& c : clauses) all = all && c.Matches(v);
    if (all) return true;
  }
  return false;
}

PythonSearchPaths PythonSearchPaths::FromEnvironment() {
  PythonSearchPaths paths;
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) paths.path_dirs.emplace_back(std::string(path.substr(start, end - start)));
    start = end + 1;
  }
  if (const char* root = std::getenv("PYENV_ROOT"); root != nullptr && *root != '\0') {
    paths.pyenv_roots.emplace_back(root);
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    paths.pyenv_roots.emplace_back(fs::path(home) / ".pyenv");
  }
  return paths;
}

std::vector<PythonInterpreter> FindPythons(const PythonSearchPaths& paths) {
  // (candidate, version known from a pyenv directory name)
  std::vector<std::pair<fs::path, std::optional<PythonVersion>>> candidates;
  for (const fs::path& dir : paths.path_dirs) {
    candidates.emplace_back(dir / "python3", std::nullopt);
    for (int minor = 6; minor <= 15; ++minor) {
      candidates.emplace_back(dir / ("python3." + std::to_string(minor)), std::nullopt);
    }
  }
  for (const fs::path& root : paths.pyenv_roots) {
    std::error_code ec;
    for (fs::directory_iterator it(root / "versions", ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::optional<PythonVersion> v;
      if (std::count(name.begin(), name.end(), '.') == 2) v = PythonVersion::Parse(name);
      candidates.emplace_back(it->path() / "bin" / "python3", v);
    }
  }
  std::vector<PythonInterpreter> found;
  std::set<std::string> seen;
  for (const auto& [path, known] : candidates) {
    if (!IsExecutableFile(path) || IsScript(path)) continue;
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    if (ec || !seen.insert(real.string()).second) continue;
    std::optional<PythonVersion> v = known ? known : Probe(real);
    if (!v || v->major != 3) continue;
    found.push_back({real, *v});
  }
  std::stable_sort(
      found.begin(), found.end(),
      [](const PythonInterpreter& a, const PythonInterpreter& b) { return a.version > b.version; });
  return found;
}

const std::vector<PythonInterpreter>& InstalledPythons() {
  static const std::vector<PythonInterpreter> pythons =
      FindPythons(PythonSearchPaths::FromEnvironment());
  return pythons;
}

std::optional<PythonChoice> SelectPython(const PythonPin& pin,
                                         const std::vector<PythonInterpreter>& available) {
  if (available.empty()) return std::nullopt;
  auto newest = [&](auto pred) -> const PythonInterpreter* {
    const PythonInterpreter* best = nullptr;
    for (const PythonInterpreter& p : available) {
      if (pred(p) && (best == nullptr || p.version > best->version)) best = &p;
    }
    return best;
  };
  if (const PythonInterpreter* p = newest([&](const auto& i) { return pin.Matches(i.version); })) {
    return PythonChoice{*p, ""};
  }
  // As the issue asks: a pin nothing here satisfies runs on the newest Python 3, with a warning.
  const PythonInterpreter* fallback = newest([](const auto&) { return true; });
  return PythonChoice{*fallback, pin.text() + " is not available here; using Python " +
                                     fallback->version.ToString() + " (" + fallback->path.string() +
                                     ")"};
}

}  // namespace trainyard
