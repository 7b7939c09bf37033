// A small command-line parser: flags (--name value, --name=value, boolean --flag, short -f)
// and positionals. Unknown flags are errors that list the known ones.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace trainyard::cli {

class Args {
 public:
  // value_flags take a value; bool_flags don't. Names without leading dashes; a one-letter
  // name is also accepted as -x.
  Args(const std::vector<std::string>& argv, std::set<std::string> value_flags,
       std::set<std::string> bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const;
  int GetInt(const std::string& name, int def) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // The i-th positional or an InvalidInput naming `what`.
  const std::string& Positional(size_t i, const std::string& what) const;
  // Arguments after a literal "--".
  const std::vector<std::string>& rest() const { return rest_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_, rest_;
};

// The known name closest to `typed` (edit distance at most 2, or a known name that starts
// with it, or one it starts with), "" when none is close.
std::string DidYouMean(const std::string& typed, const std::vector<std::string>& known);

// Nothing when `sub` is one of `known`; else InvalidInput "unknown <what> command 'x'; did you
// mean 'y'? (use a, b, c)". Called before anything needs a workspace, so a typo outside one
// names the typo.
void RequireSubcommand(const std::string& what, const std::string& sub,
                       const std::vector<std::string>& known);

}  // namespace trainyard::cli
