// libFuzzer target: the .amlignore/.gitignore parser and matcher (src/runner/ignore_rules).
// Input: ignore-file text, then a 0 byte, then paths to test, one per line (the first kMaxPaths;
// each is matched against every rule at each of its directory levels, so the work per input
// grows with rules x paths x depth: a bound keeps every input cheap, as one ignore file checked
// against a few paths covers the parser and the matcher as well as many paths do).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "runner/ignore_rules.h"

namespace {
constexpr int kMaxPaths = 8;
constexpr long kMaxDepthForIsIgnored = 16;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = in.find('\0');
  std::string_view rules = in.substr(0, split);
  std::string_view paths = split == std::string_view::npos ? "a/b/c.py" : in.substr(split + 1);
  trainyard::IgnoreRules r = trainyard::IgnoreRules::FromText(rules);
  r.AddRules(rules, "sub/dir");
  size_t pos = 0;
  for (int n = 0; n < kMaxPaths && pos <= paths.size(); ++n) {
    size_t nl = paths.find('\n', pos);
    if (nl == std::string_view::npos) nl = paths.size();
    std::string_view p = paths.substr(pos, nl - pos);
    // IsIgnored checks every parent directory (rules x depth matches; only tests call it, the
    // snapshot walker uses IsIgnoredEntry level by level): only for paths of real depth.
    if (std::count(p.begin(), p.end(), '/') <= kMaxDepthForIsIgnored) {
      (void)r.IsIgnored(p, false);
      (void)r.IsIgnored(p, true);
    }
    (void)r.IsIgnoredEntry(p, false);
    (void)trainyard::GlobMatchPath(rules.substr(0, 256), p);
    pos = nl + 1;
  }
  return 0;
}
