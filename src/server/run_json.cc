#include "server/run_json.h"

#include <algorithm>
#include <charconv>

#include "common/util.h"
#include "net/http_types.h"

namespace trainyard {

using Json = nlohmann::json;

void AppendJsonString(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out.append(s);
  out += '"';
}

void AppendJsonDump(std::string& out, const Json& v) {
  if (v.is_string()) return AppendJsonString(out, v.get_ref<const std::string&>());
  if (v.is_null()) {
    out += "null";
    return;
  }
  out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

void Digits(char* p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

void AppendJsonTime(std::string& out, int64_t ms) {
  if (ms <= 0) {
    out += "null";
    return;
  }
  // FormatIsoTime's text without gmtime/strftime (a page of runs formats hundreds): the civil
  // date from days since the epoch (H. Hinnant's algorithm), years 1970-9999; others through
  // FormatIsoTime.
  const int64_t secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
  const int64_t z = days + 719468, era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 1970 || y > 9999) {
    out += '"';
    out += FormatIsoTime(ms);
    out += '"';
    return;
  }
  char buf[26] = "\"0000-00-00T00:00:00.000Z";
  Digits(buf + 1, static_cast<unsigned>(y), 4);
  Digits(buf + 6, m, 2);
  Digits(buf + 9, d, 2);
  Digits(buf + 12, static_cast<unsigned>(rem / 3600), 2);
  Digits(buf + 15, static_cast<unsigned>(rem / 60 % 60), 2);
  Digits(buf + 18, static_cast<unsigned>(rem % 60), 2);
  Digits(buf + 21, static_cast<unsigned>(ms % 1000), 3);
  out.append(buf, 25);
  out += '"';
}

void AppendJsonStringMap(std::string& out, const Json& obj) {
  out += '{';
  bool first = true;
  if (obj.is_object()) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(out, it.key());
      out += ':';
      AppendJsonDump(out, *it);
    }
  }
  out += '}';
}

namespace {

void Key(std::string& out, const char* k) {
  out += '"';
  out += k;
  out += "\":";
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendOptString(std::string& out, const std::string& s) {
  if (s.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, s);
  }
}

// definition[key], or `def` when absent (as Json::value does).
void AppendMember(std::string& out, const Json& obj, const char* key, const char* def) {
  if (obj.is_object()) {
    auto it = obj.find(key);
    if (it != obj.end()) return AppendJsonDump(out, *it);
  }
  out += def;
}

}  // namespace

void AppendRunJson(std::string& out, const RunRecord& r, const RunJsonParts& parts) {
  static const std::string kNoUrl;
  const std::string& url = parts.server_url ? *parts.server_url : kNoUrl;
  // Keys in nlohmann's (sorted) order.
  out += '{';
  Key(out, "arguments");
  AppendMember(out, r.definition, "arguments", "[]");
  out += ',';
  Key(out, "command");
  AppendMember(out, r.definition, "command", "null");
  out += ',';
  Key(out, "compute_target");
  AppendJsonString(out, r.compute_target);
  out += ',';
  Key(out, "created_utc");
  AppendJsonTime(out, r.created);
  out += ',';
  Key(out, "definition");
  AppendJsonDump(out, r.definition);
  out += ',';
  Key(out, "display_name");
  AppendJsonString(out, r.display_name);
  out += ',';
  Key(out, "end_time_utc");
  AppendJsonTime(out, r.ended);
  out += ',';
  Key(out, "environment");
  AppendMember(out, r.definition, "environment", "null");
  out += ',';
  Key(out, "error");
  AppendJsonDump(out, r.error);
  out += ',';
  Key(out, "exit_code");
  if (r.exit_code) {
    AppendInt(out, *r.exit_code);
  } else {
    out += "null";
  }
  out += ',';
  Key(out, "experiment");
  AppendJsonString(out, r.experiment);
  out += ',';
  Key(out, "git");
  AppendJsonDump(out, r.git);
  out += ',';
  Key(out, "id");
  AppendJsonString(out, r.id);
  out += ',';
  Key(out, "input_datasets");
  out += '[';
  if (parts.inputs) {
    bool first = true;
    for (const RunInputRecord& in : *parts.inputs) {
      if (!first) out += ',';
      first = false;
      out += "{\"id\":";
      AppendJsonString(out, in.asset_id);
      out += ",\"input_name\":";
      AppendJsonString(out, in.input_name);
      out += ",\"mode\":";
      AppendJsonString(out, in.mode);
      out += ",\"name\":";
      AppendOptString(out, in.name);
      out += ",\"version\":";
      if (in.version) {
        AppendInt(out, in.version);
      } else {
        out += "null";
      }
      out += '}';
    }
  }
  out += "],";
  Key(out, "kind");
  AppendJsonString(out, r.kind);
  out += ',';
  Key(out, "log_files");
  out += '{';
  if (parts.logs && !parts.logs->empty()) {
    std::vector<std::string> rels;
    for (auto& [rel, size] : *parts.logs) rels.push_back(rel);
    std::sort(rels.begin(), rels.end());
    rels.erase(std::unique(rels.begin(), rels.end()), rels.end());
    bool first = true;
    for (auto& rel : rels) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(out, rel);
      out += ':';
      AppendJsonString(out, url + "/api/v1/runs/" + r.id + "/logs/" + UrlEncode(rel, true));
    }
  }
  out += "},";
  if (parts.metrics) {
    Key(out, "metrics");
    AppendJsonDump(out, parts.metrics->is_null() ? Json::object() : *parts.metrics);
    out += ',';
  }
  Key(out, "number");
  AppendInt(out, r.number);
  out += ',';
  Key(out, "parent_id");
  AppendOptString(out, r.parent_id);
  out += ',';
  Key(out, "portal_url");
  AppendJsonString(out, url + "/runs/" + r.id);
  out += ',';
  Key(out, "properties");
  if (r.properties.is_object()) {
    AppendJsonStringMap(out, r.properties);
  } else {
    AppendJsonDump(out, r.properties);
  }
  out += ',';
  Key(out, "script");
  AppendMember(out, r.definition, "script", "null");
  out += ',';
  Key(out, "snapshot_id");
  AppendOptString(out, r.snapshot_id);
  out += ',';
  Key(out, "start_time_utc");
  AppendJsonTime(out, r.started);
  out += ',';
  Key(out, "status");
  AppendJsonString(out, r.status);
  out += ',';
  Key(out, "tags");
  if (r.tags.is_object()) {
    AppendJsonStringMap(out, r.tags);
  } else {
    AppendJsonDump(out, r.tags);
  }
  out += '}';
}

}  // namespace trainyard
