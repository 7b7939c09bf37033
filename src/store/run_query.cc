#include "store/run_query.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"
#include "store/metadata_store.h"

namespace trainyard {
namespace {

using Json = nlohmann::json;

struct AttrInfo {
  const char* column;
  bool numeric;
  bool time;
};

// Canonical attribute names -> column and type. Aliases map onto these.
const std::map<std::string, AttrInfo>& Attrs() {
  static const std::map<std::string, AttrInfo> m = {
      {"status", {"r.status", false, false}},
      {"run_type", {"r.kind", false, false}},
      {"run_id", {"r.id", false, false}},
      {"display_name", {"r.display_name", false, false}},
      {"compute_target", {"r.compute_target", false, false}},
      {"number", {"r.number", true, false}},
      {"created", {"r.created", true, true}},
      {"start_time", {"r.started", true, true}},
      {"end_time", {"r.ended", true, true}},
  };
  return m;
}

std::string CanonicalAttr(std::string k) {
  for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, std::string> alias = {
      {"type", "run_type"},
      {"kind", "run_type"},
      {"runtype", "run_type"},
      {"id", "run_id"},
      {"run_name", "display_name"},
      {"name", "display_name"},
      {"created_time", "created"},
      {"creation_time", "created"},
      {"created_utc", "created"},
      {"started", "start_time"},
      {"start_time_utc", "start_time"},
      {"ended", "end_time"},
      {"end_time_utc", "end_time"},
      {"run_number", "number"},
  };
  auto it = alias.find(k);
  return it == alias.end() ? k : it->second;
}

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == '/' || c == ':';
}

// Parses "2026-11-23T10:00:00[.123][Z]" (UTC) into millis.
std::optional<int64_t> ParseIsoMillis(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  char frac[8] = {0};
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
  if (n != 6) {
    n = std::sscanf(s.c_str(), "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    if (n != 3 || s.size() != 10) return std::nullopt;
  }
  auto dot = s.find('.');
  if (n == 6 && dot != std::string::npos) {
    std::sscanf(s.c_str() + dot + 1, "%3[0-9]", frac);
    std::string f = frac;
    while (f.size() < 3) f += '0';
    ms = std::atoi(f.c_str());
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return static_cast<int64_t>(t) * 1000 + ms;
}

class Parser {
 public:
  Parser(std::string_view text, const char* what) : t_(text), what_(what) {}

  [[noreturn]] void Fail(size_t pos, const std::string& expected) const {
    std::string tok;
    size_t i = pos;
    while (i < t_.size() && !std::isspace(static_cast<unsigned char>(t_[i])) && tok.size() < 24)
      tok += t_[i++];
    throw InvalidInput(
        std::string(what_) + ": " + expected + " at position " + std::to_string(pos) +
            (tok.empty() ? std::string(" (end of text)") : " ('" + tok + "')") +
            " in: " + std::string(t_) + ". See docs/REST.md, 'Run queries', for the grammar",
        "InvalidRunQuery");
  }

  void SkipWs() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
  }
  bool AtEnd() {
    SkipWs();
    return i_ >= t_.size();
  }
  size_t Pos() {
    SkipWs();
    return i_;
  }
  // A case-insensitive keyword followed by a non-identifier character.
  bool Keyword(const char* kw) {
    SkipWs();
    size_t n = std::char_traits<char>::length(kw);
    if (i_ + n > t_.size()) return false;
    for (size_t k = 0; k < n; ++k) {
      if (std::tolower(static_cast<unsigned char>(t_[i_ + k])) != kw[k]) return false;
    }
    if (i_ + n < t_.size() && IsKeyChar(t_[i_ + n])) return false;
    i_ += n;
    return true;
  }
  bool Char(char c) {
    SkipWs();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  std::string Quoted(char q) {
    size_t start = i_;
    ++i_;
    std::string out;
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '\\' && i_ + 1 < t_.size()) {
        out += t_[i_ + 1];
        i_ += 2;
        continue;
      }
      if (c == q) {
        if (i_ + 1 < t_.size() && t_[i_ + 1] == q) {  // doubled quote
          out += q;
          i_ += 2;
          continue;
        }
        ++i_;
        return out;
      }
      out += c;
      ++i_;
    }
    Fail(start, "unterminated quoted text");
  }

  // ident := [prefix '.'] key
  std::pair<RunField, std::string> Ident() {
    size_t start = Pos();
    if (i_ >= t_.size())
      Fail(start, "expected a name (metrics.X, params.X, tags.X or an attribute)");
    std::string word;
    if (t_[i_] == '"' || t_[i_] == '`') {
      word = Quoted(t_[i_]);
      return Attribute(word, start);
    }
    size_t j = i_;
    while (j < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[j])) || t_[j] == '_')) ++j;
    word = std::string(t_.substr(i_, j - i_));
    if (word.empty()) Fail(start, "expected a name (metrics.X, params.X, tags.X or an attribute)");
    std::string lower = word;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::optional<RunField> field;
    if (lower == "metrics" || lower == "metric") field = RunField::kMetric;
    if (lower == "params" || lower == "param" || lower == "parameters" || lower == "parameter" ||
        lower == "properties" || lower == "property")
      field = RunField::kParam;
    if (lower == "tags" || lower == "tag") field = RunField::kTag;
    if (lower == "attributes" || lower == "attribute" || lower == "attr" || lower == "run")
      field = RunField::kAttribute;
    if (field && j < t_.size() && t_[j] == '.') {
      i_ = j + 1;
      size_t key_pos = i_;
      std::string key;
      if (i_ < t_.size() && (t_[i_] == '"' || t_[i_] == '`')) {
        key = Quoted(t_[i_]);
      } else {
        while (i_ < t_.size() && IsKeyChar(t_[i_])) key += t_[i_++];
      }
      if (key.empty()) Fail(key_pos, "expected a name after '" + word + ".'");
      if (*field == RunField::kAttribute) return Attribute(key, key_pos);
      return {*field, key};
    }
    // No prefix: an attribute (its name may not contain dots).
    i_ = j;
    return Attribute(word, start);
  }

  std::pair<RunField, std::string> Attribute(const std::string& name, size_t pos) {
    std::string canon = CanonicalAttr(name);
    if (!Attrs().count(canon)) {
      std::string names;
      for (auto& [k, v] : Attrs()) names += (names.empty() ? "" : ", ") + k;
      Fail(pos, "unknown attribute '" + name + "' (attributes: " + names +
                    "; metrics, params and tags need the prefix metrics., params., tags.)");
    }
    return {RunField::kAttribute, canon};
  }

  SqlValue Value() {
    size_t start = Pos();
    if (i_ >= t_.size()) Fail(start, "expected a value ('text' or a number)");
    char c = t_[i_];
    if (c == '\'' || c == '"') return Quoted(c);
    size_t j = i_;
    while (j < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[j])) || t_[j] == '.' ||
                             t_[j] == '-' || t_[j] == '+'))
      ++j;
    std::string num(t_.substr(i_, j - i_));
    if (num.empty()) Fail(start, "expected a value ('text' or a number)");
    int64_t iv;
    auto r = std::from_chars(num.data(), num.data() + num.size(), iv);
    if (r.ec == std::errc() && r.ptr == num.data() + num.size()) {
      i_ = j;
      return iv;
    }
    char* end = nullptr;
    double d = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size() || !std::isfinite(d)) {
      Fail(start, "expected a value ('text' in quotes, or a number)");
    }
    i_ = j;
    return d;
  }

  std::string Op() {
    size_t start = Pos();
    static const char* const kOps[] = {"<=", ">=", "!=", "<>", "==", "=", "<", ">"};
    for (const char* op : kOps) {
      size_t n = std::char_traits<char>::length(op);
      if (t_.substr(i_, n) == op) {
        i_ += n;
        std::string o = op;
        if (o == "<>") o = "!=";
        if (o == "==") o = "=";
        return o;
      }
    }
    if (Keyword("like")) return "LIKE";
    if (Keyword("ilike")) return "ILIKE";
    if (Keyword("in")) return "IN";
    size_t save = i_;
    if (Keyword("not")) {
      if (Keyword("in")) return "NOT IN";
      i_ = save;
    }
    Fail(start, "expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)");
  }

  std::string_view t_;
  const char* what_;
  size_t i_ = 0;
};

bool IsText(const SqlValue& v) { return std::holds_alternative<std::string>(v); }

void CheckTerm(Parser& p, FilterTerm& t, size_t value_pos) {
  bool in = t.op == "IN" || t.op == "NOT IN";
  bool like = t.op == "LIKE" || t.op == "ILIKE";
  bool cmp = t.op == "<" || t.op == "<=" || t.op == ">" || t.op == ">=";
  if (t.field == RunField::kMetric) {
    if (like || in) p.Fail(t.pos, "metrics compare with =, !=, <, <=, >, >= only");
    if (IsText(t.values[0])) p.Fail(value_pos, "a metric compares with a number, not text");
    return;
  }
  if (t.field == RunField::kAttribute) {
    const AttrInfo& a = Attrs().at(t.key);
    if (a.numeric) {
      if (like || in) p.Fail(t.pos, "attribute '" + t.key + "' compares with =, !=, <, <=, >, >=");
      for (auto& v : t.values) {
        if (!IsText(v)) continue;
        auto ms = a.time ? ParseIsoMillis(std::get<std::string>(v)) : std::nullopt;
        if (!ms) {
          p.Fail(value_pos, std::string("attribute '") + t.key + "' compares with a number" +
                                (a.time ? " (milliseconds since the epoch) or an ISO 8601 time "
                                          "('2026-11-23T10:00:00Z')"
                                        : ""));
        }
        v = *ms;
      }
      return;
    }
    if (cmp) p.Fail(t.pos, "attribute '" + t.key + "' compares with =, !=, LIKE, ILIKE, IN");
  } else if (cmp) {
    p.Fail(t.pos, "params and tags are text: compare with =, !=, LIKE, ILIKE, IN, NOT IN");
  }
  for (auto& v : t.values) {
    if (!IsText(v)) p.Fail(value_pos, "'" + t.key + "' is text: put the value in quotes");
  }
}

std::string B64Url(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k[(buf >> bits) & 63];
    }
  }
  if (bits > 0) out += k[(buf << (6 - bits)) & 63];
  return out;
}

std::optional<std::string> UnB64Url(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

Json ToJson(const SqlValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return nullptr;
}

SqlValue FromJson(const Json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  return std::monostate{};
}

}  // namespace

const std::vector<std::string>& RunAttributeNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& [k, a] : Attrs()) v.push_back(k);
    return v;
  }();
  return names;
}

std::vector<FilterTerm> ParseRunFilter(std::string_view text) {
  Parser p(text, "filter");
  std::vector<FilterTerm> out;
  if (p.AtEnd()) return out;
  for (;;) {
    FilterTerm t;
    t.pos = p.Pos();
    auto [field, key] = p.Ident();
    t.field = field;
    t.key = key;
    t.op = p.Op();
    size_t value_pos = p.Pos();
    if (t.op == "IN" || t.op == "NOT IN") {
      if (!p.Char('(')) p.Fail(p.Pos(), "expected '(' after " + t.op);
      do {
        t.values.push_back(p.Value());
      } while (p.Char(','));
      if (!p.Char(')')) p.Fail(p.Pos(), "expected ',' or ')' in the value list");
    } else {
      t.values.push_back(p.Value());
    }
    CheckTerm(p, t, value_pos);
    out.push_back(std::move(t));
    if (p.AtEnd()) break;
    size_t at = p.Pos();
    if (!p.Keyword("and")) {
      if (p.Keyword("or")) p.Fail(at, "OR is not supported (only AND)");
      p.Fail(at, "expected AND or the end of the filter");
    }
  }
  return out;
}

std::vector<OrderTerm> ParseRunOrderBy(std::string_view text) {
  Parser p(text, "order_by");
  std::vector<OrderTerm> out;
  if (p.AtEnd()) return out;
  for (;;) {
    OrderTerm o;
    auto [field, key] = p.Ident();
    o.field = field;
    o.key = key;
    if (p.Keyword("desc")) {
      o.desc = true;
    } else {
      p.Keyword("asc");
    }
    out.push_back(std::move(o));
    if (p.AtEnd()) break;
    if (!p.Char(',')) p.Fail(p.Pos(), "expected ASC, DESC, ',' or the end of order_by");
  }
  return out;
}

std::string EncodeRunCursor(const std::string& signature, const std::vector<SqlValue>& keys) {
  Json arr = Json::array();
  for (auto& k : keys) arr.push_back(ToJson(k));
  return B64Url(Json{{"q", signature}, {"k", arr}}.dump());
}

RunPageSql BuildRunPageSql(const RunFilter& scope, const std::vector<FilterTerm>& filter,
                           const std::vector<OrderTerm>& order, const std::string& cursor,
                           int limit, const std::string& select_columns,
                           const std::string& filter_text, const std::string& order_text) {
  RunPageSql out;
  std::string joins;
  std::vector<SqlValue> join_binds;
  std::vector<std::string> conds;
  std::vector<SqlValue> cond_binds;
  int alias = 0;
  std::map<std::string, std::string> inner_metric;  // metric name -> alias (inner-joined)

  auto kv_exists = [&](const char* table, const std::string& k,
                       const std::optional<std::string>& v) {
    std::string c =
        std::string("EXISTS (SELECT 1 FROM ") + table + " kv WHERE kv.run_id = r.id AND kv.key = ?";
    cond_binds.push_back(k);
    if (v) {
      c += " AND kv.value = ?";
      cond_binds.push_back(*v);
    }
    conds.push_back(c + ")");
  };

  // ----- scope -----
  bool children = scope.parent_id.has_value();
  if (children) {
    if (scope.recursive) {
      conds.push_back(
          "r.id IN (WITH RECURSIVE d(id) AS (SELECT id FROM runs WHERE parent_id = ? UNION ALL "
          "SELECT c.id FROM runs c JOIN d ON c.parent_id = d.id) SELECT id FROM d)");
    } else {
      conds.push_back("r.parent_id = ?");
    }
    cond_binds.push_back(*scope.parent_id);
  } else {
    if (!scope.experiment.empty()) {
      conds.push_back("r.experiment = ?");
      cond_binds.push_back(scope.experiment);
    }
    if (!scope.include_children) conds.push_back("r.parent_id IS NULL");
  }
  if (!scope.statuses.empty()) {
    std::string c = "r.status IN (";
    for (size_t i = 0; i < scope.statuses.size(); ++i) {
      c += i ? ",?" : "?";
      cond_binds.push_back(scope.statuses[i]);
    }
    conds.push_back(c + ")");
  }
  if (!scope.kind.empty()) {
    conds.push_back("r.kind = ?");
    cond_binds.push_back(scope.kind);
  }
  for (auto& [k, v] : scope.tags) kv_exists("run_tags", k, v);
  for (auto& [k, v] : scope.properties) kv_exists("run_properties", k, v);

  // ----- filter terms -----
  for (const FilterTerm& t : filter) {
    std::string expr;
    if (t.field == RunField::kAttribute) {
      expr = Attrs().at(t.key).column;
    } else if (t.field == RunField::kMetric) {
      auto it = inner_metric.find(t.key);
      if (it == inner_metric.end()) {
        std::string a = "m" + std::to_string(alias++);
        joins +=
            " JOIN metrics_latest " + a + " ON " + a + ".run_key = r.key AND " + a + ".name = ?";
        join_binds.push_back(t.key);
        it = inner_metric.emplace(t.key, a).first;
      }
      expr = it->second + ".num";
    } else {
      std::string a = "k" + std::to_string(alias++);
      joins += std::string(" JOIN ") +
               (t.field == RunField::kTag ? "run_tags " : "run_properties ") + a + " ON " + a +
               ".run_id = r.id AND " + a + ".key = ?";
      join_binds.push_back(t.key);
      expr = a + ".value";
    }
    if (t.op == "IN" || t.op == "NOT IN") {
      std::string c = expr + " " + t.op + " (";
      for (size_t i = 0; i < t.values.size(); ++i) {
        c += i ? ",?" : "?";
        cond_binds.push_back(t.values[i]);
      }
      conds.push_back(c + ")");
    } else if (t.op == "ILIKE") {
      conds.push_back("LOWER(" + expr + ") LIKE LOWER(?)");
      cond_binds.push_back(t.values[0]);
    } else if (t.op == "LIKE") {
      // Case-sensitive, as in MLflow (SQLite's LIKE is not): the pattern as a GLOB.
      conds.push_back(expr + " GLOB ?");
      const std::string& pat = std::get<std::string>(t.values[0]);
      std::string glob;
      for (char c : pat) {
        if (c == '%') {
          glob += '*';
        } else if (c == '_') {
          glob += '?';
        } else if (c == '*' || c == '?' || c == '[') {
          glob += std::string("[") + c + "]";
        } else {
          glob += c;
        }
      }
      cond_binds.push_back(glob);
    } else {
      conds.push_back(expr + " " + t.op + " ?");
      cond_binds.push_back(t.values[0]);
    }
  }

  // ----- order -----
  struct Key {
    std::string expr;
    bool desc;
    bool nullable;
  };
  std::vector<Key> keys;
  for (const OrderTerm& o : order) {
    if (o.field == RunField::kAttribute) {
      keys.push_back({Attrs().at(o.key).column, o.desc, false});
      continue;
    }
    if (o.field == RunField::kMetric) {
      auto it = inner_metric.find(o.key);
      if (it != inner_metric.end()) {
        keys.push_back({it->second + ".num", o.desc, false});
        continue;
      }
      std::string a = "m" + std::to_string(alias++);
      joins +=
          " LEFT JOIN metrics_latest " + a + " ON " + a + ".run_key = r.key AND " + a + ".name = ?";
      join_binds.push_back(o.key);
      keys.push_back({"(" + a + ".num IS NULL)", false, false});  // runs without it last
      keys.push_back({a + ".num", o.desc, true});
      continue;
    }
    std::string a = "k" + std::to_string(alias++);
    joins += std::string(" LEFT JOIN ") +
             (o.field == RunField::kTag ? "run_tags " : "run_properties ") + a + " ON " + a +
             ".run_id = r.id AND " + a + ".key = ?";
    join_binds.push_back(o.key);
    keys.push_back({"(" + a + ".value IS NULL)", false, false});
    keys.push_back({a + ".value", o.desc, true});
  }
  bool newest_first = !children;
  keys.push_back({"r.created", newest_first, false});
  keys.push_back({"r.key", newest_first, false});

  out.signature = Sha256Hex(filter_text + "\x1f" + order_text + "\x1f" +
                            (children ? "c:" + *scope.parent_id : "e:" + scope.experiment))
                      .substr(0, 16);

  std::string where;
  for (size_t i = 0; i < conds.size(); ++i) where += (i ? " AND " : " WHERE ") + conds[i];
  std::string from = " FROM runs r" + joins;

  out.count_sql = "SELECT COUNT(*)" + from + where;
  out.count_binds = join_binds;
  out.count_binds.insert(out.count_binds.end(), cond_binds.begin(), cond_binds.end());

  // ----- keyset -----
  std::vector<SqlValue> key_binds;
  if (!cursor.empty()) {
    auto raw = UnB64Url(cursor);
    Json j = raw ? Json::parse(*raw, nullptr, false) : Json();
    if (!j.is_object() || !j.contains("q") || !j.contains("k") || !j["k"].is_array() ||
        j["k"].size() != keys.size()) {
      throw InvalidInput("cursor is malformed; pass the next_cursor of a previous page as is",
                         "InvalidCursor");
    }
    if (j["q"] != out.signature) {
      throw InvalidInput(
          "cursor belongs to another query (filter, order_by and scope must stay the same "
          "while paging)",
          "InvalidCursor");
    }
    std::vector<SqlValue> v;
    for (auto& e : j["k"]) v.push_back(FromJson(e));
    std::string ks = "(";
    // Leading bound on the first key lets SQLite seek in an index.
    if (!keys[0].nullable && !std::holds_alternative<std::monostate>(v[0])) {
      ks = "(" + keys[0].expr + (keys[0].desc ? " <= ?" : " >= ?") + ") AND (";
      key_binds.push_back(v[0]);
    }
    bool first = true;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (std::holds_alternative<std::monostate>(v[i])) continue;  // nothing sorts after NULL
      std::string branch;
      for (size_t k = 0; k < i; ++k) {
        branch += keys[k].expr + " IS ? AND ";
        key_binds.push_back(v[k]);
      }
      branch += keys[i].expr + (keys[i].desc ? " < ?" : " > ?");
      key_binds.push_back(v[i]);
      ks += (first ? "(" : " OR (") + branch + ")";
      first = false;
    }
    ks += ")";
    if (first) ks = "(0)";
    where += (where.empty() ? " WHERE " : " AND ") + ks;
  }

  std::string sel = "SELECT " + select_columns;
  for (auto& k : keys) sel += ", " + k.expr;
  std::string ord = " ORDER BY ";
  for (size_t i = 0; i < keys.size(); ++i) {
    ord += (i ? ", " : "") + keys[i].expr + (keys[i].desc ? " DESC" : " ASC");
  }
  out.sql = sel + from + where + ord;
  if (limit > 0) out.sql += " LIMIT " + std::to_string(limit);
  out.binds = join_binds;
  out.binds.insert(out.binds.end(), cond_binds.begin(), cond_binds.end());
  out.binds.insert(out.binds.end(), key_binds.begin(), key_binds.end());
  out.sort_columns = keys.size();
  return out;
}

}  // namespace trainyard
