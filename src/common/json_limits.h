// Bounded parsing of client JSON and YAML: the one routine every request body, spool line,
// stored document and spec file goes through, so that no input can nest deeper than the
// server's code can walk (nlohmann's dump/copy/compare recurse: ~57k levels overflow the
// stack) or grow bigger than a route expects. Violations throw before anything is stored:
//   InvalidInput   400  code InvalidJson  (syntax; the message has line and column)
//   InvalidInput   400  code JsonTooDeep  (nested deeper than max_depth)
//   PayloadTooLarge 413 code PayloadTooLarge (more than max_bytes)
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace trainyard {

// Containers ([ or {) inside each other; a scalar has depth 0, [] and {} depth 1.
inline constexpr size_t kMaxJsonDepth = 128;
// An ordinary JSON request body (the HTTP layer refuses larger bodies before reading them).
inline constexpr size_t kMaxJsonBodyBytes = 64ull << 20;
// One stored metric value (a list, row or table logged in one call), as JSON text.
inline constexpr size_t kMaxMetricValueBytes = 1ull << 20;
// A conda environment YAML file.
inline constexpr size_t kMaxYamlBytes = 1ull << 20;

struct JsonLimits {
  size_t max_depth = kMaxJsonDepth;
  size_t max_bytes = kMaxJsonBodyBytes;
};

// Parses `text` under `limits`; `what` names the input in messages ("request body",
// "spool line 7"). Throws as described above.
nlohmann::json ParseJsonBounded(std::string_view text, std::string_view what,
                                const JsonLimits& limits = {});

// The same without exceptions: nullopt and *why set (when given) on any violation.
std::optional<nlohmann::json> TryParseJsonBounded(std::string_view text,
                                                  const JsonLimits& limits = {},
                                                  std::string* why = nullptr);

// JSON text written by this server earlier (a database column). Values stored before the
// limits existed may be nested arbitrarily deep: those come back as a string saying so
// instead of crashing the reader. Malformed text comes back the same way.
nlohmann::json ParseStoredJson(std::string_view text);

// Nesting depth of a parsed value, counted without recursion; stops at `stop_after` + 1.
size_t JsonDepth(const nlohmann::json& j, size_t stop_after = kMaxJsonDepth);

// A metric value as the store keeps it: nested at most kMaxJsonDepth levels and at most
// kMaxMetricValueBytes as JSON text. Throws InvalidInput (JsonTooDeep) or PayloadTooLarge
// (MetricValueTooLarge) naming the metric.
void CheckMetricValue(std::string_view metric_name, const nlohmann::json& value);

// YAML text (conda environment files): at most kMaxYamlBytes and nested at most
// kMaxJsonDepth levels (block indentation, '- ' sequence entries and flow [ { together).
// Throws PayloadTooLarge / InvalidInput (YamlTooDeep) naming `what` and the line.
void CheckYamlBounds(std::string_view text, std::string_view what);

}  // namespace trainyard
