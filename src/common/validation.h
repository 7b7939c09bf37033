// Input validation shared by the server, the CLI and the agent. Every function throws
// InvalidInput with a message that names the field and states the rule.
#pragma once

#include <string>
#include <string_view>

namespace trainyard {

// Names of experiments, models, environments, compute targets, datasets:
// 1-255 characters, start with a letter or digit, then letters, digits, '-', '_' or '.'.
void ValidateName(std::string_view field, std::string_view value, size_t max_len = 255);

// Compute target names as Azure ML: 2-63 characters (letters, digits, '-'), starting with a letter.
void ValidateComputeName(std::string_view field, std::string_view value);

// A relative path inside a run, snapshot or model: no absolute paths, no '..' segments,
// no empty segments, no NUL or backslash, at most 1024 bytes. Returns the normalized path
// (a leading "./" and trailing '/' removed).
std::string ValidateRelativePath(std::string_view field, std::string_view value);

// Tag/property keys: 1-255 characters, printable, no control characters.
void ValidateKey(std::string_view field, std::string_view value);

// Run ids: 1-255 characters of letters, digits, '-', '_', '.'.
void ValidateRunId(std::string_view field, std::string_view value);

}  // namespace trainyard
