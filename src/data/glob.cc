#include "data/glob.h"

#include <algorithm>

namespace trainyard {
namespace fs = std::filesystem;

namespace {

std::vector<std::string_view> Segments(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// '[...]' at p[pi]; returns the index after ']' and whether c matched, or npos when the
// class is not closed (then '[' is a literal).
size_t MatchClass(std::string_view p, size_t pi, char c, bool* matched) {
  size_t i = pi + 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool any = false;
  bool first = true;
  for (; i < p.size(); ++i) {
    if (p[i] == ']' && !first) {
      *matched = any != negate;
      return i + 1;
    }
    first = false;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      if (c >= p[i] && c <= p[i + 2]) any = true;
      i += 2;
    } else if (p[i] == c) {
      any = true;
    }
  }
  return std::string_view::npos;
}

// One segment against one segment pattern (* ? [..]); iterative with backtracking on '*'.
bool MatchSegment(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = pi++;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      if (p[pi] == '?') {
        ++pi;
        ++si;
        continue;
      }
      if (p[pi] == '[') {
        bool m = false;
        size_t next = MatchClass(p, pi, s[si], &m);
        if (next != std::string_view::npos) {
          if (m) {
            pi = next;
            ++si;
            continue;
          }
        } else if (s[si] == '[') {
          ++pi;
          ++si;
          continue;
        }
      } else if (p[pi] == s[si]) {
        ++pi;
        ++si;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool MatchSegments(const std::vector<std::string_view>& p, size_t pi,
                   const std::vector<std::string_view>& s, size_t si) {
  while (pi < p.size()) {
    if (p[pi] == "**") {
      // Collapse repeated '**' and try every split.
      while (pi + 1 < p.size() && p[pi + 1] == "**") ++pi;
      if (pi + 1 == p.size()) return true;  // trailing '**': anything below
      for (size_t k = si; k <= s.size(); ++k) {
        if (MatchSegments(p, pi + 1, s, k)) return true;
      }
      return false;
    }
    if (si >= s.size() || !MatchSegment(p[pi], s[si])) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

}  // namespace

bool HasGlobChars(std::string_view p) { return p.find_first_of("*?[") != std::string_view::npos; }

bool GlobMatch(std::string_view pattern, std::string_view path) {
  return MatchSegments(Segments(pattern), 0, Segments(path), 0);
}

GlobParts SplitGlob(std::string_view pattern) {
  std::vector<std::string_view> segs = Segments(pattern);
  GlobParts out;
  size_t i = 0;
  for (; i < segs.size() && !HasGlobChars(segs[i]); ++i) {
    if (!out.base.empty()) out.base += '/';
    out.base += segs[i];
  }
  for (; i < segs.size(); ++i) {
    if (!out.rest.empty()) out.rest += '/';
    out.rest += segs[i];
  }
  return out;
}

std::vector<std::string> ExpandGlob(const fs::path& root, std::string_view pattern) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;  // follows a link to a file
    std::string rel = it->path().lexically_relative(root).generic_string();
    if (GlobMatch(pattern, rel)) out.push_back(std::move(rel));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace trainyard
