#include "common/json_limits.h"

#include <utility>
#include <vector>

#include "common/error.h"

namespace trainyard {
using Json = nlohmann::json;

namespace {

// nlohmann's DOM builder (iterative: an explicit stack of open containers) with a depth
// counter: returning false from a SAX event stops the parser at once, before the value
// nested one level too deep is even built.
class BoundedDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;

 public:
  BoundedDomParser(Json& root, size_t max_depth) : Base(root, false), max_depth_(max_depth) {}

  bool start_object(std::size_t len) {
    if (++depth_ > max_depth_) return too_deep_ = true, false;
    return Base::start_object(len);
  }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool start_array(std::size_t len) {
    if (++depth_ > max_depth_) return too_deep_ = true, false;
    return Base::start_array(len);
  }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    error_ = ex.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 3: ..." -> the part a
    // user can act on.
    if (auto p = error_.find("] "); p != std::string::npos) error_.erase(0, p + 2);
    return false;
  }

  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  size_t max_depth_;
  size_t depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};

std::string Bytes(size_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

enum class Failure { kNone, kTooLarge, kTooDeep, kSyntax };

Failure Parse(std::string_view text, const JsonLimits& limits, Json* out, std::string* why) {
  if (text.size() > limits.max_bytes) {
    *why = "is " + std::to_string(text.size()) + " bytes; the limit is " + Bytes(limits.max_bytes);
    return Failure::kTooLarge;
  }
  Json result;
  BoundedDomParser sax(result, limits.max_depth);
  bool ok = Json::sax_parse(text, &sax, Json::input_format_t::json, /*strict=*/true);
  if (sax.too_deep()) {
    *why = "is nested deeper than " + std::to_string(limits.max_depth) +
           " levels of arrays/objects (the limit)";
    return Failure::kTooDeep;
  }
  if (!ok || sax.is_errored()) {
    *why = "is not valid JSON: " + (sax.error().empty() ? std::string("parse error") : sax.error());
    return Failure::kSyntax;
  }
  *out = std::move(result);
  return Failure::kNone;
}

}  // namespace

Json ParseJsonBounded(std::string_view text, std::string_view what, const JsonLimits& limits) {
  Json out;
  std::string why;
  switch (Parse(text, limits, &out, &why)) {
    case Failure::kNone:
      return out;
    case Failure::kTooLarge:
      throw PayloadTooLarge(std::string(what) + " " + why);
    case Failure::kTooDeep:
      throw InvalidInput(std::string(what) + " " + why + "; flatten the data", "JsonTooDeep");
    case Failure::kSyntax:
      break;
  }
  throw InvalidInput(std::string(what) + " " + why, "InvalidJson");
}

std::optional<Json> TryParseJsonBounded(std::string_view text, const JsonLimits& limits,
                                        std::string* why) {
  Json out;
  std::string w;
  if (Parse(text, limits, &out, &w) != Failure::kNone) {
    if (why) *why = std::move(w);
    return std::nullopt;
  }
  return out;
}

Json ParseStoredJson(std::string_view text) {
  Json out;
  std::string why;
  JsonLimits limits;
  limits.max_bytes = text.size();
  if (Parse(text, limits, &out, &why) == Failure::kNone) return out;
  return Json("<stored value not shown: it " + why + ">");
}

size_t JsonDepth(const Json& j, size_t stop_after) {
  size_t deepest = 0;
  std::vector<std::pair<const Json*, size_t>> todo{{&j, 0}};
  while (!todo.empty()) {
    auto [v, d] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    ++d;
    if (d > deepest) deepest = d;
    if (deepest > stop_after) return deepest;
    for (const Json& child : *v) {
      if (child.is_structured()) todo.emplace_back(&child, d);
    }
  }
  return deepest;
}

void CheckMetricValue(std::string_view metric_name, const Json& value) {
  if (!value.is_structured()) {
    if (value.is_string() && value.get_ref<const std::string&>().size() > kMaxMetricValueBytes) {
      throw PayloadTooLarge("metric '" + std::string(metric_name) + "': the value is " +
                                std::to_string(value.get_ref<const std::string&>().size()) +
                                " bytes; the limit is " + Bytes(kMaxMetricValueBytes),
                            "MetricValueTooLarge");
    }
    return;
  }
  if (JsonDepth(value) > kMaxJsonDepth) {
    throw InvalidInput("metric '" + std::string(metric_name) +
                           "': the value is nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels (the limit)",
                       "JsonTooDeep");
  }
  size_t size = value.dump(-1, ' ', false, Json::error_handler_t::replace).size();
  if (size > kMaxMetricValueBytes) {
    throw PayloadTooLarge("metric '" + std::string(metric_name) + "': the value is " +
                              std::to_string(size) + " bytes as JSON; the limit is " +
                              Bytes(kMaxMetricValueBytes) +
                              " (log large tables as artifacts with upload_file)",
                          "MetricValueTooLarge");
  }
}

void CheckYamlBounds(std::string_view text, std::string_view what) {
  if (text.size() > kMaxYamlBytes) {
    throw PayloadTooLarge(std::string(what) + " is " + std::to_string(text.size()) +
                          " bytes; the limit is " + Bytes(kMaxYamlBytes));
  }
  std::vector<size_t> indents;  // open block levels
  size_t flow = 0;              // open [ and { (may span lines)
  size_t line_no = 0;
  long block_scalar_indent = -1;  // inside a | or > block: lines indented deeper than this
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    size_t indent = 0;
    while (indent < line.size() && line[indent] == ' ') ++indent;
    std::string_view rest = line.substr(indent);
    if (rest.empty() || rest[0] == '#' || rest[0] == '\r') continue;
    if (block_scalar_indent >= 0) {
      if (static_cast<long>(indent) > block_scalar_indent) continue;
      block_scalar_indent = -1;
    }
    size_t depth = 0;
    if (flow == 0) {
      while (!indents.empty() && indents.back() >= indent) indents.pop_back();
      indents.push_back(indent);
      // "- - - x": one sequence level per dash.
      while (rest.size() >= 2 && rest[0] == '-' && (rest[1] == ' ' || rest[1] == '\t')) {
        ++depth;
        rest.remove_prefix(2);
        while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
      }
    }
    char quote = 0;
    size_t content_end = rest.size();  // before a comment
    for (size_t i = 0; i < rest.size(); ++i) {
      char c = rest[i];
      if (quote) {
        if (c == '\\' && quote == '"') {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '#' && (i == 0 || rest[i - 1] == ' ')) {
        content_end = i;
        break;
      }
      if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '[' || c == '{') {
        ++flow;
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
      if (indents.size() + depth + flow > kMaxJsonDepth) {
        throw InvalidInput(std::string(what) + ", line " + std::to_string(line_no) +
                               ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                               " levels (the limit)",
                           "YamlTooDeep");
      }
    }
    if (indents.size() + depth + flow > kMaxJsonDepth) {
      throw InvalidInput(std::string(what) + ", line " + std::to_string(line_no) +
                             ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                             " levels (the limit)",
                         "YamlTooDeep");
    }
    // "key: |", "- >-", "key: |+2": a block scalar; its more-indented lines are text.
    std::string_view content = rest.substr(0, content_end);
    while (!content.empty() && (content.back() == ' ' || content.back() == '\r')) {
      content.remove_suffix(1);
    }
    while (!content.empty() && (content.back() == '-' || content.back() == '+' ||
                                (content.back() >= '0' && content.back() <= '9'))) {
      content.remove_suffix(1);
    }
    if (flow == 0 && !content.empty() && (content.back() == '|' || content.back() == '>') &&
        (content.size() == 1 || content[content.size() - 2] == ' ')) {
      block_scalar_indent = static_cast<long>(indent);
    }
  }
}

}  // namespace trainyard
