#include "cli/args.h"

#include <algorithm>

#include "common/error.h"

namespace trainyard::cli {

Args::Args(const std::vector<std::string>& argv, std::set<std::string> value_flags,
           std::set<std::string> bool_flags) {
  auto known = [&] {
    std::string s;
    for (auto& f : value_flags) s += " --" + f + " VALUE";
    for (auto& f : bool_flags) s += " --" + f;
    return s.empty() ? std::string(" (none)") : s;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      rest_.assign(argv.begin() + static_cast<long>(i) + 1, argv.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (value_flags.count(name)) {
      if (!has_value) {
        if (i + 1 >= argv.size()) throw InvalidInput("option --" + name + " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else if (bool_flags.count(name)) {
      values_[name] = "1";
    } else {
      throw InvalidInput("unknown option '" + a + "'; known options:" + known());
    }
  }
}

std::string Args::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

int Args::GetInt(const std::string& name, int def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  try {
    size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw InvalidInput("option --" + name + " needs an integer, got '" + it->second + "'");
  }
}

const std::string& Args::Positional(size_t i, const std::string& what) const {
  if (i >= positional_.size()) throw InvalidInput("missing argument: " + what);
  return positional_[i];
}

namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      // A swap of two neighbours counts as one edit ("lsit" -> "list").
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev[j - 1]);
      }
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string DidYouMean(const std::string& typed, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = 3;
  for (const std::string& k : known) {
    size_t d = EditDistance(typed, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  if (!best.empty() || typed.size() < 2) return best;
  for (const std::string& k : known) {
    if (k.rfind(typed, 0) == 0 || typed.rfind(k, 0) == 0) return k;
  }
  return "";
}

void RequireSubcommand(const std::string& what, const std::string& sub,
                       const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), sub) != known.end()) return;
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
  std::string guess = DidYouMean(sub, known);
  throw InvalidInput("unknown " + what + (what.empty() ? "" : " ") + "command '" + sub + "'" +
                     (guess.empty() ? "" : "; did you mean '" + guess + "'?") + " (" +
                     (what.empty() ? "commands: " : "use ") + list + ")");
}

}  // namespace trainyard::cli
