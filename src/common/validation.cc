#include "common/validation.h"

#include <cctype>

#include "common/error.h"
#include "common/utf8.h"

namespace trainyard {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

std::string Quote(std::string_view v) {
  std::string s(v.substr(0, 80));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  // Cut at 80 bytes may split a character: the Error escapes what is not UTF-8.
  return "'" + s + (v.size() > 80 ? "...'" : "'");
}

}  // namespace

void ValidatePathSegment(std::string_view field, std::string_view whole, std::string_view seg) {
  auto bad = [&](const std::string& why) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(whole) + ": " + why);
  };
  if (seg.empty()) bad("must not be empty (or contain empty path segments)");
  if (seg.size() > kMaxPathSegmentBytes) {
    bad("a name or path segment must be at most 255 bytes (this one is " +
        std::to_string(seg.size()) + ")");
  }
  if (seg == "." || seg == "..") bad("must not be '.' or '..' (path traversal)");
  for (char c : seg) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '/') bad("must not contain '/' here");
    if (c == '\\' || u < 0x20 || u == 0x7f) {
      bad("must not contain backslashes or control characters");
    }
  }
  if (!IsValidUtf8(seg)) bad("must be valid UTF-8");
}

void ValidateName(std::string_view field, std::string_view value, size_t max_len) {
  const std::string rule = "must be 1-" + std::to_string(max_len) +
                           " characters, start with a letter or digit, and contain only "
                           "letters, digits, '-', '_' and '.'";
  if (!value.empty() && value.size() <= max_len) ValidatePathSegment(field, value, value);
  if (value.empty() || value.size() > max_len ||
      !std::isalnum(static_cast<unsigned char>(value[0]))) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) + ": " + rule);
  }
  for (char c : value) {
    if (!IsNameChar(c)) {
      throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) + ": " + rule);
    }
  }
}

void ValidateComputeName(std::string_view field, std::string_view value) {
  const std::string rule =
      "must be 2-63 characters, start with a letter, and contain only letters, digits and '-'";
  bool ok =
      value.size() >= 2 && value.size() < 64 && std::isalpha(static_cast<unsigned char>(value[0]));
  for (char c : value) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
  if (!ok) throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) + ": " + rule);
}

std::string ValidateRelativePath(std::string_view field, std::string_view value) {
  std::string_view v = value;
  while (v.size() >= 2 && v.substr(0, 2) == "./") v.remove_prefix(2);
  while (!v.empty() && v.back() == '/') v.remove_suffix(1);
  auto bad = [&](const std::string& why) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) + ": " + why);
  };
  if (v.empty()) bad("must be a non-empty relative path");
  if (v.size() > kMaxRelativePathBytes) bad("must be at most 1024 bytes");
  if (v[0] == '/') bad("must be relative (absolute paths are not allowed)");
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find('/', start);
    if (end == std::string_view::npos) end = v.size();
    std::string_view seg = v.substr(start, end - start);
    if (seg.empty()) bad("must not contain empty path segments ('//')");
    ValidatePathSegment(field, value, seg);
    start = end + 1;
  }
  return std::string(v);
}

void ValidateKey(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > 255) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) +
                       ": must be 1-255 characters");
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) +
                         ": must not contain control characters");
    }
  }
  if (!IsValidUtf8(value)) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) +
                       ": must be valid UTF-8");
  }
}

void ValidateRunId(std::string_view field, std::string_view value) {
  ValidatePathSegment(field, value, value);  // also refuses "." and ".."
  bool ok = true;
  for (char c : value) ok = ok && IsNameChar(c);
  if (!ok) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) +
                       ": must be 1-255 characters of letters, digits, '-', '_' and '.'");
  }
}

}  // namespace trainyard
