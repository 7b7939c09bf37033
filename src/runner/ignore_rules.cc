#include "runner/ignore_rules.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <system_error>
#include <vector>

namespace trainyard {
namespace fs = std::filesystem;

namespace {

// Results of MatchBracket: kAbortAll for a malformed class (the pattern never matches).
enum MatchResult { kMatch, kNoMatch, kAbortAll };

// 1 when `c` is in the POSIX class `name`, 0 when not, -1 for an unknown class name.
int PosixClass(std::string_view name, unsigned char c) {
  if (name == "alnum") return std::isalnum(c) != 0;
  if (name == "alpha") return std::isalpha(c) != 0;
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return std::iscntrl(c) != 0;
  if (name == "digit") return std::isdigit(c) != 0;
  if (name == "graph") return std::isgraph(c) != 0;
  if (name == "lower") return std::islower(c) != 0;
  if (name == "print") return std::isprint(c) != 0;
  if (name == "punct") return std::ispunct(c) != 0;
  if (name == "space") return std::isspace(c) != 0;
  if (name == "upper") return std::isupper(c) != 0;
  if (name == "xdigit") return std::isxdigit(c) != 0;
  return -1;
}

// Matches `c` against the bracket expression starting at pat[*p] == '['. On return *p is at
// the closing ']'. An unterminated or malformed class makes the whole pattern fail (as in git).
int MatchBracket(std::string_view pat, size_t* p, unsigned char c) {
  size_t i = *p + 1;
  bool negated = false;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) {
    negated = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  bool have_prev = false;
  unsigned char prev = 0;
  for (;;) {
    if (i >= pat.size()) return kAbortAll;
    unsigned char pc = static_cast<unsigned char>(pat[i]);
    if (pc == ']' && !first) break;
    first = false;
    if (pc == '\\') {
      if (++i >= pat.size()) return kAbortAll;
      pc = static_cast<unsigned char>(pat[i]);
    } else if (pc == '-' && have_prev && i + 1 < pat.size() && pat[i + 1] != ']') {
      unsigned char hi = static_cast<unsigned char>(pat[++i]);
      if (hi == '\\') {
        if (++i >= pat.size()) return kAbortAll;
        hi = static_cast<unsigned char>(pat[i]);
      }
      if (c >= prev && c <= hi) matched = true;
      have_prev = false;
      ++i;
      continue;
    } else if (pc == '[' && i + 1 < pat.size() && pat[i + 1] == ':') {
      size_t end = pat.find(":]", i + 2);
      if (end != std::string_view::npos) {
        int r = PosixClass(pat.substr(i + 2, end - i - 2), c);
        if (r < 0) return kAbortAll;
        if (r > 0) matched = true;
        have_prev = false;
        i = end + 2;
        continue;
      }
    }
    if (pc == c) matched = true;
    prev = pc;
    have_prev = true;
    ++i;
  }
  *p = i;
  if (c == '/') return kNoMatch;
  return matched != negated ? kMatch : kNoMatch;
}

// The matcher: the pattern is compiled to tokens and run as an NFA over the text (the set of
// token positions reachable so far), so a match costs O(tokens x text) whatever the pattern.
// A backtracking matcher (git's wildmatch) is exponential for patterns with many "**"
// segments, and even memoized it was O(pattern x text^2): one .amlignore line found by fuzzing
// took ~100 ms per path. Semantics are wildmatch's with WM_PATHNAME:
//   kLit c    one byte equal to c (also an escaped one: "\*")
//   kAny      '?': one byte other than '/'
//   kClass    '[...]': one byte other than '/' in the class (MatchBracket)
//   kStar     '*' (or a run of stars that is not a whole segment): any bytes other than '/'
//   kDirs     "**/" as a whole segment: nothing, or any bytes ending with '/' (zero or more
//             directories); followed by kDirsLoop, the state inside those bytes (which, unlike
//             kDirs, cannot be left without a '/')
//   kRest     "**" as the whole last segment: anything (including '/')
// A pattern with a malformed class or a trailing backslash never matches (as in git).
struct Token {
  enum Kind : unsigned char { kLit, kAny, kClass, kDirsLoop, kStar, kDirs, kRest } kind;
  char c = 0;           // kLit
  size_t class_at = 0;  // kClass: index of its '[' in the pattern
};

// False when the pattern can never match.
bool Compile(std::string_view pat, std::vector<Token>* out) {
  out->clear();
  size_t p = 0;
  while (p < pat.size()) {
    char pc = pat[p];
    switch (pc) {
      case '\\':
        if (p + 1 >= pat.size()) return false;
        out->push_back({Token::kLit, pat[p + 1], 0});
        p += 2;
        continue;
      case '?':
        out->push_back({Token::kAny, 0, 0});
        ++p;
        continue;
      case '[': {
        size_t q = p;
        if (MatchBracket(pat, &q, 'a') == kAbortAll) return false;  // malformed: never
        out->push_back({Token::kClass, 0, p});
        p = q + 1;
        continue;
      }
      case '*':
        break;
      default:
        out->push_back({Token::kLit, pc, 0});
        ++p;
        continue;
    }
    size_t star = p++;
    bool run = false;
    while (p < pat.size() && pat[p] == '*') {
      ++p;
      run = true;
    }
    bool seg_start = star == 0 || pat[star - 1] == '/';
    bool seg_end = p == pat.size() || pat[p] == '/';
    if (run && seg_start && seg_end) {
      if (p == pat.size()) {
        out->push_back({Token::kRest, 0, 0});
      } else {
        out->push_back({Token::kDirs, 0, 0});
        out->push_back({Token::kDirsLoop, 0, 0});
        ++p;  // the '/' belongs to the token
      }
    } else if (out->empty() || out->back().kind != Token::kStar) {
      out->push_back({Token::kStar, 0, 0});
    }
  }
  return true;
}

// Adds the positions reachable without consuming a byte (a star may match nothing; "**/" may
// match no directory: kDirs skips its kDirsLoop).
void Close(const std::vector<Token>& toks, std::vector<unsigned char>* set) {
  for (size_t i = 0; i < toks.size(); ++i) {
    if (!(*set)[i]) continue;
    if (toks[i].kind == Token::kDirs) {
      (*set)[i + 2] = 1;
    } else if (toks[i].kind >= Token::kStar) {
      (*set)[i + 1] = 1;
    }
  }
}

bool RunNfa(std::string_view pat, const std::vector<Token>& toks, std::string_view text) {
  const size_t m = toks.size();
  std::vector<unsigned char> cur(m + 1, 0), next(m + 1, 0);
  cur[0] = 1;
  Close(toks, &cur);
  for (char c : text) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t i = 0; i < m; ++i) {
      if (!cur[i]) continue;
      const Token& tk = toks[i];
      switch (tk.kind) {
        case Token::kLit:
          if (c == tk.c) next[i + 1] = any = 1;
          break;
        case Token::kAny:
          if (c != '/') next[i + 1] = any = 1;
          break;
        case Token::kClass: {
          size_t q = tk.class_at;
          if (MatchBracket(pat, &q, static_cast<unsigned char>(c)) == kMatch) {
            next[i + 1] = any = 1;
          }
          break;
        }
        case Token::kStar:
          if (c != '/') next[i] = any = 1;
          break;
        case Token::kDirs:  // enters the directories part: the next token is its loop
          next[i + 1] = any = 1;
          if (c == '/') next[i + 2] = 1;
          break;
        case Token::kDirsLoop:
          next[i] = any = 1;
          if (c == '/') next[i + 1] = 1;
          break;
        case Token::kRest:
          next[i] = any = 1;
          break;
      }
    }
    if (!any) return false;
    Close(toks, &next);
    cur.swap(next);
  }
  return cur[m] != 0;
}

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// git's trim_trailing_spaces: drops trailing spaces unless the first of them is escaped.
std::string_view TrimTrailingSpaces(std::string_view line) {
  size_t last_space = std::string_view::npos;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == ' ') {
      if (last_space == std::string_view::npos) last_space = i;
    } else if (line[i] == '\\') {
      if (++i >= line.size()) return line;
      last_space = std::string_view::npos;
    } else {
      last_space = std::string_view::npos;
    }
  }
  return last_space == std::string_view::npos ? line : line.substr(0, last_space);
}

// Reads a small regular file; false when it does not exist or is not a regular file.
bool ReadIgnoreFile(const fs::path& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  char buf[16384];
  ssize_t n;
  out->clear();
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;  // e.g. EISDIR: a directory named .gitignore
    }
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

void LoadTree(IgnoreRules* rules, const fs::path& abs, const std::string& rel) {
  std::error_code ec;
  for (fs::directory_iterator it(abs, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    std::string name = it->path().filename().string();
    if (IgnoreRules::IsAlwaysIgnored(name)) continue;
    std::string child = rel.empty() ? name : rel + "/" + name;
    if (rules->IsIgnoredEntry(child, true)) continue;
    rules->AddDirectory(it->path(), child);
    LoadTree(rules, it->path(), child);
  }
}

}  // namespace

bool GlobMatchPath(std::string_view pattern, std::string_view text) {
  std::vector<Token> toks;
  return Compile(pattern, &toks) && RunNfa(pattern, toks, text);
}

IgnoreRules IgnoreRules::FromText(std::string_view text) {
  IgnoreRules rules;
  rules.AddRules(text);
  return rules;
}

IgnoreRules IgnoreRules::Load(const fs::path& dir) {
  IgnoreRules rules;
  rules.AddDirectory(dir, "");
  LoadTree(&rules, dir, "");
  return rules;
}

std::string IgnoreRules::AddDirectory(const fs::path& abs_dir, std::string_view base) {
  std::string text;
  for (const char* name : {".amlignore", ".gitignore"}) {
    if (!ReadIgnoreFile(abs_dir / name, &text)) continue;
    AddRules(text, base);
    sources_.push_back(base.empty() ? std::string(name) : std::string(base) + "/" + name);
    return name;
  }
  return "";
}

void IgnoreRules::AddRules(std::string_view text, std::string_view base) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = TrimTrailingSpaces(line);
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    rule.base = std::string(base);
    if (line[0] == '!') {
      rule.negate = true;
      line.remove_prefix(1);
    }
    if (!line.empty() && line.back() == '/') {
      rule.dir_only = true;
      line.remove_suffix(1);
    }
    if (line.find('/') != std::string_view::npos) {
      rule.anchored = true;
      if (line[0] == '/') line.remove_prefix(1);
    }
    if (line.empty()) continue;
    rule.pattern = std::string(line);
    rule.literal = line.find_first_of("*?[\\") == std::string_view::npos;
    rules_.push_back(std::move(rule));
  }
}

bool IgnoreRules::IsAlwaysIgnored(std::string_view name) {
  return name == ".git" || name == ".trainyard";
}

int IgnoreRules::Decide(std::string_view rel, bool is_dir) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    const Rule& r = *it;
    if (r.dir_only && !is_dir) continue;
    std::string_view sub = rel;
    if (!r.base.empty()) {
      if (rel.size() <= r.base.size() || rel[r.base.size()] != '/' ||
          rel.compare(0, r.base.size(), r.base) != 0) {
        continue;
      }
      sub = rel.substr(r.base.size() + 1);
    }
    std::string_view subject = r.anchored ? sub : Basename(sub);
    bool matched = r.literal ? subject == r.pattern : GlobMatchPath(r.pattern, subject);
    if (matched) return r.negate ? -1 : 1;
  }
  return 0;
}

bool IgnoreRules::IsIgnoredEntry(std::string_view rel, bool is_dir) const {
  while (!rel.empty() && rel.back() == '/') {
    rel.remove_suffix(1);
    is_dir = true;
  }
  if (IsAlwaysIgnored(Basename(rel))) return true;
  return Decide(rel, is_dir) > 0;
}

bool IgnoreRules::IsIgnored(std::string_view rel, bool is_dir) const {
  while (rel.size() >= 2 && rel.substr(0, 2) == "./") rel.remove_prefix(2);
  while (!rel.empty() && rel.back() == '/') {
    rel.remove_suffix(1);
    is_dir = true;
  }
  for (size_t slash = rel.find('/'); slash != std::string_view::npos;
       slash = rel.find('/', slash + 1)) {
    if (IsIgnoredEntry(rel.substr(0, slash), true)) return true;
  }
  return IsIgnoredEntry(rel, is_dir);
}

}  // namespace trainyard
