#include "common/validation.h"

#include <cctype>

#include "common/error.h"

namespace trainyard {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

std::string Quote(std::string_view v) {
  std::string s(v.substr(0, 80));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return "'" + s + (v.size() > 80 ? "...'" : "'");
}

}  // namespace

void ValidateName(std::string_view field, std::string_view value, size_t max_len) {
  const std::string rule = "must be 1-" + std::to_string(max_len) +
                           " characters, start with a letter or digit, and contain only "
                           "letters, digits, '-', '_' and '.'";
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
  if (v.size() > 1024) bad("must be at most 1024 bytes");
  if (v[0] == '/') bad("must be relative (absolute paths are not allowed)");
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find('/', start);
    if (end == std::string_view::npos) end = v.size();
    std::string_view seg = v.substr(start, end - start);
    if (seg.empty()) bad("must not contain empty path segments ('//')");
    if (seg == "..") bad("must not contain '..' (path traversal)");
    if (seg == ".") bad("must not contain '.' segments");
    start = end + 1;
  }
  for (char c : v) {
    if (c == '\0' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      bad("must not contain backslashes or control characters");
    }
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
}

void ValidateRunId(std::string_view field, std::string_view value) {
  bool ok = !value.empty() && value.size() <= 255;
  for (char c : value) ok = ok && IsNameChar(c);
  if (!ok) {
    throw InvalidInput("invalid " + std::string(field) + " " + Quote(value) +
                       ": must be 1-255 characters of letters, digits, '-', '_' and '.'");
  }
}

}  // namespace trainyard
