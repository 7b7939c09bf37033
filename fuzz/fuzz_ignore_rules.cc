// libFuzzer target: the .amlignore/.gitignore parser and matcher (src/runner/ignore_rules).
// Input: ignore-file text, then a 0 byte, then paths to test, one per line.
#include <cstdint>
#include <string>
#include <string_view>

#include "runner/ignore_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = in.find('\0');
  std::string_view rules = in.substr(0, split);
  std::string_view paths = split == std::string_view::npos ? "a/b/c.py" : in.substr(split + 1);
  trainyard::IgnoreRules r = trainyard::IgnoreRules::FromText(rules);
  r.AddRules(rules, "sub/dir");
  size_t pos = 0;
  while (pos <= paths.size()) {
    size_t nl = paths.find('\n', pos);
    if (nl == std::string_view::npos) nl = paths.size();
    std::string_view p = paths.substr(pos, nl - pos);
    (void)r.IsIgnored(p, false);
    (void)r.IsIgnored(p, true);
    (void)r.IsIgnoredEntry(p, false);
    (void)trainyard::GlobMatchPath(rules.substr(0, 256), p);
    pos = nl + 1;
  }
  return 0;
}
