// Input validation shared by the server, the CLI and the agent. Every function throws
// InvalidInput with a message that names the field and states the rule.
#pragma once

#include <string>
#include <string_view>

namespace trainyard {

// The one rule every run id, name and path segment passes (the functions below all call it):
// 1-255 bytes, well-formed UTF-8, not "." or "..", no '/', '\\', NUL or control characters.
// `field` and `whole` (the full value the segment came from) name the input in the message.
void ValidatePathSegment(std::string_view field, std::string_view whole, std::string_view segment);
inline constexpr size_t kMaxPathSegmentBytes = 255;
inline constexpr size_t kMaxRelativePathBytes = 1024;

// Names of experiments, models, environments, compute targets, datasets:
// 1-255 characters, start with a letter or digit, then letters, digits, '-', '_' or '.'.
void ValidateName(std::string_view field, std::string_view value, size_t max_len = 255);

// Compute target names as Azure ML: 2-63 characters (letters, digits, '-'), starting with a letter.
void ValidateComputeName(std::string_view field, std::string_view value);

// A relative path inside a run, snapshot or model: no absolute paths, no empty segments,
// every segment passing ValidatePathSegment, at most 1024 bytes. Returns the normalized path
// (a leading "./" and trailing '/' removed).
std::string ValidateRelativePath(std::string_view field, std::string_view value);

// Tag/property keys: 1-255 bytes of UTF-8, no control characters.
void ValidateKey(std::string_view field, std::string_view value);

// Run ids: 1-255 characters of letters, digits, '-', '_', '.'; not "." or "..".
void ValidateRunId(std::string_view field, std::string_view value);

}  // namespace trainyard
