// Ignore rules for snapshots: which files of a source directory stay out of a run's snapshot.
//
// Syntax and semantics are git's (https://git-scm.com/docs/gitignore): blank lines and `#`
// comments are skipped, `\#` / `\!` / `\ ` escape, unescaped trailing spaces are trimmed, `!`
// negates, a trailing `/` matches directories only, a pattern with a leading or middle `/` is
// anchored to the directory of its ignore file (otherwise it matches a name at any depth below
// it), `*` `?` `[a-z]` `[!...]` `[^...]` `[[:alpha:]]` never match `/`, `**` matches across
// directories (`**/x`, `x/**`, `a/**/b`), the last matching rule wins, and a path inside an
// excluded directory cannot be re-included.
//
// Which file: in each directory, `.amlignore` wins over `.gitignore` (as Azure ML does for the
// source directory); a nested directory's file applies below that directory and overrides its
// parents' rules, as nested .gitignore files do in git. Matching is case-sensitive.
//
// Always excluded, whatever the rules say: any `.git` entry (repository or submodule link) and
// any `.trainyard` directory (workspace data). Nothing else is built in (no __pycache__ rule).
//
// Thread-safety: const methods may be called concurrently; adding rules needs exclusive access.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

class IgnoreRules {
 public:
  IgnoreRules() = default;

  // Rules of a source directory: its `.amlignore` or `.gitignore` and those of every
  // subdirectory that is not itself ignored (one walk of the tree).
  static IgnoreRules Load(const std::filesystem::path& dir);
  // Rules from one ignore file's text, as if it were at the root.
  static IgnoreRules FromText(std::string_view text);

  // Adds one ignore file's rules; `base` is the directory holding it, relative to the root and
  // '/'-separated ("" for the root). Later rules take precedence, so add a directory's file after
  // its parents' (a top-down walk does).
  void AddRules(std::string_view text, std::string_view base = "");
  // Loads the ignore file of one directory (`abs_dir`, which is `base` under the root):
  // `.amlignore` if present, else `.gitignore`. Returns the file name used, "" when neither.
  std::string AddDirectory(const std::filesystem::path& abs_dir, std::string_view base);

  // True when `rel_path` ('/'-separated, relative to the root) is excluded, either itself or
  // through one of its parent directories. `is_dir` says whether it is a directory.
  bool IsIgnored(std::string_view rel_path, bool is_dir) const;
  // Like IsIgnored, but parents are assumed included: for walkers that never descend into an
  // ignored directory (cheaper).
  bool IsIgnoredEntry(std::string_view rel_path, bool is_dir) const;

  // True for the names that are never part of a snapshot (".git", ".trainyard").
  static bool IsAlwaysIgnored(std::string_view name);

  size_t rule_count() const { return rules_.size(); }
  // The ignore files loaded, relative to the root (e.g. ".amlignore", "sub/.gitignore").
  const std::vector<std::string>& sources() const { return sources_; }

 private:
  struct Rule {
    std::string pattern;  // leading '/', trailing '/' and '!' removed
    std::string base;     // directory of the ignore file, "" or "a/b"
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;  // matched against the path below base, else against the name
    bool literal = false;   // no glob characters: plain comparison
  };
  // Result for one path from the rules alone: 1 ignored, -1 re-included, 0 no rule matched.
  int Decide(std::string_view rel_path, bool is_dir) const;

  std::vector<Rule> rules_;
  std::vector<std::string> sources_;
};

// Glob match with gitignore path semantics (`*`, `?` and classes stop at '/', `**` segments
// cross directories, backslash escapes). Exposed for tests.
bool GlobMatchPath(std::string_view pattern, std::string_view text);

}  // namespace trainyard
