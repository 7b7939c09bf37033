// Finding Python 3 interpreters on this machine and choosing one for an environment's pin.
#pragma once

#include <compare>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

struct PythonVersion {
  int major = 0;
  int minor = 0;
  int micro = 0;

  // "3", "3.11" or "3.11.7" (missing parts are 0); nullopt for anything else.
  static std::optional<PythonVersion> Parse(std::string_view text);
  std::string ToString() const;  // "3.11.7"
  auto operator<=>(const PythonVersion&) const = default;
};

struct PythonInterpreter {
  std::filesystem::path path;  // the real executable (symlinks resolved)
  PythonVersion version;

  bool operator==(const PythonInterpreter&) const = default;
};

// The Python version constraint of a conda environment (its "python" dependency), with conda's
// meaning: "python=3.6" is 3.6.*, "python=3.6.2" is 3.6.2, "python==3.8" is exactly 3.8.0,
// ">=", "<=", ">", "<", "!=", "~=" compare, "3.9.*" wildcards, ',' is and, '|' is or; a bare
// version ("python 3.9") is treated like "=3.9".
class PythonPin {
 public:
  PythonPin() = default;  // no constraint: any Python 3

  // `entry` is the whole conda dependency: "python", "python=3.6.2", "python>=3.8,<3.12".
  // Throws InvalidInput (naming `where`) for a malformed version.
  static PythonPin Parse(std::string_view entry, std::string_view where = "python");

  bool empty() const { return alternatives_.empty(); }
  bool Matches(const PythonVersion& v) const;
  // The version the pin asks for by equality ("=3.6.2", "==3.8", "~=3.9", "3.9.*"), used to
  // prefer the same major.minor when no interpreter matches exactly. nullopt for ranges.
  std::optional<PythonVersion> wanted() const { return wanted_; }
  // The entry as written, e.g. "python=3.6.2"; "" when empty.
  const std::string& text() const { return text_; }

 private:
  struct Clause {
    std::string op;  // "=", "==", "!=", ">=", "<=", ">", "<", "~="
    std::vector<int> parts;
    bool wildcard = false;  // "3.9.*"
    bool Matches(const PythonVersion& v) const;
  };
  std::vector<std::vector<Clause>> alternatives_;  // or of ands
  std::optional<PythonVersion> wanted_;
  std::string text_;
};

// Where to look for interpreters.
struct PythonSearchPaths {
  // Directories searched for python3 and python3.6 ... python3.15 (PATH order).
  std::vector<std::filesystem::path> path_dirs;
  // pyenv roots whose versions/*/bin/python3 are candidates.
  std::vector<std::filesystem::path> pyenv_roots;

  // PATH, and $PYENV_ROOT or ~/.pyenv.
  static PythonSearchPaths FromEnvironment();
};

// The Python 3 interpreters found under `paths`, newest first, each real executable once.
// Wrapper scripts (pyenv shims: files starting with "#!") are skipped. Versions come from pyenv
// directory names ("3.11.7") or, for others, from running the interpreter once (5 s limit).
std::vector<PythonInterpreter> FindPythons(const PythonSearchPaths& paths);

// FindPythons(PythonSearchPaths::FromEnvironment()), computed once per process. Thread-safe.
const std::vector<PythonInterpreter>& InstalledPythons();

struct PythonChoice {
  PythonInterpreter interpreter;
  // "" when the pin was satisfied; otherwise a line for the build log, e.g.
  // "python=3.6.2 is not available here; using Python 3.13.0 (/root/.pyenv/.../python3.13)".
  std::string warning;
};

// The newest interpreter matching `pin`; else the newest of all, with a warning. nullopt when
// `available` is empty.
std::optional<PythonChoice> SelectPython(const PythonPin& pin,
                                         const std::vector<PythonInterpreter>& available);

}  // namespace trainyard
